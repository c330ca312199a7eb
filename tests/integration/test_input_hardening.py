"""Bad input gets a clear 4xx naming what is wrong, and changes nothing (issue 8, holes 7-10)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.json_body import MAX_DEPTH
from api.middleware import MAX_BODY_BYTES
from shared.settings import get_settings
from tests.helpers import PASSWORD, set_quote, user_id_of

pytestmark = pytest.mark.integration

ORDER = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "10",
         "price": "100.00"}
JSON = {"content-type": "application/json"}


def _body(**fields: Any) -> str:
    """An order body as JSON text; a `raw:` string value is written verbatim (a JSON number)."""
    merged = {**ORDER, **fields}
    parts = []
    for key, value in merged.items():
        if isinstance(value, str) and value.startswith("raw:"):
            parts.append(f'"{key}": {value.removeprefix("raw:")}')
        else:
            parts.append(f"{json.dumps(key)}: {json.dumps(value)}")
    return "{" + ", ".join(parts) + "}"


def _assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code, error
    assert error["request_id"] == response.headers["x-request-id"]
    assert error["message"]
    return error


async def _assert_nothing_persisted(client: httpx.AsyncClient, engine: AsyncEngine,
                                    auth: dict[str, str]) -> None:
    async with engine.connect() as conn:
        orders = (await conn.execute(text("SELECT count(*) FROM orders WHERE user_id = :u"),
                                     {"u": user_id_of(auth)})).scalar_one()
    assert orders == 0
    account = (await client.get("/api/v1/account", headers=auth)).json()
    assert account["buying_power"] == "100000"
    assert account["cash"] == "100000"


async def _post_order(client: httpx.AsyncClient, auth: dict[str, str],
                      content: str | bytes) -> httpx.Response:
    return await client.post("/api/v1/orders", content=content, headers={**auth, **JSON})


# Hole 7: numbers beyond what NUMERIC(24,8) holds were a 500 from asyncpg.
@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"quantity": "1e30"}, "quantity", "at most 1000000000"),
        ({"quantity": "raw:1e30"}, "quantity", "at most 1000000000"),
        ({"quantity": "1e16"}, "quantity", "at most 1000000000"),
        ({"quantity": f"raw:{10**40}"}, "quantity", "at most 1000000000"),
        ({"quantity": "raw:1" + "0" * 5000}, "quantity", "at most 1000000000"),
        ({"price": "1e20"}, "price", "at most 1000000000"),
        ({"order_type": "STOP_LIMIT", "stop_price": "1e20"}, "stop_price", "at most 1000000000"),
        ({"quantity": "1e-999999999"}, "quantity", "at most 8 decimal places"),
        ({"quantity": "raw:1.000000001"}, "quantity", "at most 8 decimal places"),
        ({"price": "100.000000001"}, "price", "at most 8 decimal places"),
    ],
)
async def test_amount_beyond_numeric_range_is_422_naming_field_and_range(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
    fields: dict[str, Any], field: str, says: str,
) -> None:
    response = await _post_order(client, auth, _body(**fields))
    error = _assert_error(response, 422, "invalid_request")
    assert error["details"]["field"] == field
    assert field in error["message"]
    assert says in error["message"]
    await _assert_nothing_persisted(client, engine, auth)


@pytest.mark.parametrize(
    "fields",
    [
        {"quantity": "100000000", "price": "1000000000"},  # 1e17: beyond the cash columns
        {"order_type": "MARKET", "symbol": "SPY", "quantity": "100000000", "price": None},
    ],
    ids=["limit", "market"],
)
async def test_order_value_beyond_cash_range_is_422_naming_quantity(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
    fields: dict[str, Any],
) -> None:
    await set_quote(engine, "SPY", "999999999.99", "1000000000")  # the market reserves ask × 1.05
    body = {k: v for k, v in {**ORDER, **fields}.items() if v is not None}
    response = await client.post("/api/v1/orders", json=body, headers=auth)
    error = _assert_error(response, 422, "invalid_order")
    assert error["details"]["field"] == "quantity"
    assert "at most 1000000000000" in error["message"]
    await _assert_nothing_persisted(client, engine, auth)


# Hole 8: deep nesting was a RecursionError, so a 500.
@pytest.mark.parametrize(
    "content",
    [b"[" * 100_000, b'{"a":' * 20_000, b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
     _body(symbol="raw:" + "[" * 50 + "]" * 50).encode()],
    ids=["open-arrays", "open-objects", "closed-but-too-deep", "inside-an-order"],
)
async def test_deeply_nested_json_is_400_invalid_json(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], content: bytes,
) -> None:
    error = _assert_error(await _post_order(client, auth, content), 400, "invalid_json")
    assert f"deeper than {MAX_DEPTH}" in error["message"]
    login = await client.post("/api/v1/auth/login", content=content, headers=JSON)
    _assert_error(login, 400, "invalid_json")
    await _assert_nothing_persisted(client, engine, auth)


# Hole 9: Decimal() reads other scripts' digits, spaces and underscores.
@pytest.mark.parametrize("field", ["quantity", "price"])
@pytest.mark.parametrize("value", ["١٠٠", " 1 ", "1_000", "+1", "1.", ".5", "１", "1e", "0x10"])
async def test_number_not_in_plain_decimal_notation_is_422_naming_field(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
    field: str, value: str,
) -> None:
    response = await _post_order(client, auth, _body(**{field: value}))
    error = _assert_error(response, 422, "invalid_request")
    assert error["details"]["field"] == field
    assert error["message"].startswith(f"{field}: {field} must be")
    await _assert_nothing_persisted(client, engine, auth)


# Hole 10: json.loads keeps the last of duplicate keys.
@pytest.mark.parametrize(
    ("content", "key"),
    [
        ('{"symbol": "AAPL", "side": "SELL", "order_type": "LIMIT", "quantity": "10", '
         '"price": "100", "side": "BUY"}', "side"),
        ('{"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "10", '
         '"price": "100", "quantity": "1"}', "quantity"),
        ('{"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "10", '
         '"price": "100", "note": {"a": 1, "a": 2}}', "a"),
    ],
    ids=["side", "quantity", "nested"],
)
async def test_duplicate_key_in_order_is_400_naming_key(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
    content: str, key: str,
) -> None:
    error = _assert_error(await _post_order(client, auth, content), 400, "duplicate_key")
    assert error["details"]["field"] == key
    assert f'"{key}"' in error["message"]
    await _assert_nothing_persisted(client, engine, auth)


async def test_duplicate_email_at_registration_is_400_and_registers_nobody(
    client: httpx.AsyncClient, engine: AsyncEngine,
) -> None:
    first, second = (f"dup-{uuid.uuid4().hex[:10]}@example.com" for _ in range(2))
    content = f'{{"email": "{first}", "password": "{PASSWORD}", "email": "{second}"}}'
    response = await client.post("/api/v1/auth/register", content=content, headers=JSON)
    error = _assert_error(response, 400, "duplicate_key")
    assert error["details"]["field"] == "email"
    async with engine.connect() as conn:
        users = (await conn.execute(text("SELECT count(*) FROM users WHERE email IN (:a, :b)"),
                                    {"a": first, "b": second})).scalar_one()
    assert users == 0


def _json_routes(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (method, path) whose documented request body is JSON."""
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                found.append((method.upper(), path))
    return found


