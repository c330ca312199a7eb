"""Holes the order aggregate closes, each tried against the real database, Redis and a stub broker.

Every test here failed before orders changed only through `apply(event)` and one guarded save.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.domain import events as ev
from tests.helpers import set_quote
from tests.stubs.groww.harness import GrowwStub
from worker.handlers import broker_calls as calls
from worker.handlers.broker_cancel import cancel_at_broker
from worker.handlers.broker_orders import place_orders, sync_order
from worker.handlers.fills import record_execution
from worker.handlers.reconcile import process_webhook
from worker.handlers.submit import submit_orders
from worker.handlers.sweep import MAX_DISPATCH_ATTEMPTS, sweep
from worker.runtime import Runtime

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
AT_GROWW = {"symbol": "INFY", "side": "BUY", "order_type": "LIMIT", "quantity": "10",
            "price": "1860.00", "broker": "groww"}
RESTING = {"symbol": "JPM", "side": "BUY", "order_type": "LIMIT", "quantity": "10",
           "price": "212.30"}


async def _place(client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, str]) -> str:
    response = await client.post("/api/v1/orders", json=body, headers=auth)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["id"]
    return order_id


async def _row(engine: AsyncEngine, order_id: str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT * FROM orders WHERE id = :id"),
                                   {"id": uuid.UUID(order_id)})).mappings().one()


async def _count(engine: AsyncEngine, sql: str, order_id: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql), {"o": uuid.UUID(order_id)})).scalar_one())


async def _quality_checks(engine: AsyncEngine, order_id: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT kind FROM quality_checks WHERE order_id = :o"),
                                  {"o": uuid.UUID(order_id)})
        return [row.kind for row in rows]


# --- 1. a redelivered fill is skipped ------------------------------------------------------


async def test_a_fill_reported_again_on_a_mostly_filled_order_changes_nothing(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await _place(client, auth, AT_GROWW)
    await place_orders(runtime, [order_id])
    broker_order_id = (await _row(engine, order_id))["broker_order_id"]
    groww.fill(broker_order_id, Decimal(6), Decimal("1859.00"))
    await sync_order(runtime, uuid.UUID(order_id))
    await sync_order(runtime, uuid.UUID(order_id))  # Groww lists the same trade again
    part = await _row(engine, order_id)
    assert (part["status"], part["filled_quantity"]) == ("PARTIALLY_FILLED", Decimal(6))

    groww.fill(broker_order_id, Decimal(4), Decimal("1861.00"))
    for _ in range(2):  # a reconcile tick and a webhook both re-read both trades
        await sync_order(runtime, uuid.UUID(order_id))
    done = await _row(engine, order_id)
    assert (done["status"], done["filled_quantity"]) == ("FILLED", Decimal(10))
    assert await _quality_checks(engine, order_id) == []
    assert await _count(engine, "SELECT count(*) FROM fills WHERE order_id = :o", order_id) == 2
    [position] = (await client.get("/api/v1/positions", headers=auth)).json()
    assert (position["quantity"], position["avg_price"]) == ("10", "1859.8")


async def test_an_execution_delivered_twice_past_half_filled_is_booked_once(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        runtime: Runtime) -> None:
    await set_quote(engine, "JPM", "250.00", "250.10")
    order_id = await _place(client, auth, RESTING)
    await submit_orders(runtime, [order_id])  # rests: the ask is above the limit
    execution = ev.Filled(trade_id="EXEC-7", quantity=Decimal(6), price=Decimal("212.30"),
                          at=T0)
    assert await record_execution(runtime, uuid.UUID(order_id), execution) is True
    assert await record_execution(runtime, uuid.UUID(order_id), execution) is False
    order = (await client.get(f"/api/v1/orders/{order_id}", headers=auth)).json()
    assert (order["status"], order["filled_quantity"]) == ("PARTIALLY_FILLED", "6")
    account = (await client.get("/api/v1/account", headers=auth)).json()
    assert account["cash"] == str(Decimal(100000) - Decimal("1273.8"))


# --- 2. an order at a broker is never placed twice -----------------------------------------


async def test_a_lookup_that_finds_nothing_never_re_places_an_order_a_webhook_recorded(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime, groww: GrowwStub, monkeypatch: pytest.MonkeyPatch) -> None:
    order_id = await _place(client, auth, AT_GROWW)
    groww.stall_next_place(1.5)  # Groww records it, our worker never hears back
    await place_orders(runtime, [order_id])
    async with engine.begin() as conn:  # the lookups so far found nothing
        await conn.execute(text("UPDATE orders SET dispatch_attempts = 5 WHERE id = :id"),
                           {"id": uuid.UUID(order_id)})
    order = await calls.read_order(runtime, uuid.UUID(order_id))
    assert order is not None
    assert order.broker_tag is not None
    adapter = await calls.adapter_for(runtime, order)
    real_lookup = adapter.find_by_tag
    lookups = 0

    async def lagging_lookup(tag: str) -> Any:
        # Groww's order book lags: this lookup misses the order, and while it is on the wire
        # Groww's postback arrives and ordergate records the order from it.
        nonlocal lookups
        lookups += 1
        if lookups > 1:
            return await real_lookup(tag)
        delivery = groww.delivery(groww.order_tagged(tag))
        stored = await client.post("/api/v1/webhooks/groww", content=delivery.body,
                                   headers=delivery.headers)
        assert stored.status_code == 202, stored.text
        async with engine.connect() as conn:
            event_id = (await conn.execute(text(
                "SELECT id FROM webhook_events ORDER BY received_at DESC LIMIT 1"))).scalar_one()
        assert await process_webhook(runtime, str(event_id)) == "processed"
        return None

    monkeypatch.setattr(adapter, "find_by_tag", lagging_lookup)
    await sync_order(runtime, uuid.UUID(order_id))  # the stale "not found" arrives last

    assert groww.orders_tagged(order.broker_tag) == 1
    recorded = await _row(engine, order_id)
    assert (recorded["placement"], recorded["broker_order_id"]) == (
        "placed", groww.order_tagged(order.broker_tag))
    groww.fill(recorded["broker_order_id"], Decimal(10), Decimal("1860.00"))
    await sync_order(runtime, uuid.UUID(order_id))  # still followed: the fill is booked
    assert (await _row(engine, order_id))["status"] == "FILLED"
    assert groww.orders_tagged(order.broker_tag) == 1


# --- 3. the results cache is never stale for long ------------------------------------------


async def test_a_lost_publish_shows_an_older_order_for_seconds_at_most(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        runtime: Runtime, app: FastAPI) -> None:
    await set_quote(engine, "JPM", "250.00", "250.10")
    order_id = await _place(client, auth, RESTING)
    await submit_orders(runtime, [order_id])  # publishes ACCEPTED to the cache
    cached = (await client.get(f"/api/v1/orders/{order_id}", headers=auth)).json()
    assert cached["status"] == "ACCEPTED"

    cut_off = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    lost = Runtime(runtime.settings, engine=app.state.engine, redis=cut_off)
    fill = ev.Filled(trade_id="EXEC-9", quantity=Decimal(4), price=Decimal("212.30"), at=T0)
    assert await record_execution(lost, uuid.UUID(order_id), fill) is True  # publish lost
    await cut_off.aclose()

    deadline = time.monotonic() + 10
    seen = cached
    while seen["status"] == "ACCEPTED" and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        seen = (await client.get(f"/api/v1/orders/{order_id}", headers=auth)).json()
    assert (seen["status"], seen["filled_quantity"]) == ("PARTIALLY_FILLED", "4")


# --- 4. a refused cancel returns to exactly where the order was ----------------------------


async def test_a_cancel_the_broker_refuses_returns_a_partly_filled_order_to_partly_filled(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await _place(client, auth, AT_GROWW)
    await place_orders(runtime, [order_id])
    broker_order_id = (await _row(engine, order_id))["broker_order_id"]
    groww.fill(broker_order_id, Decimal(4), Decimal("1860.00"))
    await sync_order(runtime, uuid.UUID(order_id))
    canceling = await client.delete(f"/api/v1/orders/{order_id}", headers=auth)
    assert canceling.json()["status"] == "PENDING_CANCEL"
    groww.refuse_next_cancel("order is under exchange review")
    assert await cancel_at_broker(runtime, order_id)

    order = (await client.get(f"/api/v1/orders/{order_id}", headers=auth)).json()
    assert (order["status"], order["filled_quantity"]) == ("PARTIALLY_FILLED", "4")
    assert "refused the cancel" in order["status_detail"]


async def test_a_cancel_the_sweeper_gives_up_on_leaves_a_partly_filled_order_as_it_was(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        runtime: Runtime) -> None:
    await set_quote(engine, "JPM", "250.00", "250.10")
    order_id = await _place(client, auth, RESTING)
    await submit_orders(runtime, [order_id])
    fill = ev.Filled(trade_id="EXEC-3", quantity=Decimal(3), price=Decimal("212.30"), at=T0)
    await record_execution(runtime, uuid.UUID(order_id), fill)
    await client.delete(f"/api/v1/orders/{order_id}", headers=auth)
    async with engine.begin() as conn:  # every attempt to complete the cancel failed
        await conn.execute(text("UPDATE orders SET dispatch_attempts = :n, next_dispatch_at ="
                                " now() WHERE id = :id"),
                           {"n": MAX_DISPATCH_ATTEMPTS, "id": uuid.UUID(order_id)})
    await sweep(runtime)
    row = await _row(engine, order_id)
    assert (row["status"], row["filled_quantity"]) == ("PARTIALLY_FILLED", Decimal(3))
    assert row["reserved_cash"] > 0  # still working: the unfilled 7 keep their reservation
