"""Orders at a real broker's stand-in (the Groww stub): placed once, followed, canceled.

The worker's broker handlers run in-process against real PostgreSQL and Redis and the stub's
HTTP API; the stub's book shows what the broker side saw.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.brokers.catalog import Broker
from shared.db.repositories import orders
from shared.domain import events as ev
from shared.domain.orders import Change
from shared.settings import Settings
from tests.helpers import connect_broker, register_and_login
from tests.stubs.groww.harness import GrowwStub
from worker.handlers.broker_cancel import cancel_at_broker
from worker.handlers.broker_orders import place_orders, sync_order, sync_orders
from worker.handlers.reconcile import process_webhook
from worker.runtime import Runtime

pytestmark = pytest.mark.integration
LIMIT_BUY = {"symbol": "INFY", "side": "BUY", "order_type": "LIMIT", "quantity": "10",
             "price": "1860.00", "broker": "groww"}


async def _place(client: httpx.AsyncClient, auth: dict[str, str], **extra: Any) -> str:
    response = await client.post("/api/v1/orders", json={**LIMIT_BUY, **extra}, headers=auth)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "PENDING_NEW"
    order_id: str = response.json()["id"]
    return order_id


async def _order(engine: AsyncEngine, order_id: str) -> Any:
    """The order's row as stored (column values, not the domain's types)."""
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT * FROM orders WHERE id = :id"),
                                   {"id": uuid.UUID(order_id)})).mappings().one()


async def _stored(engine: AsyncEngine, delivery_id: str) -> uuid.UUID:
    """The one stored webhook delivery with this id."""
    async with engine.connect() as conn:
        event_id: uuid.UUID = (await conn.execute(text(
            "SELECT id FROM webhook_events WHERE delivery_id = :d"),
            {"d": delivery_id})).scalar_one()
    return event_id


async def _count(engine: AsyncEngine, sql: str, **params: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def test_an_order_is_placed_once_and_followed_to_filled(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await _place(client, auth)
    assert await place_orders(runtime, [order_id]) == 1
    assert await place_orders(runtime, [order_id]) == 0  # a redelivery places nothing
    placed = await _order(engine, order_id)
    assert placed["broker_order_id"]
    assert placed["account_id"] == account
    assert placed["product"] == "CNC"
    assert groww.orders_tagged(placed["broker_tag"]) == 1

    groww.fill(placed["broker_order_id"], Decimal(4), Decimal("1859.50"))
    await sync_orders(runtime, [order_id, order_id])  # twice: the same trade books once
    partial = await _order(engine, order_id)
    assert (partial["status"], partial["filled_quantity"]) == ("PARTIALLY_FILLED", Decimal(4))
    assert partial["broker_status"] == "EXECUTED"

    groww.fill(placed["broker_order_id"], Decimal(6), Decimal("1860.00"))
    await sync_order(runtime, uuid.UUID(order_id))
    done = await _order(engine, order_id)
    assert (done["status"], done["avg_fill_price"]) == ("FILLED", Decimal("1859.8"))
    assert await _count(engine, "SELECT count(*) FROM fills WHERE order_id = :o",
                        o=uuid.UUID(order_id)) == 2
    positions = (await client.get("/api/v1/positions", headers=auth)).json()
    assert [(p["symbol"], p["quantity"], p["avg_price"]) for p in positions] == [
        ("INFY", "10", "1859.8")]


async def test_a_place_that_timed_out_is_looked_up_not_sent_again(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await _place(client, auth)
    groww.stall_next_place(1.5)
    await place_orders(runtime, [order_id])
    unknown = await _order(engine, order_id)
    assert (unknown["status"], unknown["placement"]) == ("SUBMITTED", "in_flight")
    assert unknown["broker_order_id"] is None
    assert "answer to the place was lost" in unknown["status_detail"]

    await sync_order(runtime, uuid.UUID(order_id))
    found = await _order(engine, order_id)
    assert found["placement"] == "placed"
    assert found["broker_order_id"]
    assert groww.orders_tagged(found["broker_tag"]) == 1


async def test_an_order_the_broker_never_got_is_placed_again_with_the_same_tag(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await _place(client, auth)
    async with engine.begin() as conn:  # a worker claimed it, then died before calling Groww
        claimed = await orders.get(conn, uuid.UUID(order_id))
        assert claimed is not None
        await orders.claim(conn, Change(claimed).then(ev.PlacementStarted()),
                           dispatch=orders.Dispatch(0, reset_attempts=True), actor="test")
    await sync_order(runtime, uuid.UUID(order_id))
    looked_up = await _order(engine, order_id)
    assert (looked_up["placement"], looked_up["broker_order_id"]) == ("in_flight", None)
    assert groww.orders_tagged(looked_up["broker_tag"]) == 0

    async with engine.begin() as conn:  # the sweeper has re-driven it twice since
        await conn.execute(text("UPDATE orders SET dispatch_attempts = 2 WHERE id = :id"),
                           {"id": uuid.UUID(order_id)})
    await sync_order(runtime, uuid.UUID(order_id))
    placed = await _order(engine, order_id)
    assert placed["placement"] == "placed"
    assert groww.orders_tagged(placed["broker_tag"]) == 1


async def test_while_the_broker_is_down_orders_wait_then_are_placed_once(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime, groww: GrowwStub) -> None:
    ids = [await _place(client, auth) for _ in range(4)]
    with groww.outage():
        await place_orders(runtime, ids)
        status = await runtime.brokers.breaker.status(Broker.GROWW)
        waiting = [await _order(engine, i) for i in ids]
    assert status.state == "open"
    assert all(o["status"] == "SUBMITTED" for o in waiting[:3])
    assert all(o["placement"] == "not_sent" for o in waiting[:3])
    assert waiting[3]["status"] == "PENDING_NEW"  # the open circuit kept it from trying
    assert "circuit open" in waiting[3]["status_detail"]

    await _circuit_half_open(runtime)
    await sync_orders(runtime, ids)
    placed = [await _order(engine, i) for i in ids]
    assert [o["placement"] for o in placed] == ["placed"] * 4
    assert [groww.orders_tagged(o["broker_tag"]) for o in placed] == [1] * 4


async def _circuit_half_open(runtime: Runtime) -> None:
    status = await runtime.brokers.breaker.status(Broker.GROWW)
    if status.retry_in_seconds:
        import asyncio
        await asyncio.sleep(status.retry_in_seconds + 0.05)


async def test_an_expired_session_rejects_the_order_and_marks_the_connection(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await _place(client, auth)
    groww.expire_session()
    await place_orders(runtime, [order_id])
    rejected = await _order(engine, order_id)
    assert rejected["status"] == "REJECTED"
    assert "session has expired" in rejected["reject_reason"]
    assert "nothing was placed" in rejected["reject_reason"]
    response = await client.post("/api/v1/orders", json=LIMIT_BUY, headers=auth)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "connection_expired"


async def test_a_rate_limited_place_waits_and_is_placed_once(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await _place(client, auth)
    groww.throttle(1)
    await place_orders(runtime, [order_id])
    waiting = await _order(engine, order_id)
    assert (waiting["status"], waiting["placement"]) == ("SUBMITTED", "not_sent")
    assert "slow down" in waiting["status_detail"]
    import asyncio
    await asyncio.sleep(1.1)  # the 429's retry-after
    await sync_order(runtime, uuid.UUID(order_id))
    placed = await _order(engine, order_id)
    assert placed["placement"] == "placed"
    assert groww.orders_tagged(placed["broker_tag"]) == 1


async def test_a_broker_rejection_ends_the_order_with_its_reason(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await _place(client, auth)
    groww.reject_next_place("Insufficient funds")
    await place_orders(runtime, [order_id])
    await sync_order(runtime, uuid.UUID(order_id))
    rejected = await _order(engine, order_id)
    assert rejected["status"] == "REJECTED"
    assert "Insufficient funds" in rejected["reject_reason"]


async def test_a_cancel_is_carried_to_the_broker(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await _place(client, auth)
    await place_orders(runtime, [order_id])
    response = await client.delete(f"/api/v1/orders/{order_id}", headers=auth)
    assert response.json()["status"] == "PENDING_CANCEL"
    assert await cancel_at_broker(runtime, order_id)
    canceled = await _order(engine, order_id)
    assert canceled["status"] == "CANCELED"
    assert canceled["broker_status"] == "CANCELLED"


async def test_a_webhook_is_stored_once_and_applied_after_a_refetch(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await _place(client, auth)
    await place_orders(runtime, [order_id])
    broker_order_id = (await _order(engine, order_id))["broker_order_id"]
    groww.fill(broker_order_id, Decimal(10), Decimal("1860"))
    delivery = groww.delivery(broker_order_id)

    forged = groww.forge(delivery)
    refused = await client.post("/api/v1/webhooks/groww", content=forged.body,
                                headers=forged.headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_signature"
    first = await client.post("/api/v1/webhooks/groww", content=delivery.body,
                              headers=delivery.headers)
    again = await client.post("/api/v1/webhooks/groww", content=delivery.body,
                              headers=delivery.headers)
    assert (first.status_code, first.json()["status"]) == (202, "queued")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    event_id = await _stored(engine, first.json()["delivery_id"])  # once: one row, by its id
    assert await process_webhook(runtime, str(event_id)) == "processed"
    assert await process_webhook(runtime, str(event_id)) == "processed"  # already done
    filled = await _order(engine, order_id)
    assert filled["status"] == "FILLED"
    assert await _count(engine, "SELECT count(*) FROM fills WHERE order_id = :o",
                        o=uuid.UUID(order_id)) == 1


async def test_a_webhook_syncs_the_order_it_names_not_another_with_the_same_broker_id(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime, groww: GrowwStub) -> None:
    other = await register_and_login(client)
    await connect_broker(engine, other, Broker.GROWW, groww.session(), Settings())
    theirs = await _place(client, other)
    await place_orders(runtime, [theirs])
    order_id = await _place(client, auth)
    await place_orders(runtime, [order_id])
    broker_order_id = (await _order(engine, order_id))["broker_order_id"]
    async with engine.begin() as conn:  # a broker whose order ids repeat across accounts
        await conn.execute(text("UPDATE orders SET broker_order_id = :b, created_at = now()"
                                " WHERE id = :id"), {"b": broker_order_id, "id": uuid.UUID(theirs)})
        # ... and ours written after theirs, so a lookup that stops at the first match misses it
        await conn.execute(text("UPDATE orders SET created_at = created_at - interval '1 s'"
                                " WHERE id = :id"), {"id": uuid.UUID(order_id)})
    groww.fill(broker_order_id, Decimal(10), Decimal("1860"))
    delivery = groww.delivery(broker_order_id)
    posted = await client.post("/api/v1/webhooks/groww", content=delivery.body,
                               headers=delivery.headers)
    assert posted.status_code == 202, posted.text
    event_id = await _stored(engine, posted.json()["delivery_id"])
    assert await process_webhook(runtime, str(event_id)) == "processed"
    assert (await _order(engine, order_id))["status"] == "FILLED"
    assert (await _order(engine, theirs))["filled_quantity"] == 0


async def test_a_fill_that_raced_a_cancel_is_booked_and_the_order_stays_canceled(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await _place(client, auth)
    await place_orders(runtime, [order_id])
    broker_order_id = (await _order(engine, order_id))["broker_order_id"]
    groww.fill(broker_order_id, Decimal(3), Decimal("1860"))
    await client.delete(f"/api/v1/orders/{order_id}", headers=auth)
    async with engine.begin() as conn:  # our books saw the cancel before the fill
        row = await orders.lock(conn, uuid.UUID(order_id))
        assert row is not None
        await orders.save(conn, Change(row).then(ev.Canceled()), actor="test")
    await sync_order(runtime, uuid.UUID(order_id))  # e.g. the fill's webhook arrives
    late = await _order(engine, order_id)
    assert (late["status"], late["filled_quantity"]) == ("CANCELED", Decimal(3))
    positions = (await client.get("/api/v1/positions", headers=auth)).json()
    assert [(p["symbol"], p["quantity"]) for p in positions] == [("INFY", "3")]


async def test_an_order_waiting_for_its_replace_is_checked_at_the_broker_by_the_reconciler(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime) -> None:
    order_id = await _place(client, auth)
    await place_orders(runtime, [order_id])
    await sync_order(runtime, uuid.UUID(order_id))  # acknowledged: it may be replaced
    response = await client.patch(f"/api/v1/orders/{order_id}", json={"price": "1859.00"},
                                  headers=auth)
    assert (response.status_code, response.json()["status"]) == (202, "PENDING_REPLACE")
    async with engine.connect() as conn:
        checked = await orders.open_at_brokers(conn, older_than_seconds=0, limit=500)
    assert (uuid.UUID(order_id), "groww") in checked
