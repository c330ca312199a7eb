"""An Idempotency-Key replay answers the original order while the worker fills it.

The retry a client makes after a timeout arrives exactly while the paper fill of the first
submit holds the order row and wants the account row: the replay must not take the account
row and then wait on the order (a deadlock, answered 500). The same wait happens when another
order reuses the client_order_id of the order being filled: that one must be a 409.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.settings import get_settings
from tests.helpers import set_quote, user_id_of
from worker.handlers.submit import submit_orders
from worker.runtime import Runtime

pytestmark = pytest.mark.integration

ORDERS = 30
REPLAYS_PER_ORDER = 4
MARKET_BUY = {"symbol": "KO", "side": "BUY", "order_type": "MARKET", "quantity": "1"}


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    return Runtime(get_settings(), engine=app.state.engine, redis=app.state.redis)


async def _post(client: httpx.AsyncClient, headers: dict[str, str],
                body: dict[str, Any]) -> httpx.Response | BaseException:
    try:
        return await client.post("/api/v1/orders", json=body, headers=headers)
    except Exception as exc:  # noqa: BLE001 - an unhandled app error is what this test catches
        return exc


async def _replays_while_filling(client: httpx.AsyncClient, runtime: Runtime,
                                 auth: dict[str, str], key: str) -> list[Any]:
    headers = {**auth, "Idempotency-Key": key}
    body = {**MARKET_BUY, "client_order_id": key}
    first = await client.post("/api/v1/orders", json=body, headers=headers)
    assert first.status_code == 202, first.text
    order_id = first.json()["id"]
    other_body = {**MARKET_BUY, "quantity": "2"}
    results = await asyncio.gather(
        submit_orders(runtime, [order_id]),
        *(_post(client, headers, body) for _ in range(REPLAYS_PER_ORDER)),
        _post(client, headers, other_body),
        _post(client, auth, {**body, "client_order_id": f"{key}-again"}),
        _post(client, auth, body),  # no key: a new order, but its client_order_id is taken
    )
    filled, *same, other, fresh, duplicate = results
    assert filled == 1
    for response in same:
        assert isinstance(response, httpx.Response), repr(response)
        assert response.status_code == 202, response.text
        assert response.headers["idempotent-replayed"] == "true"
        assert response.json()["id"] == order_id
    assert isinstance(other, httpx.Response), repr(other)
    assert other.status_code == 422, other.text
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert isinstance(duplicate, httpx.Response), repr(duplicate)
    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.json()["error"]["code"] == "duplicate_client_order_id"
    assert isinstance(fresh, httpx.Response), repr(fresh)
    assert fresh.status_code == 202, fresh.text
    fresh_id: str = fresh.json()["id"]
    assert await submit_orders(runtime, [fresh_id]) == 1
    return [order_id, fresh_id]


async def test_replays_during_the_fill_return_the_original_order_and_double_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str]
) -> None:
    await set_quote(engine, "KO", "69.99", "70.00")
    placed: list[str] = []
    for attempt in range(ORDERS):
        placed += await _replays_while_filling(client, runtime, auth, f"timeout-retry-{attempt}")
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT o.id::text, o.status, a.cash, a.reserved_cash FROM orders o"
            " JOIN accounts a ON a.id = o.account_id WHERE o.user_id = :u"),
            {"u": user_id_of(auth)})).all()
    assert sorted(row.id for row in rows) == sorted(placed)  # one order per key, one fresh
    assert {row.status for row in rows} == {"FILLED"}
    # One reservation each, all released by the fills; each order bought once.
    assert {(row.cash, row.reserved_cash) for row in rows} == {
        (Decimal(100000) - 2 * ORDERS * Decimal(70), Decimal(0))}
