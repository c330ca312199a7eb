"""The API's one log line per request: what it names, and what it must not."""

from __future__ import annotations

import logging
import secrets
import uuid

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from starlette.types import Message, Scope

from api.metrics.middleware import CLIENT_CLOSED
from shared import logs

ORDERS = "/api/v1/orders"


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


async def test_a_client_gone_before_its_body_arrived_is_no_error_and_no_500(
        app: FastAPI, auth: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    # What uvicorn hands the app when the client hangs up halfway through its body.
    arriving: list[Message] = [{"type": "http.request", "body": b'{"symbol": "AA',
                                "more_body": True}, {"type": "http.disconnect"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return arriving.pop(0) if arriving else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [(b"host", b"testserver"), (b"content-type", b"application/json"),
               (b"content-length", b"100"),
               *((name.lower().encode(), value.encode()) for name, value in auth.items())]
    scope: Scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                    "method": "POST", "scheme": "http", "path": ORDERS,
                    "raw_path": ORDERS.encode(), "root_path": "", "query_string": b"",
                    "headers": headers, "client": ("127.0.0.1", 50000),
                    "server": ("testserver", 80)}
    failures_before = _requests(ORDERS, "500")
    with caplog.at_level(logging.INFO):
        await app(scope, receive, send)
    assert sent == []  # nobody is left to read an answer
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    [line] = [r for r in caplog.records if r.name == "api.access"]
    assert line.status == CLIENT_CLOSED  # type: ignore[attr-defined]
    assert _requests(ORDERS, "500") == failures_before
    assert _requests(ORDERS, str(CLIENT_CLOSED)) >= 1


def _requests(route: str, status: str) -> float:
    """How many POSTs to this route /metrics counts with this status."""
    counted = REGISTRY.get_sample_value("ordergate_http_request_duration_seconds_count",
                                        {"method": "POST", "route": route, "status": status})
    return counted or 0.0
