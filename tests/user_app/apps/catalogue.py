"""A small catalogue API whose routes take the parameters real apps take.

Written for LoopScope's tests: path parameters of several types, required queries, a
mounted sub-app, a websocket, static files and routes that need a body.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Query, WebSocket
from fastapi.staticfiles import StaticFiles
from pydantic import AfterValidator, BaseModel

app = FastAPI(title="Catalogue")

# The item ids the app was asked for, in order: what went on the wire.
SEEN: list[str] = []


class Colour(StrEnum):
    red = "red"
    green = "green"


class Note(BaseModel):
    text: str


@app.get("/items/{item_id}")
async def read_item(item_id: str) -> dict[str, str]:
    SEEN.append(item_id)
    await asyncio.sleep(0.01)
    return {"item_id": item_id}


@app.get("/colours/{colour}")
async def read_colour(colour: Colour) -> dict[str, str]:
    return {"colour": colour.value}


@app.get("/files/{file_path:path}")
async def read_file(file_path: str) -> dict[str, str]:
    return {"file_path": file_path}


@app.get("/search")
async def search(
    q: str,
    # Optional and without a default: left out, as a person leaves an optional field empty.
    sort: Annotated[str | None, Query(pattern="^fixedquery$")] = None,
) -> dict[str, str]:
    return {"q": q}


@app.get("/page")
def page(size: Annotated[int, Query(ge=10)]) -> dict[str, int]:
    time.sleep(0.01)
    return {"size": size}


@app.get("/orders/{order_id}")
async def read_order(order_id: uuid.UUID) -> dict[str, str]:
    return {"order_id": str(order_id)}


@app.get("/codes")
async def codes(code: Annotated[str, Query(pattern=r"^(EU|US)-\d{4}$")]) -> dict[str, str]:
    return {"code": code}


def _digits(value: str) -> str:
    if not value.isdigit():
        raise ValueError("a lot number is digits")
    return value


@app.get("/lots/{lot}")
async def read_lot(lot: Annotated[str, AfterValidator(_digits)]) -> dict[str, str]:
    # The schema says "string"; only the app's own validator knows it wants digits.
    return {"lot": lot}


@app.get("/private")
async def private(x_token: Annotated[str, Header()]) -> dict[str, str]:
    if x_token != "secret":
        raise HTTPException(status_code=401, detail="bad token")
    return {"ok": "yes"}


@app.get("/report")
async def report(note: Note) -> dict[str, str]:
    return {"note": note.text}


@app.post("/notes")
async def add_note(note: Note) -> dict[str, str]:
    return {"note": note.text}


@app.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(await websocket.receive_text())
    await websocket.close()


admin = FastAPI()


@admin.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@admin.get("/users/{user_id}")
async def read_user(user_id: int) -> dict[str, int]:
    return {"user_id": user_id}


app.mount("/admin", admin)
app.mount("/static", StaticFiles(directory=Path(__file__).parent), name="static")
