"""What the tests of PATCH /api/v1/orders/{id} share: orders to replace, and the books a
refused replace must leave exactly as they were."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.domain import events as ev
from tests.helpers import set_quote
from worker.handlers.broker_orders import place_orders, sync_order
from worker.handlers.fills import record_execution
from worker.handlers.submit import submit_orders
from worker.runtime import Runtime

ORDERS = "/api/v1/orders"
RESTING_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "10",
               "price": "100.00", "time_in_force": "GTC"}  # rests: the ask is 200.02
GROWW_BUY = {"symbol": "INFY", "side": "BUY", "order_type": "LIMIT", "quantity": "10",
             "price": "1860.00", "broker": "groww"}


async def place(client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, str]) -> str:
    response = await client.post(ORDERS, json=body, headers=auth)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["id"]
    return order_id


async def resting(client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
                   auth: dict[str, str], **changes: str) -> str:
    """A paper order accepted by the paper exchange and resting on its book."""
    await set_quote(engine, "AAPL", "199.98", "200.02")
    order_id = await place(client, auth, {**RESTING_BUY, **changes})
    assert await submit_orders(runtime, [order_id]) == 1
    return order_id


async def working_at_groww(client: httpx.AsyncClient, auth: dict[str, str],
                            runtime: Runtime) -> str:
    """An order placed at Groww and acknowledged there (ACCEPTED)."""
    order_id = await place(client, auth, GROWW_BUY)
    assert await place_orders(runtime, [order_id]) == 1
    await sync_order(runtime, uuid.UUID(order_id))
    status = (await client.get(f"{ORDERS}/{order_id}", headers=auth)).json()["status"]
    assert status == "ACCEPTED"
    return order_id


async def patch(client: httpx.AsyncClient, auth: dict[str, str], order_id: str,
                 body: object) -> httpx.Response:
    return await client.patch(f"{ORDERS}/{order_id}", json=body, headers=auth)


async def fill(runtime: Runtime, order_id: str, quantity: str, price: str = "100") -> bool:
    return await record_execution(runtime, uuid.UUID(order_id), ev.Filled(
        trade_id=uuid.uuid4().hex, quantity=Decimal(quantity), price=Decimal(price),
        at=datetime.now(UTC)))


async def books(engine: AsyncEngine, order_id: str) -> dict[str, Any]:
    """Everything a refused replace must leave as it was: the order, its log, the account."""
    async with engine.connect() as conn:
        order = (await conn.execute(text("SELECT * FROM orders WHERE id = :id"),
                                    {"id": uuid.UUID(order_id)})).mappings().one()
        events = (await conn.execute(text("SELECT count(*) FROM order_events WHERE order_id ="
                                          " :id"), {"id": order["id"]})).scalar_one()
        account = (await conn.execute(text("SELECT cash, reserved_cash FROM accounts WHERE id ="
                                           " :id"), {"id": order["account_id"]})).one()
        shares = (await conn.execute(text(
            "SELECT coalesce(sum(reserved_quantity), 0) FROM positions WHERE account_id = :id"),
            {"id": order["account_id"]})).scalar_one()
    return {"order": dict(order), "events": events, "account": tuple(account),
            "reserved_shares": shares}


async def events(engine: AsyncEngine, order_id: str) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT from_status, to_status, detail, actor FROM order_events"
            " WHERE order_id = :id ORDER BY version"), {"id": uuid.UUID(order_id)})).all())


async def buying_power(client: httpx.AsyncClient, auth: dict[str, str]) -> str:
    power: str = (await client.get("/api/v1/account", headers=auth)).json()["buying_power"]
    return power
