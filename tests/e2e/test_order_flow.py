"""The whole path with a real Celery worker process: submit → queue → worker → fill → status."""

from __future__ import annotations

import os

import httpx
import pytest
from sqlalchemy import text

from tests.e2e.conftest import (
    ClientFactory,
    PrivateRedis,
    WorkerFactory,
    exactly_once_report,
    order_statuses,
    wait_for,
)
from tests.helpers import register_and_login, set_quote

pytestmark = pytest.mark.e2e
TERMINAL = {"FILLED", "CANCELED", "REJECTED", "EXPIRED"}
MARKET_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "MARKET", "quantity": "1"}


async def _submit_many(client: httpx.AsyncClient, auth: dict[str, str], count: int) -> list[str]:
    ids = []
    for _ in range(count):
        response = await client.post("/api/v1/orders", json=MARKET_BUY, headers=auth)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


async def test_market_buy_is_filled_by_the_worker_and_polled_to_filled(
    client_for: ClientFactory, worker_factory: WorkerFactory
) -> None:
    worker = worker_factory(os.environ["REDIS_URL"])
    worker.start()
    client, engine = await client_for(os.environ["REDIS_URL"])
    auth = await register_and_login(client)
    await set_quote(engine, "AAPL", "228.49", "228.51")
    response = await client.post("/api/v1/orders", json=MARKET_BUY, headers=auth)
    assert response.status_code == 202
    location = response.headers["location"]

    async def filled() -> bool:
        return bool((await client.get(location, headers=auth)).json()["status"] == "FILLED")

    await wait_for(filled, 30, "the order to be FILLED")
    order = (await client.get(location, headers=auth)).json()
    assert (order["filled_quantity"], order["avg_fill_price"]) == ("1", "228.51")
    [position] = (await client.get("/api/v1/positions", headers=auth)).json()
    assert (position["symbol"], position["quantity"]) == ("AAPL", "1")
    account = (await client.get("/api/v1/account", headers=auth)).json()
    assert account["cash"] == "99771.49"
    ready = await client.get("/ready")
    assert ready.status_code == 200, ready.text


async def test_orders_submitted_while_redis_is_down_are_all_filled_once_after_it_returns(
    client_for: ClientFactory, worker_factory: WorkerFactory,
    private_redis: PrivateRedis,
) -> None:
    worker = worker_factory(private_redis.url)
    worker.start()
    client, engine = await client_for(private_redis.url)
    auth = await register_and_login(client)
    await set_quote(engine, "AAPL", "228.49", "228.51")
    private_redis.stop()
    ids = await _submit_many(client, auth, 20)  # every one accepted with Redis down
    statuses = await order_statuses(engine, ids)
    assert set(statuses.values()) == {"PENDING_NEW"}
    not_ready = await client.get("/ready")
    assert not_ready.status_code == 503
    assert "redis" in not_ready.json()["down"]
    private_redis.start()  # empty: every queued message was lost with it

    async def all_filled() -> bool:
        worker.restart_if_exited()
        return set((await order_statuses(engine, ids)).values()) == {"FILLED"}

    await wait_for(all_filled, 60, "the sweeper to re-drive every order")
    assert set((await exactly_once_report(engine, ids)).values()) == {(1, 1)}
    [position] = (await client.get("/api/v1/positions", headers=auth)).json()
    assert position["quantity"] == "20"


async def test_worker_killed_mid_batch_every_order_terminal_exactly_once_after_restart(
    client_for: ClientFactory, worker_factory: WorkerFactory
) -> None:
    redis_url = os.environ["REDIS_URL"]
    client, engine = await client_for(redis_url)
    auth = await register_and_login(client)
    await set_quote(engine, "AAPL", "228.49", "228.51")
    first = worker_factory(redis_url)
    first.start()
    ids = await _submit_many(client, auth, 60)

    async def some_filled() -> bool:
        async with engine.connect() as conn:
            count = (await conn.execute(text(
                "SELECT count(*) FROM orders WHERE status = 'FILLED' AND id::text = ANY(:ids)"),
                {"ids": ids})).scalar_one()
        return bool(count > 0)

    await wait_for(some_filled, 30, "the first fills")
    first.kill()
    statuses = await order_statuses(engine, ids)
    assert len(statuses) == 60
    second = worker_factory(redis_url)
    second.start()

    async def all_terminal() -> bool:
        return set((await order_statuses(engine, ids)).values()) <= TERMINAL

    await wait_for(all_terminal, 90, "every order to reach a terminal state")
    assert set((await order_statuses(engine, ids)).values()) == {"FILLED"}
    assert set((await exactly_once_report(engine, ids)).values()) == {(1, 1)}
    [position] = (await client.get("/api/v1/positions", headers=auth)).json()
    assert position["quantity"] == "60"