def _fill(path: str) -> str:
    return re.sub(r"\{broker\}", "zerodha", re.sub(r"\{[a-z_]+_id\}", str(uuid.uuid4()), path))


async def test_duplicate_key_is_400_on_every_json_route(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    json_routes = _json_routes((await client.get("/openapi.json")).json())
    expected = {("POST", "/api/v1/orders"), ("POST", "/api/v1/auth/register"),
                ("POST", "/api/v1/auth/login"), ("POST", "/api/v1/auth/refresh"),
                ("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/brokers/{broker}/connections")}
    assert expected <= set(json_routes)
    for method, path in json_routes:
        response = await client.request(method, _fill(path), content='{"a": 1, "a": 2}',
                                        headers={**auth, **JSON})
        error = _assert_error(response, 400, "duplicate_key")
        assert error["details"]["field"] == "a", (method, path)


# A body of any size used to be read whole; now past the limit it is refused unread.
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_body_beyond_size_limit_is_413_and_persists_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], declared: bool,
) -> None:
    limit = max(MAX_BODY_BYTES, get_settings().webhook_max_body_bytes)
    padded = _body().encode() + b" " * limit  # still valid JSON: whitespace may follow

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(padded), 65536):
            yield padded[start:start + 65536]

    response = await client.post("/api/v1/orders", headers={**auth, **JSON},
                                 content=padded if declared else chunks())
    error = _assert_error(response, 413, "body_too_large")
    assert f"larger than {limit} bytes" in error["message"]
    await _assert_nothing_persisted(client, engine, auth)


# The webhook door reads its body raw (it is verified byte for byte, and a broker's duplicate
# keys are the broker's business), but a body too deep to parse is no delivery: 401, not 500.
@pytest.mark.parametrize("broker", ["zerodha", "upstox/some-token", "groww", "ibkr", "angelone"])
async def test_deeply_nested_webhook_is_401_and_stores_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, broker: str,
) -> None:
    async with engine.connect() as conn:
        before = (await conn.execute(text("SELECT count(*) FROM webhook_events"))).scalar_one()
    response = await client.post(f"/api/v1/webhooks/{broker}", content=b"[" * 60_000,
                                 headers=JSON)
    _assert_error(response, 401, "invalid_signature")
    async with engine.connect() as conn:
        after = (await conn.execute(text("SELECT count(*) FROM webhook_events"))).scalar_one()
    assert after == before
