"""Small apps for the audit's verdicts (tests/user_app/test_audit_verdicts.py).

Each is written the way the mistake is made in real code: the blocking call sits in a helper,
not in the route itself.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

blocking = FastAPI()


def fetch_report(seconds: float) -> dict[str, float]:
    time.sleep(seconds)  # the blocking call the audit must name
    return {"slept": seconds}


@blocking.get("/sleep/short")
async def sleep_short() -> dict[str, float]:
    return fetch_report(0.05)


@blocking.get("/sleep/medium")
async def sleep_medium() -> dict[str, float]:
    return fetch_report(0.3)


@blocking.get("/sleep/second")
async def sleep_second() -> dict[str, float]:
    return fetch_report(1.0)


@blocking.get("/sleep/long")
async def sleep_long() -> dict[str, float]:
    return fetch_report(5.0)


trivial = FastAPI()


@trivial.get("/hello")
def hello() -> dict[str, str]:
    return {"message": "hello"}


noisy = FastAPI()


@noisy.get("/chatty")
async def chatty() -> dict[str, bool]:
    print("handling /chatty")
    print("to stderr as well", file=sys.stderr)
    return {"ok": True}


raising = FastAPI()


@raising.get("/broken")
async def broken() -> dict[str, str]:
    settings: dict[str, str] = {}
    return {"value": settings["missing key"]}


def _chunks_of_a_missing_file() -> Iterator[bytes]:
    with open("no-such-video.mp4", "rb") as file:  # raises once the answer has started
        yield from file


@raising.get("/stream")
def stream() -> StreamingResponse:
    return StreamingResponse(_chunks_of_a_missing_file(), media_type="video/mp4")


@raising.get("/fine")
async def fine() -> dict[str, str]:
    return {"value": "fine"}


computing = FastAPI()


@computing.get("/crunch")
def crunch() -> dict[str, int]:
    return {"total": sum(i * i for i in range(300_000))}


slow = FastAPI()


@slow.get("/report")
async def slow_report() -> dict[str, bool]:
    await asyncio.sleep(1.2)  # a slow but correct route: measured, never "fails"
    return {"ready": True}
