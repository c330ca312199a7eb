"""Pausing the paper exchange's dispatch with a real Celery worker (and its beat's sweeper):
orders placed meanwhile are accepted and wait, none lost and none placed; a resume fills
each of them exactly once."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.messaging import tasks
from tests.e2e.conftest import (
    ClientFactory,
    WorkerFactory,
    exactly_once_report,
    order_statuses,
    wait_for,
)
from tests.helpers import register_and_login, set_quote
from tests.integration.admins import ADMIN, new_admin

pytestmark = pytest.mark.e2e
PAUSE = f"{ADMIN}/brokers/paper/pause"
MARKET_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "MARKET", "quantity": "1"}
# The worker sweeps every 0.5 s and the API's grace is 1 s (tests/e2e/conftest.py): this is
# several sweeps past the grace of every order placed under the pause.
SWEEPS_PAST_GRACE_SECONDS = 3.0


@pytest.fixture
async def stack(client_for: ClientFactory, worker_factory: WorkerFactory
                ) -> AsyncIterator[tuple[httpx.AsyncClient, AsyncEngine]]:
    worker_factory(os.environ["REDIS_URL"]).start()
    client, engine = await client_for(os.environ["REDIS_URL"])
    yield client, engine
    async with engine.begin() as conn:  # no pause outlives the test
        await conn.execute(text("DELETE FROM dispatch_pauses"))


async def _attempts(engine: AsyncEngine, ids: list[str]) -> set[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT dispatch_attempts FROM orders"
                                       " WHERE id::text = ANY(:ids)"), {"ids": ids})
        return {row.dispatch_attempts for row in rows}


async def test_orders_placed_while_paused_wait_and_are_each_filled_once_after_the_resume(
        stack: tuple[httpx.AsyncClient, AsyncEngine]) -> None:
    client, engine = stack
    admin = await new_admin(client, engine)
    auth = await register_and_login(client)
    await set_quote(engine, "AAPL", "228.49", "228.51")
    assert (await client.post(PAUSE, headers=admin, json={"reason": "e2e"})).status_code == 200

    ids = []
    for _ in range(10):
        placed = await client.post("/api/v1/orders", json=MARKET_BUY, headers=auth)
        assert placed.status_code == 202, placed.text
        ids.append(placed.json()["id"])
    redis = Redis.from_url(os.environ["REDIS_URL"])
    try:
        async def consumed() -> bool:
            return int(await redis.llen(tasks.ORDERS_QUEUE)) == 0

        await wait_for(consumed, 30, "the worker to take the submit messages")
    finally:
        await redis.aclose()
    await asyncio.sleep(SWEEPS_PAST_GRACE_SECONDS)

    assert set((await order_statuses(engine, ids)).values()) == {"PENDING_NEW"}
    assert await _attempts(engine, ids) == {0}  # the sweeper left them alone
    account = (await client.get("/api/v1/account", headers=auth)).json()
    assert account["cash"] == "100000"

    resumed = await client.delete(PAUSE, headers=admin)
    assert resumed.json()["orders_released"] >= 10  # and whatever earlier tests left unplaced

    async def all_filled() -> bool:
        return set((await order_statuses(engine, ids)).values()) == {"FILLED"}

    await wait_for(all_filled, 30, "every order held by the pause to be FILLED")
    assert set((await exactly_once_report(engine, ids)).values()) == {(1, 1)}
    [position] = (await client.get("/api/v1/positions", headers=auth)).json()
    assert position["quantity"] == "10"
