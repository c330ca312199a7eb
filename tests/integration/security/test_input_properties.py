"""Property-based tests (Hypothesis) of every JSON body the API takes: one field of a valid
body made hostile (a NaN, an infinity, a number past any column, an exponent no Decimal
column holds, other scripts' digits, a string of 20,000 characters, control characters, a
lone surrogate, deep nesting, the wrong type) is a 4xx in the one error shape, never a 5xx,
and writes nothing.

Driven by the OpenAPI document: a route with a JSON body and no entry in BODIES fails."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from shared.settings import Settings
from tests.helpers import PASSWORD
from tests.integration.security.conftest import Owned

pytestmark = pytest.mark.integration

ORDER = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "1",
         "price": "100.00", "time_in_force": "GTC", "client_order_id": "p1"}
TRADE = {"symbol": "AAPL", "side": "BUY", "quantity": "10", "price": "100",
         "executed_at": "2026-03-02T10:00:00+00:00", "notes": "n"}
# A valid body of every route that takes JSON, and the fields to attack (dotted: nested).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/auth/register"): {"email": "new@example.com", "password": PASSWORD,
                                        "username": "newbie"},
    ("POST", "/api/v1/auth/login"): {"email": "{email}", "password": PASSWORD},
    ("POST", "/api/v1/auth/request-otp"): {"email": "{email}"},
    ("POST", "/api/v1/auth/otp-login"): {"email": "{email}", "otp": "123456"},
    ("POST", "/api/v1/auth/refresh"): {"refresh_token": "r" * 43},
    ("POST", "/api/v1/auth/logout"): {"refresh_token": "r" * 43},
    ("POST", "/api/v1/orders"): ORDER,
    ("PATCH", "/api/v1/orders/{order_id}"): {"price": "101.00", "quantity": "1"},
    ("POST", "/api/v1/orders/batch"): {"orders": [ORDER]},
    ("POST", "/api/v1/positions/{symbol}/close"): {"percentage": "50"},
    ("POST", "/api/v1/positions/close"): {"percentage": "50"},
    ("POST", "/api/v1/api-keys"): {"name": "bot", "scopes": ["read"]},
    ("POST", "/api/v1/watchlists"): {"name": "tech"},
    ("PATCH", "/api/v1/watchlists/{watchlist_id}"): {"name": "renamed"},
    ("POST", "/api/v1/watchlists/{watchlist_id}/items"): {"symbol": "MSFT"},
    ("PUT", "/api/v1/watchlists/{watchlist_id}/order"): {"symbols": ["AAPL"]},
    ("PATCH", "/api/v1/me"): {"username": "ada", "full_name": "Ada Lovelace"},
    ("POST", "/api/v1/me/password"): {"current_password": PASSWORD,
                                      "new_password": "another long passphrase"},
    ("PUT", "/api/v1/admin/users/{user_id}/role"): {"role": "admin"},
    ("POST", "/api/v1/admin/users/{user_id}/cash"): {"amount": "100", "reason": "top-up"},
    ("POST", "/api/v1/admin/brokers/{broker}/pause"): {"reason": "maintenance"},
    ("POST", "/api/v1/admin/news"): {"title": "Markets open late", "summary": "At 10:00.",
                                     "source": "desk", "symbols": ["AAPL"],
                                     "published_at": "2026-12-01T09:00:00+00:00"},
    ("POST", "/api/v1/trades"): TRADE,
    ("PUT", "/api/v1/trades/{trade_id}"): TRADE,
    ("POST", "/api/v1/portfolios"): {"name": "long term", "description": "core"},
    ("PATCH", "/api/v1/portfolios/{portfolio_id}"): {"name": "renamed", "description": "d"},
    ("PATCH", "/api/v1/account/settings"): {"outside_session": True,
                                            "risk_limits": {"max_open_orders": 5}},
    ("POST", "/api/v1/brokers/{broker}/connections"): {"api_key": "k", "api_secret": "s",
                                                       "request_token": "t", "label": "main"},
    ("POST", "/api/v1/brokers/{broker}/connections/{connection_id}/refresh"): {
        "label": "main", "market_protection": "5"},
    ("PUT", "/api/v1/settings/profile"): {"name": "Ada", "mobile": "+919876543210",
                                          "timezone": "Asia/Kolkata"},
    ("PUT", "/api/v1/settings/preferences"): {"default_account_id": None,
                                              "default_order_type": "LIMIT",
                                              "default_time_in_force": "DAY",
                                              "order_confirmations": True},
}
NESTED = {("POST", "/api/v1/orders/batch"): [f"orders.0.{f}" for f in ORDER],
          ("PATCH", "/api/v1/account/settings"): ["risk_limits.max_open_orders"]}
# Secrets may hold any character: only what no field takes is tried on them.
SECRETS = {"password", "current_password", "new_password", "api_key", "api_secret",
           "request_token", "refresh_token", "otp"}
AMOUNTS = {"quantity", "price", "percentage", "amount", "market_protection"}

ANY_FIELD = st.sampled_from([
    "NaN", "Infinity", "-Infinity", "1e999999", "-1e999999", "1" + "0" * 400,
    "[" * 40 + "]" * 40, json.dumps("x" * 20_000), '"a\\u0000b"', '"\\ud800"',
])
NOT_A_SECRET = st.sampled_from(['"a\\u001bb"', '"\\u007f"', '{"$ne": null}', "[1, 2]"])
NOT_AN_AMOUNT = st.sampled_from(['"\u0661\u0662\u0663"', '"\uff11"', '"1_000"', '" 1 "',
                                 '"0x10"', "-2.5", '"-2.5"', '"1e999999"', '"1E-999999"'])
TABLES = ("users", "accounts", "orders", "order_events", "api_keys", "watchlists",
          "watchlist_items", "trades", "user_settings", "positions", "cash_journal",
          "dispatch_pauses", "refresh_tokens", "login_codes", "portfolios", "news_articles",
          "news_symbols")


@pytest.fixture(scope="module")
async def app() -> AsyncIterator[FastAPI]:
    """The API with every broker at a closed local port: nothing here reaches a broker."""
    closed = "http://127.0.0.1:9"
    application = create_app(Settings(
        zerodha_root_url=closed, upstox_base_url=closed, upstox_order_url=closed,
        groww_base_url=closed, angelone_base_url=closed))
    async with application.router.lifespan_context(application):
        yield application


async def _fingerprint(engine: AsyncEngine) -> str:
    """One digest of every row of every table a request could write (not the audit log,
    which records refused logins on purpose)."""
    digests = []
    async with engine.connect() as conn:
        for table in TABLES:
            digests.append(str((await conn.execute(text(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                f" FROM {table} t"))).scalar_one()))
    return hashlib.sha256("".join(digests).encode()).hexdigest()


def _raw_body(body: dict[str, Any], field: str, raw: str) -> str:
    """`body` as JSON text with `field` (dotted for nested ones) set to the raw JSON `raw`."""
    marker = f"__hostile_{uuid.uuid4().hex}__"
    body = json.loads(json.dumps(body))
    target: Any = body
    *parents, last = field.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[int(last) if isinstance(target, list) else last] = marker
    return json.dumps(body).replace(json.dumps(marker), raw)


async def test_every_json_body_the_api_takes_has_hostile_input_tried_on_it(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    taken = {(method.upper(), path) for path, operations in schema["paths"].items()
             for method, operation in operations.items()
             if "application/json" in operation.get("requestBody", {}).get("content", {})}
    assert taken == set(BODIES)


@pytest.mark.parametrize("route", sorted(BODIES), ids=" ".join)
@settings(max_examples=12, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_a_hostile_field_is_a_4xx_in_the_error_shape_and_writes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, owner: Owned, route: tuple[str, str],
    data: st.DataObject,
) -> None:
    method, path = route
    body = BODIES[route]
    fields = NESTED.get(route, list(body))
    field = data.draw(st.sampled_from(fields), label="field")
    name = field.rsplit(".", 1)[-1]
    values = [ANY_FIELD] + ([NOT_A_SECRET] if name not in SECRETS else []) + (
        [NOT_AN_AMOUNT] if name in AMOUNTS else [])
    raw = data.draw(st.one_of(values), label="value")
    email = (await client.get("/api/v1/me", headers=owner.auth)).json()["email"]
    ids = {**owner.ids, "symbol": "AAPL", "broker": "groww", "user_id": str(uuid.uuid4())}
    url = re.sub(r"\{(\w+)\}", lambda m: ids[m[1]], path)
    content = _raw_body(body, field, raw).replace("{email}", email)
    before = await _fingerprint(engine)
    response = await client.request(method, url, content=content, headers={
        **owner.auth, "Content-Type": "application/json"})
    answer = response.json()
    if response.status_code == 207:  # a batch: each order its own answer, each refused
        errors = [item["error"] for item in answer["items"]]
        assert all(400 <= item["http_status"] < 500 for item in answer["items"]), answer
    else:
        assert 400 <= response.status_code < 500, (field, raw[:60], response.text[:300])
        errors = [answer["error"]]
    assert all(set(e) == {"code", "message", "details", "request_id"} for e in errors)
    assert "Traceback" not in response.text
    assert await _fingerprint(engine) == before, (field, raw[:60])
