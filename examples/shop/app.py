"""A small shop API with one route of each kind LoopScope tells apart.

    loopscope audit examples.shop.app:app

- GET /products        async def + await: non-blocking
- GET /invoice         def: runs in the thread pool (40 threads by default)
- GET /stock           async def calling a helper that blocks (time.sleep): freezes the loop
- GET /recommendations async def doing CPU work: also holds the loop, and a core
- POST /orders         async def with a JSON body (the audit skips it: not a GET)
"""

from __future__ import annotations

import asyncio
import time

from fastapi import FastAPI
from pydantic import BaseModel

from .inventory import count_in_warehouse
from .ranking import rank_products

app = FastAPI(title="Example shop")


class Order(BaseModel):
    product: str
    quantity: int = 1


@app.get("/products")
async def list_products(limit: int = 10) -> dict[str, object]:
    await asyncio.sleep(0.1)  # a database call with an async driver
    return {"products": [f"product-{i}" for i in range(limit)]}


@app.get("/invoice")
def make_invoice(order_id: int = 1) -> dict[str, object]:
    time.sleep(0.1)  # a blocking driver, in a `def` route: FastAPI runs it in a thread
    return {"order": order_id, "total": 42}


@app.get("/stock")
async def stock(product: str = "product-1") -> dict[str, object]:
    return {"product": product, "count": count_in_warehouse(product)}


@app.get("/recommendations")
async def recommendations(user: int = 1) -> dict[str, object]:
    return {"user": user, "products": rank_products(user)}


@app.post("/orders")
async def place_order(order: Order) -> dict[str, object]:
    await asyncio.sleep(0.05)
    return {"accepted": order.product, "quantity": order.quantity}
