"""Real brokers end to end: the Kite stub, the API over HTTP and a real Celery worker.

Kite posts its postbacks over HTTP to the API; the worker places orders at the stub and
re-fetches them when a postback arrives.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from shared.settings import Settings
from tests.e2e.conftest import WorkerFactory, exactly_once_report, wait_for
from tests.helpers import register_and_login
from tests.stubs.server import StubServer
from tests.stubs.zerodha.harness import StubKite, running

pytestmark = pytest.mark.e2e
KITE_BUY = {"symbol": "INFY", "side": "BUY", "order_type": "LIMIT", "quantity": "10",
            "price": "1860.00"}
PAPER_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "MARKET", "quantity": "1"}


@pytest.fixture
def kite() -> Iterator[StubKite]:
    with running() as stub:
        yield stub


@pytest.fixture
def api(kite: StubKite) -> Iterator[StubServer]:
    """The API served over real HTTP (Kite must be able to reach it), posting back from Kite."""
    settings = Settings(redis_url=os.environ["REDIS_URL"], zerodha_root_url=kite.url,
                        dispatch_grace_seconds=1.0, circuit_reset_seconds=1.0)
    server = StubServer(create_app(settings), lifespan="on")
    server.start()
    kite.set_postback_url(f"{server.url}/api/v1/webhooks/zerodha")
    yield server
    server.stop()


@pytest.fixture
async def client(api: StubServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        yield http


@pytest.fixture
def worker(worker_factory: WorkerFactory, kite: StubKite) -> None:
    worker_factory(os.environ["REDIS_URL"], {"ZERODHA_ROOT_URL": kite.url}).start()


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    from shared.db.engine import make_engine

    db = make_engine(Settings(), pool_size=2)
    yield db
    await db.dispose()


async def _connect_kite(client: httpx.AsyncClient, auth: dict[str, str], kite: StubKite) -> str:
    response = await client.post("/api/v1/brokers/zerodha/connections", headers=auth, json={
        "api_key": kite.session().api_key, "api_secret": kite.session().api_secret,
        "request_token": kite.issue_request_token()})
    assert response.status_code == 201, response.text
    account_id: str = response.json()["id"]
    return account_id


async def _order(client: httpx.AsyncClient, auth: dict[str, str], order_id: str) -> Any:
    response = await client.get(f"/api/v1/orders/{order_id}", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


async def _submit(client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, str]) -> str:
    response = await client.post("/api/v1/orders", json=body, headers=auth)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["id"]
    return order_id


async def _until_status(client: httpx.AsyncClient, auth: dict[str, str], ids: list[str],
                        wanted: set[str], timeout: float = 30) -> list[Any]:
    async def reached() -> bool:
        statuses = [(await _order(client, auth, i))["status"] for i in ids]
        return all(status in wanted for status in statuses)

    await wait_for(reached, timeout, f"orders to reach {wanted}")
    return [await _order(client, auth, i) for i in ids]


async def test_kite_order_is_placed_filled_by_its_postback_and_a_replay_changes_nothing(
        kite: StubKite, client: httpx.AsyncClient, worker: None, engine: AsyncEngine) -> None:
    auth = await register_and_login(client)
    account_id = await _connect_kite(client, auth, kite)
    order_id = await _submit(client, auth, {**KITE_BUY, "account_id": account_id})
    [accepted] = await _until_status(client, auth, [order_id], {"ACCEPTED"})
    assert accepted["broker"] == "zerodha"
    assert accepted["broker_status"] == "OPEN"

    kite.fill(accepted["broker_order_id"], Decimal(10), Decimal("1859.50"))  # Kite posts back
    [filled] = await _until_status(client, auth, [order_id], {"FILLED"})
    assert (filled["filled_quantity"], filled["avg_fill_price"]) == ("10", "1859.5")
    assert filled["broker_status"] == "COMPLETE"
    [position] = (await client.get("/api/v1/positions", headers=auth)).json()
    assert (position["symbol"], position["quantity"], position["avg_price"]) == (
        "INFY", "10", "1859.5")
    assert Decimal(position["unrealized_pnl"]) == (
        Decimal(position["market_price"]) - Decimal("1859.5")) * 10

    delivery = kite.delivery(accepted["broker_order_id"])
    replay = await client.post("/api/v1/webhooks/zerodha", content=delivery.body,
                               headers=delivery.headers)
    assert replay.status_code in (200, 202)
    # A valid checksum does not cover quantities: a forged one is re-fetched, not believed.
    forged = {**json.loads(delivery.body), "filled_quantity": 20, "status": "CANCELLED"}
    tampered = await client.post("/api/v1/webhooks/zerodha", content=json.dumps(forged))
    assert tampered.status_code == 202

    async def both_processed() -> bool:
        async with engine.connect() as conn:
            queued = (await conn.execute(text(
                "SELECT count(*) FROM webhook_events WHERE broker_order_id = :b"
                " AND status = 'queued'"), {"b": accepted["broker_order_id"]})).scalar_one()
        return bool(queued == 0)

    await wait_for(both_processed, 30, "the replayed postbacks to be processed")
    after = await _order(client, auth, order_id)
    assert (after["status"], after["filled_quantity"]) == ("FILLED", "10")
    assert await exactly_once_report(engine, [order_id]) == {order_id: (1, 1)}
    assert (await client.get("/api/v1/positions", headers=auth)).json() == [position]


async def test_while_kite_is_down_its_orders_wait_paper_fills_and_all_complete_once(
        kite: StubKite, client: httpx.AsyncClient, worker: None, engine: AsyncEngine) -> None:
    auth = await register_and_login(client)
    account_id = await _connect_kite(client, auth, kite)
    with kite.outage():
        kite_ids = [await _submit(client, auth, {**KITE_BUY, "account_id": account_id})
                    for _ in range(4)]
        paper_ids = [await _submit(client, auth, PAPER_BUY) for _ in range(3)]
        await _until_status(client, auth, paper_ids, {"FILLED"})

        async def circuit_open() -> bool:
            ready = (await client.get("/ready")).json()
            return "zerodha" in ready.get("brokers_unavailable", {})

        await wait_for(circuit_open, 30, "the zerodha circuit to open")
        waiting = [await _order(client, auth, i) for i in kite_ids]
        assert {o["status"] for o in waiting} <= {"PENDING_NEW", "SUBMITTED"}
        assert all(o["broker_order_id"] is None for o in waiting)
        assert any("waiting" in (o["status_detail"] or "") for o in waiting)

    placed = await _until_status(client, auth, kite_ids, {"ACCEPTED"}, timeout=60)
    for order in placed:
        kite.fill(order["broker_order_id"], Decimal(10), Decimal("1860"))
    await _until_status(client, auth, kite_ids, {"FILLED"})
    async with engine.connect() as conn:
        tags = (await conn.execute(text("SELECT broker_tag FROM orders WHERE id::text = ANY(:i)"),
                                   {"i": kite_ids})).scalars().all()
    assert [kite.orders_tagged(tag) for tag in tags] == [1, 1, 1, 1]
    report = await exactly_once_report(engine, kite_ids + paper_ids)
    assert set(report.values()) == {(1, 1)}
