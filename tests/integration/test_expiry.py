"""The expiry task against real PostgreSQL and Redis: DAY at the close, GTD at expire_at."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.deps import get_clock
from shared.clock import Clock, FixedClock
from shared.settings import Settings, get_settings
from tests.helpers import set_quote, user_id_of
from worker.handlers.cancel import cancel_order
from worker.handlers.expiry import expire_due
from worker.handlers.submit import submit_orders
from worker.runtime import Runtime

pytestmark = pytest.mark.integration

NY = ZoneInfo("America/New_York")
TUESDAY_LATE = datetime(2026, 12, 1, 15, 59, 58, tzinfo=NY)
TUESDAY_CLOSE = datetime(2026, 12, 1, 16, 0, tzinfo=NY)


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    # The paper exchange's clock runs a minute behind the API's 15:59:58: the orders reach it
    # before their time runs out (it expires on arrival an order whose time already has);
    # the expiry runs below are told their instant.
    shifted = (TUESDAY_LATE - timedelta(minutes=1) - datetime.now(UTC)).total_seconds()
    return Runtime(get_settings().model_copy(update={"clock_offset_seconds": shifted}),
                   engine=app.state.engine, redis=app.state.redis)


@pytest.fixture(autouse=True)
def api_clock(app: FastAPI) -> Iterator[None]:
    """The API's clock stands at 15:59:58 New York on a Tuesday, in the past of the real one:
    the orders of these tests fall due at instants no other test's order does."""

    async def clock() -> Clock:
        return FixedClock(TUESDAY_LATE)

    app.dependency_overrides[get_clock] = clock
    yield
    app.dependency_overrides.pop(get_clock, None)


async def place_resting(client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str],
                        **body: Any) -> str:
    """Place a paper order and let the paper exchange rest it (ACCEPTED)."""
    order = {"symbol": "KO", "side": "BUY", "order_type": "LIMIT", "quantity": "10",
             "price": "10.00", **body}
    response = await client.post("/api/v1/orders", json=order, headers=auth)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["id"]
    assert await submit_orders(runtime, [order_id]) == 1
    assert (await order_of(client, auth, order_id))["status"] == "ACCEPTED"
    return order_id


async def order_of(client: httpx.AsyncClient, auth: dict[str, str],
                   order_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/orders/{order_id}", headers=auth)
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


async def buying_power(client: httpx.AsyncClient, auth: dict[str, str]) -> Decimal:
    response = await client.get("/api/v1/account", headers=auth)
    assert response.status_code == 200, response.text
    return Decimal(response.json()["buying_power"])


async def expiry_events(engine: AsyncEngine, order_ids: list[str]) -> dict[str, list[str]]:
    """Per order, the actor of each transition to EXPIRED."""
    async with engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT order_id::text AS id, actor FROM order_events"
            " WHERE to_status = 'EXPIRED' AND order_id::text = ANY(:ids)"), {"ids": order_ids})
        found: dict[str, list[str]] = {order_id: [] for order_id in order_ids}
        for row in rows:
            found[row.id].append(row.actor)
    return found


async def test_a_day_order_expires_at_the_close_and_gives_its_cash_back(
        client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    before = await buying_power(client, auth)
    order_id = await place_resting(client, runtime, auth)
    assert await buying_power(client, auth) == before - 100
    assert await expire_due(runtime, TUESDAY_CLOSE - timedelta(microseconds=1)) == 0
    assert (await order_of(client, auth, order_id))["status"] == "ACCEPTED"
    assert await expire_due(runtime, TUESDAY_CLOSE) >= 1
    order = await order_of(client, auth, order_id)
    assert order["status"] == "EXPIRED"
    assert order["reject_reason"] == (
        "DAY order expired at the close of its session, 2026-12-01T21:00:00+00:00")
    assert await buying_power(client, auth) == before
    assert await expiry_events(engine, [order_id]) == {order_id: ["expiry"]}


async def test_a_gtd_order_expires_at_its_expire_at_and_not_before(
        client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]) -> None:
    expire_at = TUESDAY_LATE + timedelta(milliseconds=100)
    order_id = await place_resting(client, runtime, auth, time_in_force="GTD",
                                   expire_at=expire_at.isoformat())
    assert await expire_due(runtime, expire_at - timedelta(microseconds=1)) == 0
    assert await expire_due(runtime, expire_at) == 1
    order = await order_of(client, auth, order_id)
    assert order["status"] == "EXPIRED"
    assert order["reject_reason"] == (
        "GTD order expired at its expire_at, 2026-12-01T20:59:58.100000+00:00")


