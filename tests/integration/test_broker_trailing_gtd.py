"""Trailing stops and GTD orders at real brokers: taken for IBKR (placed, changed and expired
through the worker's handlers against the FakeIB), refused for the Indian brokers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession
from shared.settings import Settings
from tests.helpers import connect_broker, get_ok, place, user_id_of
from tests.integration.replacing import ORDERS, patch
from tests.stubs.ibkr.fake_ib import ACCOUNT, BookOrder, FakeIB
from worker.brokers.ibkr import adapter as ibkr_adapter
from worker.brokers.ibkr.connection import Endpoint, IbConnection
from worker.handlers.broker_modify import modify_at_broker
from worker.handlers.broker_orders import place_orders, sync_order
from worker.runtime import Runtime

pytestmark = pytest.mark.integration
TRAILING = {"symbol": "AAPL", "side": "BUY", "order_type": "TRAILING_STOP", "quantity": "10",
            "trail_percent": "2"}
GTD = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "10",
       "price": "200.00", "time_in_force": "GTD"}


def _expire_at(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def _connect(engine: AsyncEngine, auth: dict[str, str], broker: Broker) -> uuid.UUID:
    login = ACCOUNT if broker is Broker.IBKR else "AB1234"
    session = BrokerSession(api_key="k", api_secret="s", access_token="t", broker_user_id=login)
    return await connect_broker(engine, auth, broker, session, Settings())


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIB]:
    """The gateway every IBKR adapter of this process talks to: a FakeIB."""
    ib = FakeIB()
    connection = IbConnection(ib, Endpoint("127.0.0.1", 4002, 7), timeout=2.0)
    monkeypatch.setattr(ibkr_adapter, "shared_connection", lambda settings: connection)
    yield ib
    connection.close()


async def _working_at_ib(client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime,
                         fake: FakeIB, body: dict[str, Any]) -> tuple[str, BookOrder]:
    order_id = await place(client, auth, broker="ibkr", **body)
    assert await place_orders(runtime, [order_id]) == 1
    await sync_order(runtime, uuid.UUID(order_id))
    order = await get_ok(client, auth, f"{ORDERS}/{order_id}")
    assert order["status"] == "ACCEPTED", order
    [held] = fake.order_by_ref(order_id)
    return order_id, held


async def _orders_of(engine: AsyncEngine, auth: dict[str, str]) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM orders WHERE user_id = :u"),
                                       {"u": user_id_of(auth)})).scalar_one())


@pytest.mark.parametrize("body", [
    TRAILING, {**TRAILING, "trail_percent": None, "trail_price": "3.50"},
    {**GTD, "expire_at": _expire_at(48)}])
async def test_ibkr_takes_trailing_stops_and_gtd_orders(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        body: dict[str, Any]) -> None:
    await _connect(engine, auth, Broker.IBKR)
    given = {name: value for name, value in body.items() if value is not None}
    response = await client.post(ORDERS, json={**given, "broker": "ibkr"}, headers=auth)
    assert response.status_code == 202, response.text
    order = response.json()
    assert (order["broker"], order["order_type"], order["time_in_force"]) == (
        "ibkr", body["order_type"], body.get("time_in_force", "DAY"))


@pytest.mark.parametrize(("body", "field", "value"), [
    ({**TRAILING, "symbol": "INFY"}, "order_type", "TRAILING_STOP"),
    ({**GTD, "symbol": "INFY", "price": "1860", "expire_at": _expire_at(48)},
     "time_in_force", "GTD"),
])
async def test_zerodha_refuses_trailing_stops_and_gtd_naming_them(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        body: dict[str, Any], field: str, value: str) -> None:
    await _connect(engine, auth, Broker.ZERODHA)
    response = await client.post(ORDERS, json={**body, "broker": "zerodha"}, headers=auth)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["details"]) == (
        "unsupported_by_broker", {"field": field, "value": value, "broker": "zerodha"})
    assert await _orders_of(engine, auth) == 0


async def test_a_trailing_stop_at_ib_is_placed_as_trail_and_its_trail_changed_there(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        runtime: Runtime, fake: FakeIB) -> None:
    await _connect(engine, auth, Broker.IBKR)
    order_id, held = await _working_at_ib(client, auth, runtime, fake, TRAILING)
    # Amounts reach IB as the exact text of their Decimals (the database's 8 places).
    assert (held.order.orderType, Decimal(str(held.order.trailingPercent))) == (
        "TRAIL", Decimal(2))
    response = await patch(client, auth, order_id, {"trail_price": "4.25"})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "PENDING_REPLACE"
    assert await modify_at_broker(runtime, order_id)
    [changed] = fake.order_by_ref(order_id)
    assert (changed.order_id, Decimal(str(changed.order.auxPrice))) == (
        held.order_id, Decimal("4.25"))
    order = await get_ok(client, auth, f"{ORDERS}/{order_id}")
    assert (order["status"], order["trail_price"], order["trail_percent"]) == (
        "ACCEPTED", "4.25", None)


async def test_a_gtd_order_at_ib_takes_a_new_expiry_but_not_a_new_time_in_force(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        runtime: Runtime, fake: FakeIB) -> None:
    await _connect(engine, auth, Broker.IBKR)
    order_id, held = await _working_at_ib(client, auth, runtime, fake,
                                          {**GTD, "expire_at": "2030-01-02T21:00:00Z"})
    assert (held.order.tif, held.order.goodTillDate) == ("GTD", "20300102 21:00:00 UTC")
    to_gtc = await patch(client, auth, order_id, {"time_in_force": "GTC"})
    assert to_gtc.status_code == 422, to_gtc.text
    assert (to_gtc.json()["error"]["code"], to_gtc.json()["error"]["details"]["field"]) == (
        "unsupported_by_broker", "time_in_force")
    later = await patch(client, auth, order_id, {"expire_at": "2030-01-03T15:30:00-05:00"})
    assert later.status_code == 202, later.text
    assert await modify_at_broker(runtime, order_id)
    [changed] = fake.order_by_ref(order_id)
    assert changed.order.goodTillDate == "20300103 20:30:00 UTC"
    order = await get_ok(client, auth, f"{ORDERS}/{order_id}")
    assert (order["status"], datetime.fromisoformat(order["expire_at"])) == (
        "ACCEPTED", datetime(2030, 1, 3, 20, 30, tzinfo=UTC))


async def test_a_gtd_order_ib_ends_at_its_good_till_date_is_expired_here(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        runtime: Runtime, fake: FakeIB) -> None:
    await _connect(engine, auth, Broker.IBKR)
    due = datetime.now(UTC) + timedelta(hours=1)
    order_id, held = await _working_at_ib(client, auth, runtime, fake,
                                          {**GTD, "expire_at": due.isoformat()})
    fake.expire(held.perm_id, at=due)  # IB's news of it, dated when it came
    await sync_order(runtime, uuid.UUID(order_id))
    order = await get_ok(client, auth, f"{ORDERS}/{order_id}")
    assert (order["status"], order["broker_status"]) == ("EXPIRED", "Cancelled")
