"""Order submission through the real API, PostgreSQL and Redis (no worker runs here)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import register_and_login, set_quote

pytestmark = pytest.mark.integration

LIMIT_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "10",
             "price": "100.00"}


async def _order_count(engine: AsyncEngine, headers: dict[str, str],
                       client: httpx.AsyncClient) -> int:
    listed = await client.get("/api/v1/orders", headers=headers)
    assert listed.status_code == 200
    return len(listed.json()["items"])


async def test_submit_returns_202_with_location_and_pending_order(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post("/api/v1/orders", json=LIMIT_BUY, headers=auth)
    assert response.status_code == 202, response.text
    order = response.json()
    assert response.headers["location"] == f"/api/v1/orders/{order['id']}"
    assert order["status"] == "PENDING_NEW"
    assert order["quantity"] == "10"
    assert order["price"] == "100"
    assert order["time_in_force"] == "DAY"
    assert order["broker"] == "paper"
    fetched = await client.get(response.headers["location"], headers=auth)
    assert fetched.status_code == 200
    assert fetched.json()["id"] == order["id"]


async def test_enums_are_case_insensitive_and_numbers_keep_every_digit(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = '{"symbol": "msft", "side": "buy", "order_type": "limit", "quantity": 3, ' \
           '"price": 400.01, "time_in_force": "gtc"}'
    response = await client.post("/api/v1/orders", content=body, headers={
        **auth, "content-type": "application/json"})
    assert response.status_code == 202, response.text
    order = response.json()
    assert (order["symbol"], order["side"], order["time_in_force"]) == ("MSFT", "BUY", "GTC")
    assert order["price"] == "400.01"


async def test_buy_reserves_buying_power(client: httpx.AsyncClient,
                                         auth: dict[str, str]) -> None:
    await client.post("/api/v1/orders", json=LIMIT_BUY, headers=auth)
    account = (await client.get("/api/v1/account", headers=auth)).json()
    assert Decimal(account["cash"]) == Decimal("100000")
    assert Decimal(account["buying_power"]) == Decimal("99000")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"symbol": "NOPE"}, "symbol"),
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "-5"}, "quantity"),
        ({"quantity": "ten"}, "quantity"),
        ({"quantity": "1.5"}, "quantity"),
        ({"price": None}, "price"),
        ({"price": "-1"}, "price"),
        ({"price": "0"}, "price"),
        ({"order_type": "STOP", "price": None}, "stop_price"),
        ({"order_type": "STOP_LIMIT", "stop_price": None}, "stop_price"),
        ({"quantity": "100000"}, "quantity"),  # 10M of AAPL: beyond buying power
        ({"side": "SELL"}, "quantity"),  # selling shares we do not hold
        ({"side": "HOLD"}, "side"),
        ({"symbol": "RELIANCE", "price": "2950.00"}, "symbol"),  # INR into a USD account
    ],
)
async def test_invalid_order_is_422_naming_the_field_and_persists_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
    change: dict[str, Any], field: str,
) -> None:
    body = {**LIMIT_BUY, **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = await client.post("/api/v1/orders", json=body, headers=auth)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"]["field"] == field
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    assert await _order_count(engine, auth, client) == 0
    account = (await client.get("/api/v1/account", headers=auth)).json()
    assert account["buying_power"] == "100000"


async def test_market_buy_reserves_ask_plus_cushion(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str]
) -> None:
    await set_quote(engine, "KO", "69.99", "70.00")
    response = await client.post("/api/v1/orders", headers=auth, json={
        "symbol": "KO", "side": "BUY", "order_type": "MARKET", "quantity": "10"})
    assert response.status_code == 202, response.text
    account = (await client.get("/api/v1/account", headers=auth)).json()
    assert Decimal(account["buying_power"]) == Decimal("100000") - Decimal("735")  # 70*1.05*10


async def test_idempotency_key_retry_creates_one_order(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str]
) -> None:
    headers = {**auth, "Idempotency-Key": "retry-me-1"}
    first = await client.post("/api/v1/orders", json=LIMIT_BUY, headers=headers)
    second = await client.post("/api/v1/orders", json=LIMIT_BUY, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert await _order_count(engine, auth, client) == 1
    different = await client.post("/api/v1/orders", json={**LIMIT_BUY, "quantity": "11"},
                                  headers=headers)
    assert different.status_code == 422
    assert different.json()["error"]["code"] == "idempotency_key_reused"
    assert await _order_count(engine, auth, client) == 1


async def test_client_order_id_is_unique_per_user(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = {**LIMIT_BUY, "client_order_id": "my-order-1"}
    assert (await client.post("/api/v1/orders", json=body, headers=auth)).status_code == 202
    again = await client.post("/api/v1/orders", json=body, headers=auth)
    assert again.status_code == 409
    assert again.json()["error"]["details"]["field"] == "client_order_id"
    other_user = await register_and_login(client)
    assert (await client.post("/api/v1/orders", json=body, headers=other_user)).status_code == 202


async def test_another_users_order_is_404(client: httpx.AsyncClient,
                                          auth: dict[str, str]) -> None:
    order = (await client.post("/api/v1/orders", json=LIMIT_BUY, headers=auth)).json()
    intruder = await register_and_login(client)
    for method, path in [("GET", f"/api/v1/orders/{order['id']}"),
                         ("GET", f"/api/v1/orders/{order['id']}/fills"),
                         ("DELETE", f"/api/v1/orders/{order['id']}")]:
        response = await client.request(method, path, headers=intruder)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "not_found"
    listed = (await client.get("/api/v1/orders", headers=intruder)).json()
    assert listed["items"] == []
    assert (await client.get(f"/api/v1/orders/{order['id']}", headers=auth)).status_code == 200


async def test_requests_without_a_valid_token_are_401(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}):
        response = await client.post("/api/v1/orders", json=LIMIT_BUY, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"


async def test_cancel_before_dispatch_cancels_at_once_and_releases_reservation(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str]
) -> None:
    order = (await client.post("/api/v1/orders", json=LIMIT_BUY, headers=auth)).json()
    response = await client.delete(f"/api/v1/orders/{order['id']}", headers=auth)
    assert response.status_code == 202
    assert response.json()["status"] == "CANCELED"
    account = (await client.get("/api/v1/account", headers=auth)).json()
    assert account["buying_power"] == "100000"
    again = await client.delete(f"/api/v1/orders/{order['id']}", headers=auth)
    assert again.status_code == 409
    async with engine.connect() as conn:
        statuses = (await conn.execute(text(
            "SELECT to_status FROM order_events WHERE order_id = :id ORDER BY version"),
            {"id": order["id"]})).scalars().all()
    assert statuses == ["PENDING_NEW", "CANCELED"]


async def test_list_orders_pages_newest_first(client: httpx.AsyncClient,
                                              auth: dict[str, str]) -> None:
    ids = []
    for _ in range(5):
        ids.append((await client.post("/api/v1/orders", json={**LIMIT_BUY, "quantity": "1"},
                                      headers=auth)).json()["id"])
    first = (await client.get("/api/v1/orders?limit=3", headers=auth)).json()
    assert [o["id"] for o in first["items"]] == ids[::-1][:3]
    rest = (await client.get(f"/api/v1/orders?limit=3&cursor={first['next_cursor']}",
                             headers=auth)).json()
    assert [o["id"] for o in rest["items"]] == ids[::-1][3:]
    assert rest["next_cursor"] is None
    too_many = await client.get("/api/v1/orders?limit=501", headers=auth)
    assert too_many.status_code == 422
