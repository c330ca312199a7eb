"""Orders name their account; what a broker cannot do is refused before anything is queued."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession
from shared.settings import Settings
from tests.helpers import connect_broker, register_and_login, user_id_of

pytestmark = pytest.mark.integration
INFY = {"symbol": "INFY", "side": "BUY", "order_type": "LIMIT", "quantity": "5",
        "price": "1860"}


async def _connect(engine: AsyncEngine, auth: dict[str, str], broker: Broker,
                   login: str = "AB1234") -> uuid.UUID:
    session = BrokerSession(api_key="k", api_secret="s", access_token="t",
                            broker_user_id=login)
    return await connect_broker(engine, auth, broker, session, Settings())


async def _orders_of(engine: AsyncEngine, auth: dict[str, str]) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM orders WHERE user_id = :u"),
                                       {"u": user_id_of(auth)})).scalar_one())


async def _refused(client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any],
                   status: int = 422) -> dict[str, Any]:
    response = await client.post("/api/v1/orders", json=body, headers=auth)
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


async def test_an_order_names_its_connection_and_carries_its_product(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str]) -> None:
    account = await _connect(engine, auth, Broker.ZERODHA)
    response = await client.post("/api/v1/orders", json={**INFY, "account_id": str(account),
                                                         "product": "mis"}, headers=auth)
    assert response.status_code == 202, response.text
    order = response.json()
    assert (order["broker"], order["account_id"], order["product"]) == (
        "zerodha", str(account), "MIS")
    by_broker = await client.post("/api/v1/orders", json={**INFY, "broker": "zerodha"},
                                  headers=auth)
    assert by_broker.status_code == 202
    assert (by_broker.json()["account_id"], by_broker.json()["product"]) == (str(account), "CNC")


@pytest.mark.parametrize(("extra", "field", "code"), [
    ({"broker": "zerodha"}, "broker", "broker_not_connected"),
    ({"broker": "nasdaq-direct"}, "broker", "unknown_broker"),
    ({"account_id": "00000000-0000-4000-8000-000000000001"}, "account_id", "invalid_order"),
])
async def test_an_unroutable_order_is_refused_and_nothing_is_stored(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        extra: dict[str, str], field: str, code: str) -> None:
    error = await _refused(client, auth, {**INFY, **extra})
    assert (error["details"]["field"], error["code"]) == (field, code)
    assert await _orders_of(engine, auth) == 0


async def test_another_users_account_is_not_yours_to_route_to(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str]) -> None:
    other = await register_and_login(client)
    theirs = await _connect(engine, other, Broker.ZERODHA)
    error = await _refused(client, auth, {**INFY, "account_id": str(theirs)})
    assert error["details"]["field"] == "account_id"
    assert await _orders_of(engine, auth) == 0


@pytest.mark.parametrize(("broker", "extra", "field"), [
    (Broker.ZERODHA, {"time_in_force": "GTC"}, "time_in_force"),
    (Broker.UPSTOX, {"product": "NRML"}, "product"),
    (Broker.ZERODHA, {"quantity": "1.5"}, "quantity"),
    (Broker.ZERODHA, {"symbol": "AAPL", "price": "228"}, "symbol"),
])
async def test_what_the_broker_cannot_do_is_refused_naming_the_field(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], broker: Broker,
        extra: dict[str, str], field: str) -> None:
    await _connect(engine, auth, broker)
    error = await _refused(client, auth, {**INFY, "broker": broker.value, **extra})
    assert (error["code"], error["details"]["field"]) in {
        ("unsupported_by_broker", field), ("invalid_order", field)}
    assert await _orders_of(engine, auth) == 0


async def test_paper_refuses_indian_products_and_exchanges(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str]) -> None:
    product = await _refused(client, auth, {"symbol": "AAPL", "side": "BUY",
                                            "order_type": "MARKET", "quantity": "1",
                                            "product": "CNC"})
    assert product["details"]["field"] == "product"
    exchange = await _refused(client, auth, INFY)
    assert exchange["details"] == {"field": "symbol", "value": "NSE", "broker": "paper"}


async def test_two_connections_at_one_broker_need_an_account_id(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str]) -> None:
    await _connect(engine, auth, Broker.ZERODHA, "AB1234")
    await _connect(engine, auth, Broker.ZERODHA, "XY9876")
    error = await _refused(client, auth, {**INFY, "broker": "zerodha"})
    assert error["details"]["field"] == "account_id"
    assert "2 zerodha connections" in error["message"]


async def test_an_expired_connection_refuses_new_orders_with_how_to_log_in(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str]) -> None:
    account = await _connect(engine, auth, Broker.ZERODHA)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE accounts SET token_expires_at = now() - interval '1 s'"
                                " WHERE id = :id"), {"id": account})
    error = await _refused(client, auth, {**INFY, "account_id": str(account)}, status=409)
    assert error["code"] == "connection_expired"
    assert f"/api/v1/brokers/zerodha/connections/{account}/refresh" in error["message"]
