"""OWASP API1:2023 Broken Object Level Authorization: another user's object, named on any
route and by any verb, is a 404 (the same as one that does not exist) and stays as it was.

Driven by the OpenAPI document: a route with a parameter this file does not know fails
test_api1_every_parameter_naming_an_object_is_attacked, so a new route gets its attack."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.security.conftest import Owned

pytestmark = pytest.mark.integration

# Parameters naming one user's object: the owner fixture's id of each kind.
OBJECTS = {"order_id", "key_id", "watchlist_id", "trade_id", "connection_id", "account_id",
           "portfolio_id"}
# Parameters naming nothing a user owns, and why each is safe.
NOT_OBJECTS = {
    "broker": "a broker's name; the connection id beside it is checked",
    "symbol": "an instrument, the same for everyone; read or changed within your own account",
    "token": "a webhook's connection secret: knowing it is the proof (test_api7)",
    "user_id": "admin routes only (test_api5); /admin/audit filters all users' entries",
    "client_order_id": "a filter of your own orders",
}
TRADEBOOK = Path(__file__).parents[2] / "fixtures" / "tradebook" / "tradebook.csv"
# What each route that takes a body is sent: valid, so only the owner check can refuse it.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/v1/orders/{order_id}"): {"json": {"price": "101.00"}},
    ("PATCH", "/api/v1/watchlists/{watchlist_id}"): {"json": {"name": "mine now"}},
    ("POST", "/api/v1/watchlists/{watchlist_id}/items"): {"json": {"symbol": "MSFT"}},
    ("PUT", "/api/v1/watchlists/{watchlist_id}/order"): {"json": {"symbols": ["AAPL"]}},
    ("PATCH", "/api/v1/portfolios/{portfolio_id}"): {"json": {"name": "mine now"}},
    ("PUT", "/api/v1/trades/{trade_id}"): {"json": {
        "symbol": "AAPL", "side": "SELL", "quantity": "1", "price": "1",
        "executed_at": "2026-03-02T10:00:00+00:00"}},
    ("POST", "/api/v1/brokers/{broker}/connections/{connection_id}/refresh"): {"json": {}},
    ("PATCH", "/api/v1/account/settings"): {"json": {"risk_limits": {"max_open_orders": 1}}},
    ("POST", "/api/v1/trades/import"): {"content": TRADEBOOK.read_bytes(),
                                        "headers": {"Content-Type": "text/csv"}},
}
VALUES = {"broker": "groww", "symbol": "AAPL"}


def _attacks(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation with a parameter naming an object: (method, path, its parameters)."""
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            names = {p["name"]: p["in"] for p in operation.get("parameters", ())}
            if OBJECTS & set(names):
                found.append((method.upper(), path, names))
    return found


async def test_api1_every_parameter_naming_an_object_is_attacked(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    named = {p["name"] for ops in schema["paths"].values() for op in ops.values()
             for p in op.get("parameters", ()) if p["in"] == "path" or p["name"].endswith("_id")}
    assert named - OBJECTS - set(NOT_OBJECTS) == set(), "add the parameter to OBJECTS"
    bodies = [(m.upper(), p) for p, ops in schema["paths"].items() for m, op in ops.items()
              if op.get("requestBody", {}).get("required")]
    attacked = {(method, path) for method, path, _ in _attacks(schema)}
    assert {key for key in bodies if key in attacked} <= set(BODIES), "add a body to BODIES"


async def test_api1_bola_another_users_object_is_404_on_every_route_and_verb(
    client: httpx.AsyncClient, owner: Owned, intruder: dict[str, str],
) -> None:
    schema = (await client.get("/openapi.json")).json()
    before = await owner.snapshot(client)
    refused = []
    values = {**VALUES, **owner.ids}
    for method, path, names in _attacks(schema):
        url = re.sub(r"\{(\w+)\}", lambda m: values[m[1]], path)
        query = {n: owner.ids[n] for n, where in names.items() if where == "query"
                 and n in OBJECTS}
        extra = BODIES.get((method, path), {})
        headers = {**intruder, **extra.get("headers", {})}
        response = await client.request(method, url, params=query, headers=headers,
                                        **{k: v for k, v in extra.items() if k != "headers"})
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"].endswith("not_found"), (method, path)
        refused.append((method, path))
    assert len(refused) >= 25
    assert await owner.snapshot(client) == before


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/v1/orders", {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT",
                                "quantity": "1", "price": "100", "account_id": "{account}"}),
    ("POST", "/api/v1/orders/batch", {"orders": [
        {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "1",
         "price": "100", "client_order_id": "x1", "account_id": "{account}"}]}),
    ("POST", "/api/v1/positions/AAPL/close", {"account_id": "{account}"}),
    ("POST", "/api/v1/trades", {"symbol": "AAPL", "side": "BUY", "quantity": "1",
                                "price": "1", "executed_at": "2026-03-02T10:00:00+00:00",
                                "account_id": "{account}"}),
    ("PUT", "/api/v1/settings/preferences", {
        "default_account_id": "{account}", "default_order_type": "LIMIT",
        "default_time_in_force": "DAY", "order_confirmations": True}),
])
async def test_api1_bola_another_users_account_in_a_body_is_refused_as_an_unknown_one(
    client: httpx.AsyncClient, owner: Owned, intruder: dict[str, str],
    method: str, path: str, body: dict[str, Any],
) -> None:
    """A body that names an account is answered as for an account that does not exist (a
    body's unknown reference is a 422 naming it, a path's a 404): nothing tells the two
    apart, and nothing changes."""
    before = await owner.snapshot(client)
    foreign = await _send(client, intruder, method, path, body, owner.ids["connection_id"])
    unknown = await _send(client, intruder, method, path, body, str(uuid.uuid4()))
    assert foreign["status"] in (404, 422), foreign
    assert foreign["details"]["field"].endswith("account_id"), foreign
    assert foreign == unknown
    assert await owner.snapshot(client) == before


async def _send(client: httpx.AsyncClient, auth: dict[str, str], method: str, path: str,
                body: dict[str, Any], account: str) -> dict[str, Any]:
    """The status, code, field and message of the answer (of its one item, for a batch)."""
    text = httpx.Request(method, "/", json=body).content.decode().replace("{account}", account)
    response = await client.request(method, path, content=text,
                                    headers={**auth, "Content-Type": "application/json"})
    if response.status_code == 207:
        (item,) = response.json()["items"]
        status, error = item["http_status"], item["error"]
    else:
        status, error = response.status_code, response.json()["error"]
    return {"status": status, "code": error["code"],
            "details": {k: v for k, v in error["details"].items() if k != "value"},
            "message": error["message"].replace(account, "")}


async def test_api1_bola_lists_show_only_your_own(
    client: httpx.AsyncClient, owner: Owned, intruder: dict[str, str],
) -> None:
    for path in ("/api/v1/orders", "/api/v1/fills", "/api/v1/positions", "/api/v1/trades",
                 "/api/v1/api-keys", "/api/v1/watchlists", "/api/v1/brokers/connections",
                 "/api/v1/portfolios", "/api/v1/holdings",
                 "/api/v1/me/audit", f"/api/v1/me/audit?user_id={owner.ids['account_id']}"):
        response = await client.get(path, headers=intruder)
        assert response.status_code == 200, (path, response.text)
        assert not any(value in response.text for value in owner.ids.values()), path
