"""The HTTP edge: security headers, trusted hosts, CORS, media types, methods, compression and
the request deadline, against the real app, PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import gzip
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.edge import JSON_CSP
from api.main import create_app
from shared.settings import Settings
from tests.helpers import place

pytestmark = pytest.mark.integration
ORDERS = "/api/v1/orders"
APP_ORIGIN = "https://app.example.com"
ORDER = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "1",
         "price": "1.00", "time_in_force": "GTC"}


@asynccontextmanager
async def _serving(app: FastAPI, host: str = "testserver") -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
            yield client


def _with(**overrides: Any) -> FastAPI:
    return create_app(Settings(**overrides))


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-request-id"]
    return error


# ---------------------------------------------------------------- security headers


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/health", 200), ("GET", ORDERS, 401), ("GET", "/api/v1/nowhere", 404),
    ("PUT", ORDERS, 405),
])
async def test_every_json_answer_carries_the_security_headers_and_is_never_stored(
    client: httpx.AsyncClient, method: str, path: str, status: int,
) -> None:
    response = await client.request(method, path)
    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"] == JSON_CSP
    assert response.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in response.headers  # served over http here


async def test_html_keeps_a_policy_its_route_set_and_is_kept_out_of_frames_otherwise() -> None:
    app = _with()
    own = "default-src 'self'; script-src 'self'; frame-ancestors 'none'"

    async def page() -> HTMLResponse:
        return HTMLResponse("<p>hi</p>", headers={"Content-Security-Policy": own})

    app.add_api_route("/own-policy", page)
    async with _serving(app) as client:
        mine = await client.get("/own-policy")
        docs = await client.get("/docs")
    assert mine.headers["content-security-policy"] == own
    assert docs.status_code == 200
    # Swagger UI loads its scripts: only framing is forbidden.
    assert docs.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert docs.headers["x-frame-options"] == "DENY"


async def test_an_https_public_address_turns_on_strict_transport_security() -> None:
    async with _serving(_with(public_base_url="https://gate.example.com")) as client:
        response = await client.get("/health")
    assert response.headers["strict-transport-security"] == "max-age=31536000"


# ---------------------------------------------------------------- trusted hosts


@pytest.mark.parametrize("host", ["api.example.com", "eu.example.org", "API.EXAMPLE.COM:8443"])
async def test_a_listed_host_is_answered(host: str) -> None:
    app = _with(allowed_hosts="api.example.com,*.example.org")
    async with _serving(app, host) as client:
        assert (await client.get("/health")).status_code == 200


@pytest.mark.parametrize("host", ["evil.example.net", "example.org", "api.example.com.evil.net"])
async def test_any_other_host_is_400_invalid_host_in_the_error_shape(host: str) -> None:
    app = _with(allowed_hosts="api.example.com,*.example.org")
    async with _serving(app, host) as client:
        response = await client.post("/api/v1/auth/login", json={"email": "a@b.c",
                                                                "password": "x" * 12})
    error = _error(response, 400, "invalid_host")
    assert error["details"] == {"field": "header.Host", "host": host.split(":")[0]}
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_health_probe_answers_whatever_the_host() -> None:
    # An orchestrator probes the container by its address.
    async with _serving(_with(allowed_hosts="api.example.com"), "10.0.0.7:8000") as client:
        assert (await client.get("/health")).status_code == 200


# ---------------------------------------------------------------- CORS


def _cors_app(**overrides: Any) -> FastAPI:
    return _with(cors_origins=f"{APP_ORIGIN},http://localhost:3000", **overrides)


async def test_a_listed_origin_may_read_answers_errors_included() -> None:
    async with _serving(_cors_app()) as client:
        answer = await client.get("/health", headers={"Origin": APP_ORIGIN})
        refusal = await client.get(ORDERS, headers={"Origin": APP_ORIGIN})
    for response in (answer, refusal):
        assert response.headers["access-control-allow-origin"] == APP_ORIGIN
        assert "X-Request-ID" in response.headers["access-control-expose-headers"]
        assert "access-control-allow-credentials" not in response.headers
    assert refusal.status_code == 401


async def test_a_listed_origins_preflight_is_allowed_with_the_headers_the_api_takes() -> None:
    async with _serving(_cors_app()) as client:
        response = await client.options(ORDERS, headers={
            "Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "idempotency-key"} <= set(allowed.split(", "))


async def test_a_listed_origins_preflight_for_an_unknown_header_is_refused_in_the_error_shape(
) -> None:
    async with _serving(_cors_app()) as client:
        response = await client.options(ORDERS, headers={
            "Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-smuggled"})
    _error(response, 400, "cors_refused")


async def test_a_foreign_origin_gets_no_cors_header_at_all_preflight_included() -> None:
    async with _serving(_cors_app(cors_allow_credentials=True)) as client:
        simple = await client.get("/health", headers={"Origin": "https://evil.example"})
        preflight = await client.options(ORDERS, headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    for response in (simple, preflight):
        assert not [h for h in response.headers if h.startswith("access-control-")]
    assert preflight.status_code == 204  # a plain OPTIONS, which a browser will not honour


async def test_credentials_are_allowed_only_when_configured_and_only_for_listed_origins(
) -> None:
    async with _serving(_cors_app(cors_allow_credentials=True)) as client:
        response = await client.get("/health", headers={"Origin": APP_ORIGIN})
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN


async def test_without_cors_origins_no_origin_gets_cors_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options(ORDERS, headers={
        "Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST"})
    assert not [h for h in response.headers if h.startswith("access-control-")]


# ---------------------------------------------------------------- media types


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          None])
async def test_an_order_without_a_json_content_type_is_415_and_stores_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], engine: AsyncEngine,
    content_type: str | None,
) -> None:
    marker = uuid.uuid4().hex
    headers = {**auth, **({"Content-Type": content_type} if content_type else {})}
    response = await client.post(ORDERS, headers=headers, content=(
        b'{"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "1",'
        b' "price": "1.00", "time_in_force": "GTC", "client_order_id": "%s"}' % marker.encode()))
    error = _error(response, 415, "unsupported_media_type")
    assert error["details"] == {"field": "header.Content-Type", "content_type": content_type}
    async with engine.connect() as conn:
        stored = await conn.scalar(text("SELECT count(*) FROM orders WHERE client_order_id = :m"),
                                   {"m": marker})
    assert stored == 0


async def test_every_json_route_answers_415_to_another_content_type(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    for path in ("/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/api-keys",
                 f"{ORDERS}/batch", "/api/v1/watchlists"):
        response = await client.post(path, headers={**auth, "Content-Type": "text/plain"},
                                     content=b'{"email": "a@example.com"}')
        _error(response, 415, "unsupported_media_type")


async def test_json_with_a_charset_or_a_json_suffix_is_taken(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    for content_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
        response = await client.post(ORDERS, headers={**auth, "Content-Type": content_type},
                                     content=httpx.Request("POST", "/", json=ORDER).content)
        assert response.status_code == 202, response.text


async def test_the_oauth2_form_login_still_takes_a_form(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/token",
                                 data={"username": "nobody@example.com", "password": "x" * 12})
    _error(response, 401, "invalid_credentials")  # refused for the password, not the form


# ---------------------------------------------------------------- methods


async def test_options_on_every_documented_path_answers_204_with_all_its_methods(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    for path, operations in schema["paths"].items():
        response = await client.options(_concrete(path))
        assert response.status_code == 204, (path, response.text)
        documented = {method.upper() for method in operations} | {"OPTIONS"}
        assert set(response.headers["allow"].split(", ")) == documented, path


def _concrete(path: str) -> str:
    """The path with a value of the right kind for each parameter: "/orders/batch" is no
    "/orders/{order_id}", an id being a UUID."""
    values = {"broker": "zerodha", "symbol": "AAPL", "token": "a-connection-token"}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m[1], str(uuid.uuid4())), path)


async def test_a_method_a_path_does_not_take_is_405_naming_every_method_it_does(
    client: httpx.AsyncClient,
) -> None:
    response = await client.put(ORDERS)
    _error(response, 405, "method_not_allowed")
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST", "DELETE", "OPTIONS"}


# ---------------------------------------------------------------- compression


async def test_a_large_json_answer_is_gzipped_for_a_client_that_takes_it_and_a_small_one_not(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    for _ in range(12):
        await place(client, auth, **ORDER)
    # httpx sends Accept-Encoding: gzip and decodes: read the raw stream to see the wire.
    async with client.stream("GET", f"{ORDERS}?limit=12", headers=auth) as large:
        raw = b"".join([chunk async for chunk in large.aiter_raw()])
    small = await client.get("/health")
    assert large.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in large.headers["vary"].lower()
    assert len(gzip.decompress(raw)) > len(raw)
    assert "content-encoding" not in small.headers


async def test_no_compression_for_a_client_that_does_not_ask(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    for _ in range(12):
        await place(client, auth, **ORDER)
    response = await client.get(f"{ORDERS}?limit=12", headers={**auth,
                                                              "Accept-Encoding": "identity"})
    assert "content-encoding" not in response.headers
    assert len(response.json()["items"]) == 12


# ---------------------------------------------------------------- the request deadline


async def test_a_handler_past_the_deadline_is_504_and_its_transaction_is_rolled_back() -> None:
    app = _with(request_timeout_seconds=1, db_pool_timeout_seconds=0.2,
                db_statement_timeout_seconds=0.5)
    email = f"never-{uuid.uuid4().hex[:8]}@example.com"

    async def slow() -> dict[str, str]:
        # Each statement within the database's own limit; together past the deadline.
        engine: AsyncEngine = app.state.engine
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO users (id, email, password_hash)"
                                    " VALUES (:id, :email, 'x')"),
                               {"id": uuid.uuid4(), "email": email})
            for _ in range(20):
                await conn.execute(text("SELECT pg_sleep(0.2)"))
        return {"status": "done"}

    app.add_api_route("/api/v1/slow", slow)
    async with _serving(app) as client:
        response = await client.get("/api/v1/slow")
        after = await client.post("/api/v1/auth/register", json={
            "email": f"after-{email}", "password": "correct horse battery"})
        async with app.state.engine.connect() as conn:
            kept = await conn.scalar(text("SELECT count(*) FROM users WHERE email = :e"),
                                     {"e": email})
    error = _error(response, 504, "deadline_exceeded")
    assert "Idempotency-Key" in error["message"]
    assert kept == 0
    assert after.status_code == 201, after.text  # the cancelled connection left no harm


async def test_a_stream_that_has_started_outlives_the_deadline() -> None:
    app = _with(request_timeout_seconds=1, db_pool_timeout_seconds=0.2,
                db_statement_timeout_seconds=0.5)

    async def stream() -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            for part in (b"a", b"b", b"c"):
                yield part
                await asyncio.sleep(0.6)

        return StreamingResponse(parts(), media_type="text/plain")

    app.add_api_route("/api/v1/trickle", stream)
    async with _serving(app) as client:
        response = await client.get("/api/v1/trickle")
    assert response.status_code == 200
    assert response.text == "abc"
