"""OWASP API7:2023 Server Side Request Forgery: no request makes ordergate open an address
its caller chose. No body or parameter the API takes is a URL or a host; the brokers' hosts,
the SMTP server and the webhook addresses shown come from the settings alone."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from shared.settings import Settings
from tests.integration.security.conftest import Owned

pytestmark = pytest.mark.integration
ADDRESS_LIKE = re.compile(r"url|uri|host|endpoint|callback|redirect|domain|server|address",
                          re.IGNORECASE)


def _properties(node: Any, components: dict[str, Any], seen: set[str]) -> set[str]:
    """Every property name a schema holds, through its references."""
    if isinstance(node, list):
        return set().union(*(_properties(n, components, seen) for n in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    names: set[str] = set()
    ref = node.get("$ref")
    if isinstance(ref, str) and ref not in seen:
        seen.add(ref)
        names |= _properties(components[ref.rsplit("/", 1)[1]], components, seen)
    names |= set(node.get("properties", {}))
    for value in node.values():
        names |= _properties(value, components, seen)
    return names


async def test_api7_nothing_the_api_takes_is_an_address(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    components = schema["components"]["schemas"]
    taken: set[str] = set()
    for operations in schema["paths"].values():
        for operation in operations.values():
            taken |= {p["name"] for p in operation.get("parameters", ())}
            for content in operation.get("requestBody", {}).get("content", {}).values():
                taken |= _properties(content.get("schema", {}), components, set())
    assert len(taken) > 40
    assert sorted(name for name in taken if ADDRESS_LIKE.search(name)) == []


@pytest.mark.parametrize("field", ["root_url", "base_url", "host", "redirect_uri"])
async def test_api7_a_broker_login_cannot_name_the_brokers_address(
    client: httpx.AsyncClient, auth: dict[str, str], field: str,
) -> None:
    response = await client.post(
        "/api/v1/brokers/zerodha/connections", headers=auth,
        json={"api_key": "k", "api_secret": "s", "request_token": "t",
              field: "http://127.0.0.1:9/steal"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field


async def test_api7_a_connections_webhook_address_is_the_deployments_own(
    client: httpx.AsyncClient, owner: Owned,
) -> None:
    connection = (await client.get(
        f"/api/v1/brokers/groww/connections/{owner.ids['connection_id']}",
        headers={**owner.auth, "Host": f"evil-{uuid.uuid4().hex[:6]}.example.com",
                 "X-Forwarded-Host": "evil.example.com"})).json()
    assert connection["webhook_url"] == Settings().public_base_url + "/api/v1/webhooks/groww"
