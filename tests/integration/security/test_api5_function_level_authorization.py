"""OWASP API5:2023 Broken Function Level Authorization: an admin function is refused to a
user (403) and to any API key, an admin's own included (403 `login_required`); a `read` key
changes nothing anywhere (403); the operator's view of the queues is not a user's.

Driven by the OpenAPI document: every admin route and every non-GET route is tried."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.admins import api_key, new_admin
from tests.integration.security.conftest import Owned

pytestmark = pytest.mark.integration
VALUES = {"broker": "groww", "symbol": "AAPL", "token": "a-token"}


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, operation) for path, operations in schema["paths"].items()
            for method, operation in operations.items()]


def _url(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: {**VALUES, **ids}.get(m[1], str(uuid.uuid4())),
                  path)


async def test_api5_every_admin_route_is_refused_to_users_and_to_every_api_key(
    client: httpx.AsyncClient, engine: AsyncEngine, owner: Owned,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    admin = await new_admin(client, engine)
    admins_key = await api_key(client, admin)
    tried = 0
    for method, path, _ in _operations(schema):
        if not path.startswith("/api/v1/admin/"):
            continue
        url = _url(path, {"user_id": str(uuid.uuid4())})
        for caller, code in ((owner.auth, "forbidden"), (admins_key, "login_required")):
            response = await client.request(method, url, json={}, headers=caller)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["error"]["code"] == code, (method, path)
        assert (await client.request(method, url, json={})).status_code == 401
        tried += 1
    assert tried >= 6


async def test_api5_a_read_key_changes_nothing_on_any_route(
    client: httpx.AsyncClient, owner: Owned,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    reader = await api_key(client, owner.auth, ("read",))
    before = await owner.snapshot(client)
    tried = 0
    for method, path, operation in _operations(schema):
        if method == "GET" or not operation.get("security") or path.startswith("/api/v1/admin"):
            continue
        response = await client.request(method, _url(path, owner.ids), json={}, headers=reader)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] in ("insufficient_scope", "login_required")
        tried += 1
    assert tried >= 25
    assert await owner.snapshot(client) == before


async def test_api5_only_an_admin_or_the_operator_sees_the_queues_in_full(
    client: httpx.AsyncClient, engine: AsyncEngine, owner: Owned,
) -> None:
    user_view = (await client.get("/api/v1/queue/status", headers=owner.auth)).json()
    admin_view = (await client.get("/api/v1/queue/status",
                                   headers=await new_admin(client, engine))).json()
    assert "queues" in admin_view
    assert not {"queues", "workers", "orders_waiting"} & set(user_view)
