"""The API's one log line per request: what it names, and what it must not."""

from __future__ import annotations

import logging
import secrets
import uuid

import httpx
import pytest

from shared import logs


async def test_each_request_is_one_line_naming_its_route_and_request_id(
        client: httpx.AsyncClient, auth: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    order_id = str(uuid.uuid4())
    with caplog.at_level(logging.INFO, logger="api.access"):
        answer = await client.get(f"/api/v1/orders/{order_id}?fields=all", headers=auth)
    [line] = [r for r in caplog.records if r.name == "api.access"]
    assert answer.status_code == 404
    assert (line.method, line.path, line.route, line.status) == (  # type: ignore[attr-defined]
        "GET", f"/api/v1/orders/{order_id}", "/api/v1/orders/{order_id}", 404)
    assert line.request_id == answer.headers["x-request-id"]  # type: ignore[attr-defined]


async def test_a_secret_in_the_path_is_not_logged(
        client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    token = secrets.token_urlsafe(24)  # an Upstox connection's webhook URL ends in its token
    with caplog.at_level(logging.INFO, logger="api.access"):
        await client.post(f"/api/v1/webhooks/upstox/{token}", json={"order_id": "x"})
    [line] = [r for r in caplog.records if r.name == "api.access"]
    assert line.route == "/api/v1/webhooks/{broker}/{token}"  # type: ignore[attr-defined]
    assert line.path == f"/api/v1/webhooks/upstox/{logs.REDACTED}"  # type: ignore[attr-defined]
    assert token not in logs.formatter().format(line)
