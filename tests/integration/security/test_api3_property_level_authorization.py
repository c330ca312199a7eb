"""OWASP API3:2023 Broken Object Property Level Authorization: a request cannot set a
property the route does not take (status, fills, owner, role, cash: every body model refuses
unknown fields with a 422 naming them, and nothing is stored), and no answer carries a
secret the caller should not read (hashes, credentials, other keys)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import PASSWORD, get_ok, user_id_of
from tests.integration.security.conftest import Owned

pytestmark = pytest.mark.integration
ORDER = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "1",
         "price": "100.00", "time_in_force": "GTC"}
SMUGGLED = {"status": "FILLED", "filled_quantity": "1", "avg_fill_price": "0.01",
            "user_id": str(uuid.uuid4()), "role": "admin", "cash": "1000000000",
            "reserved_cash": "0", "version": 99, "id": str(uuid.uuid4())}


async def test_api3_every_json_body_the_api_takes_refuses_unknown_properties(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    components = schema["components"]["schemas"]
    open_bodies = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None:
                continue
            ref = body["schema"].get("$ref") or body["schema"].get("anyOf", [{}])[0].get("$ref")
            model = components[ref.rsplit("/", 1)[1]] if ref else body["schema"]
            if model.get("additionalProperties") is not False:
                open_bodies.append((method, path))
    assert open_bodies == []


@pytest.mark.parametrize("field", sorted(SMUGGLED))
async def test_api3_an_order_cannot_set_its_own_status_fills_owner_or_cash(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], field: str,
) -> None:
    response = await client.post("/api/v1/orders", json={**ORDER, field: SMUGGLED[field]},
                                 headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT count(*) FROM orders WHERE user_id = :u"),
                                     {"u": user_id_of(auth)})).scalar_one()
    assert stored == 0
    assert (await get_ok(client, auth, "/api/v1/account"))["cash"] == "100000"


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/api/v1/auth/register", {"email": "x@example.com", "password": PASSWORD,
                                       "role": "admin"}, "role"),
    ("PATCH", "/api/v1/me", {"full_name": "A", "role": "admin"}, "role"),
    ("PATCH", "/api/v1/me", {"email": "someone-else@example.com"}, "email"),
    ("POST", "/api/v1/api-keys", {"name": "k", "scopes": ["read"], "user_id": "{me}"},
     "user_id"),
    ("PATCH", "/api/v1/account/settings", {"cash": "1000000000"}, "cash"),
    ("PATCH", "/api/v1/orders/{order}", {"price": "101", "status": "FILLED"}, "status"),
    ("POST", "/api/v1/watchlists", {"name": "w", "user_id": "{me}"}, "user_id"),
])
async def test_api3_a_property_the_route_does_not_take_is_422_naming_it_and_changes_nothing(
    client: httpx.AsyncClient, owner: Owned, method: str, path: str, body: dict[str, Any],
    field: str,
) -> None:
    before = await owner.snapshot(client)
    me = str(user_id_of(owner.auth))
    sent = {k: (v.replace("{me}", me) if isinstance(v, str) else v) for k, v in body.items()}
    url = path.replace("{order}", owner.ids["order_id"])
    response = await client.request(method, url, json=sent, headers=owner.auth)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field
    assert await owner.snapshot(client) == before


async def test_api3_no_answer_carries_a_hash_a_credential_or_a_key_after_its_creation(
    client: httpx.AsyncClient, owner: Owned,
) -> None:
    snapshot = await owner.snapshot(client)
    keys = await get_ok(client, owner.auth, "/api/v1/api-keys")
    connections = await get_ok(client, owner.auth, "/api/v1/brokers/connections")
    answers = str([snapshot, keys, connections]).lower()
    for secret in ("password", "hash", "argon2", "api_secret", "access_token", "credentials",
                   owner.api_key.lower(), owner.api_key.split("_", 2)[2].lower()):
        assert secret not in answers, secret
