"""Pausing and resuming a broker's dispatch, through the real API and PostgreSQL, with the
worker's handlers in-process: a paused broker's orders are accepted and wait (no claim, no
dispatch attempt spent, nothing at the broker), a resume hands them to the sweeper. The
real worker's side is tests/e2e/test_dispatch_pause.py."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.messaging.heartbeat import WORKERS_KEY
from tests.helpers import get_ok, place, register_and_login, set_quote
from tests.integration.admins import ADMIN, api_key, new_admin
from tests.stubs.groww.harness import GrowwStub
from worker.handlers.broker_orders import place_orders
from worker.handlers.submit import submit_orders
from worker.handlers.sweep import sweep
from worker.runtime import Runtime

pytestmark = pytest.mark.integration

PAPER = f"{ADMIN}/brokers/paper/pause"
GROWW = f"{ADMIN}/brokers/groww/pause"
MARKET_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "MARKET", "quantity": "1"}


@pytest.fixture
async def admin(client: httpx.AsyncClient, engine: AsyncEngine) -> AsyncIterator[dict[str, str]]:
    """An admin; no pause outlives the test, whatever it did."""
    yield await new_admin(client, engine)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM dispatch_pauses"))


async def _dispatch(engine: AsyncEngine, order_id: str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT status, dispatch_attempts, next_dispatch_at <= now() AS due FROM orders"
            " WHERE id = :id"), {"id": uuid.UUID(order_id)})).one()


async def _due_now(engine: AsyncEngine, order_id: str) -> None:
    # As if the API's message were lost and the grace over: the sweeper's turn.
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE orders SET next_dispatch_at = now() WHERE id = :id"),
                           {"id": uuid.UUID(order_id)})


async def test_a_paused_paper_exchange_accepts_orders_and_places_none_until_resumed(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        admin: dict[str, str], runtime: Runtime) -> None:
    await set_quote(engine, "AAPL", "199.98", "200.02")
    paused = await client.post(PAPER, headers=admin, json={"reason": "exchange maintenance"})
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"] is True
    order_id = await place(client, auth, **MARKET_BUY)

    assert await submit_orders(runtime, [order_id]) == 0  # the API's message: nothing moves
    await _due_now(engine, order_id)
    await sweep(runtime)
    waiting = await _dispatch(engine, order_id)
    assert (waiting.status, waiting.dispatch_attempts) == ("PENDING_NEW", 0)

    resumed = await client.delete(PAPER, headers=admin)
    assert resumed.status_code == 200, resumed.text
    # Every paper order still unplaced is released: this one, and any other test's left over.
    assert resumed.json()["paused"] is False
    assert resumed.json()["orders_released"] >= 1
    assert (await _dispatch(engine, order_id)).due
    await sweep(runtime)
    order = await get_ok(client, auth, f"/api/v1/orders/{order_id}")
    assert order["status"] == "FILLED"


async def test_cancels_go_on_while_paused(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        admin: dict[str, str]) -> None:
    assert (await client.post(PAPER, headers=admin)).status_code == 200
    order_id = await place(client, auth, **MARKET_BUY)

    canceled = await client.delete(f"/api/v1/orders/{order_id}", headers=auth)

    assert (canceled.status_code, canceled.json()["status"]) == (202, "CANCELED")
    await client.delete(PAPER, headers=admin)
    assert (await _dispatch(engine, order_id)).status == "CANCELED"  # not released: ended


async def test_a_paused_broker_is_sent_nothing_until_resumed(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, admin: dict[str, str], runtime: Runtime,
        groww: GrowwStub) -> None:
    assert (await client.post(GROWW, headers=admin)).status_code == 200
    order_id = await place(client, auth, symbol="INFY", side="BUY", order_type="LIMIT",
                           quantity="10", price="1860.00", broker="groww")
    async with engine.connect() as conn:
        tag = (await conn.execute(text("SELECT broker_tag FROM orders WHERE id = :id"),
                                  {"id": uuid.UUID(order_id)})).scalar_one()

    assert await place_orders(runtime, [order_id]) == 0
    assert groww.orders_tagged(tag) == 0
    assert (await _dispatch(engine, order_id)).status == "PENDING_NEW"

    assert (await client.delete(GROWW, headers=admin)).json()["orders_released"] >= 1
    assert await place_orders(runtime, [order_id]) == 1
    assert groww.orders_tagged(tag) == 1
    assert (await _dispatch(engine, order_id)).status in {"SUBMITTED", "ACCEPTED"}


async def test_pauses_are_shown_audited_once_and_admin_only(
        client: httpx.AsyncClient, app: FastAPI, admin: dict[str, str]) -> None:
    user = await register_and_login(client)
    worker = f"paper@pause-test-{uuid.uuid4().hex[:6]}"
    await app.state.redis.zadd(WORKERS_KEY, {worker: time.time()})  # one worker, beating now
    first = await client.post(PAPER, headers=admin, json={"reason": "upgrade"})
    again = await client.post(PAPER, headers=admin, json={"reason": "something else"})
    assert again.json() == first.json()  # the pause stands as it was

    full = (await client.get("/api/v1/queue/status", headers=admin)).json()
    public = (await client.get("/api/v1/queue/status", headers=user)).json()
    assert full["dispatch_paused"]["paper"]["reason"] == "upgrade"
    assert (public["dispatch_paused"], public["status"]) == (["paper"], "degraded")
    await app.state.redis.zrem(WORKERS_KEY, worker)

    for caller in (user, await api_key(client, admin)):
        for method in ("POST", "DELETE"):
            refused = await client.request(method, PAPER, headers=caller)
            assert refused.status_code == 403
    assert (await client.post(f"{ADMIN}/brokers/nasdaq/pause", headers=admin)).status_code == 422
    resumed = await client.delete(PAPER, headers=admin)
    assert resumed.status_code == 200
    assert (await client.delete(PAPER, headers=admin)).json()["orders_released"] == 0

    entries = [(await client.get(f"{ADMIN}/audit", headers=admin, params={
        "user_id": first.json()["paused_by"], "action": action})).json()["items"]
        for action in ("admin.dispatch_paused", "admin.dispatch_resumed")]
    assert [[(e["target_id"], e["details"]) for e in found] for found in entries] == [
        [("paper", {"reason": "upgrade"})],
        [("paper", {"paused_at": first.json()["paused_at"],
                    "orders_released": resumed.json()["orders_released"]})]]