async def test_an_expiring_sell_gives_its_shares_back(
        client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    await set_quote(engine, "KO", "59.98", "60.02")
    bought = await client.post("/api/v1/orders", headers=auth, json={
        "symbol": "KO", "side": "BUY", "order_type": "MARKET", "quantity": "5"})
    assert await submit_orders(runtime, [bought.json()["id"]]) == 1
    order_id = await place_resting(client, runtime, auth, side="SELL", quantity="5",
                                   price="500.00")
    assert await _reserved_shares(engine, auth) == 5
    await expire_due(runtime, TUESDAY_CLOSE)
    assert (await order_of(client, auth, order_id))["status"] == "EXPIRED"
    assert await _reserved_shares(engine, auth) == 0


async def _reserved_shares(engine: AsyncEngine, auth: dict[str, str]) -> Decimal:
    async with engine.connect() as conn:
        reserved: Decimal = (await conn.execute(text(
            "SELECT reserved_quantity FROM positions WHERE user_id = :u AND symbol = 'KO'"),
            {"u": user_id_of(auth)})).scalar_one()
    return reserved


async def test_two_concurrent_expiry_runs_expire_each_order_once(
        client: httpx.AsyncClient, engine: AsyncEngine, app: FastAPI,
        auth: dict[str, str], runtime: Runtime) -> None:
    expire_at = TUESDAY_LATE + timedelta(milliseconds=200)
    before = await buying_power(client, auth)
    ids = [await place_resting(client, runtime, auth, time_in_force="GTD",
                               expire_at=expire_at.isoformat(), quantity="1")
           for _ in range(12)]
    # Small batches, so that the two runs interleave over several transactions each.
    small = Settings(expiry_batch_size=2)
    runs = [Runtime(small, engine=app.state.engine, redis=app.state.redis) for _ in range(2)]
    counts = await asyncio.gather(*(expire_due(run, expire_at) for run in runs))
    assert sum(counts) == 12
    assert await expiry_events(engine, ids) == {order_id: ["expiry"] for order_id in ids}
    assert await buying_power(client, auth) == before


async def test_an_order_locked_elsewhere_is_skipped_then_expired_by_the_next_run(
        client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    expire_at = TUESDAY_LATE + timedelta(milliseconds=300)
    held, free = [await place_resting(client, runtime, auth, time_in_force="GTD",
                                      expire_at=expire_at.isoformat()) for _ in range(2)]
    async with engine.connect() as holder:
        # A fill or a cancel holding the order: the run goes past it instead of waiting.
        await holder.execute(text("SELECT 1 FROM orders WHERE id = :id FOR UPDATE"),
                             {"id": uuid.UUID(held)})
        assert await asyncio.wait_for(expire_due(runtime, expire_at), timeout=10) == 1
        await holder.rollback()
    assert (await order_of(client, auth, free))["status"] == "EXPIRED"
    assert (await order_of(client, auth, held))["status"] == "ACCEPTED"
    assert await expire_due(runtime, expire_at) == 1
    assert (await order_of(client, auth, held))["status"] == "EXPIRED"


async def test_a_canceled_order_is_not_expired(
        client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    expire_at = TUESDAY_LATE + timedelta(milliseconds=400)
    order_id = await place_resting(client, runtime, auth, time_in_force="GTD",
                                   expire_at=expire_at.isoformat())
    response = await client.delete(f"/api/v1/orders/{order_id}", headers=auth)
    assert response.status_code == 202, response.text
    await cancel_order(runtime, order_id)
    assert (await order_of(client, auth, order_id))["status"] == "CANCELED"
    assert await expire_due(runtime, expire_at) == 0
    assert await expiry_events(engine, [order_id]) == {order_id: []}
