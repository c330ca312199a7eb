"""One error shape everywhere, and no stack traces, whatever goes wrong."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from shared.settings import Settings
from tests.helpers import register_and_login, user_id_of
from tests.integration.admins import new_admin

pytestmark = pytest.mark.integration


def _assert_error_shape(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text


async def test_unknown_route_and_wrong_method_use_the_error_shape(
    client: httpx.AsyncClient,
) -> None:
    _assert_error_shape(await client.get("/api/v1/nope"), 404, "not_found")
    _assert_error_shape(await client.put("/api/v1/orders"), 405, "method_not_allowed")


async def test_malformed_json_is_400_and_wrong_types_are_422(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post("/api/v1/orders", content=b"{not json",
                                 headers={**auth, "content-type": "application/json"})
    _assert_error_shape(response, 400, "invalid_json")
    response = await client.post("/api/v1/orders", json=["a list"], headers=auth)
    _assert_error_shape(response, 422, "invalid_request")
    response = await client.post("/api/v1/orders", headers=auth, json={
        "symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "1",
        "price": "10", "colour": "blue"})
    _assert_error_shape(response, 422, "invalid_request")
    assert response.json()["error"]["details"]["field"] == "colour"


async def test_client_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nope", headers={"X-Request-ID": "trace-123"})
    assert response.headers["x-request-id"] == "trace-123"
    assert response.json()["error"]["request_id"] == "trace-123"


async def test_database_down_is_503_with_retry_after() -> None:
    app = create_app(Settings(database_url="postgresql+asyncpg://postgres@127.0.0.1:9/none"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post("/api/v1/auth/register", json={
                "email": "nobody@example.com", "password": "long enough pass"})
            _assert_error_shape(response, 503, "unavailable")
            assert response.headers["retry-after"] == "1"
            ready = await client.get("/ready")
            assert ready.status_code == 503
            assert "postgres" in ready.json()["down"]


async def test_every_error_about_a_header_names_it_as_header_dot_its_name(
    client: httpx.AsyncClient, auth: dict[str, str], engine: AsyncEngine,
) -> None:
    """One vocabulary: request validation names a header `header.<Name>`, and so does every
    other refusal of a header's value (a Host not allowed: test_http_edge)."""
    order = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "1",
             "price": "10"}
    admin = await new_admin(client, engine)
    cash = f"/api/v1/admin/users/{user_id_of(auth)}/cash"
    named: dict[str, httpx.Response] = {}

    named["header.Idempotency-Key"] = await client.post(  # validation: too long
        "/api/v1/orders", json=order, headers={**auth, "Idempotency-Key": "k" * 256})
    key = {"Idempotency-Key": f"vocabulary-{uuid.uuid4()}"}
    assert (await client.post("/api/v1/orders", json=order,
                              headers={**auth, **key})).status_code == 202
    reused = await client.post("/api/v1/orders", json={**order, "quantity": "2"},
                               headers={**auth, **key})
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert (await client.post(cash, json={"amount": "1", "reason": "top-up"},
                              headers={**admin, **key})).status_code == 201
    reused_cash = await client.post(cash, json={"amount": "2", "reason": "top-up"},
                                    headers={**admin, **key})
    assert reused_cash.json()["error"]["code"] == "idempotency_key_reused"
    not_json = await client.post("/api/v1/orders", content=b"{}",
                                 headers={**auth, "Content-Type": "text/plain"})

    for field, response in [*named.items(), ("header.Idempotency-Key", reused),
                            ("header.Idempotency-Key", reused_cash),
                            ("header.Content-Type", not_json)]:
        assert response.json()["error"]["details"]["field"] == field, response.text


def _filled(path: str, operation: dict[str, Any], bad_id: str) -> str:
    """`path` with every id parameter `bad_id` and the others a value they take."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "path":
            continue
        name, schema = parameter["name"], parameter.get("schema", {})
        if name.endswith("_id"):
            value = bad_id
        elif "enum" in schema or "$ref" in schema or "anyOf" in schema:
            value = "paper"  # the broker enums all take it
        else:
            value = "AAPL"
        path = path.replace("{" + name + "}", value)
    return path


async def test_an_id_in_any_path_that_is_no_uuid_is_a_404_whatever_the_body(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    """Every route of an id takes only a UUID in its 8-4-4-4-12 form: anything else names no
    route, so it is a 404 before the body (here an unknown field) or a header is read."""
    schema = (await client.get("/openapi.json")).json()
    checked = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if not any(p["in"] == "path" and p["name"].endswith("_id")
                       for p in operation.get("parameters", [])):
                continue
            for bad in ("not-a-uuid", uuid.uuid4().hex, f"{uuid.uuid4()}0"):
                response = await client.request(method.upper(), _filled(path, operation, bad),
                                                json={"no_such_field": 1}, headers=auth)
                assert response.status_code == 404, (method, path, bad, response.text)
                assert response.json()["error"]["code"] == "not_found", (method, path, bad)
            checked.add(path)
    assert {"/api/v1/orders/{order_id}", "/api/v1/watchlists/{watchlist_id}",
            "/api/v1/api-keys/{key_id}"} <= checked


async def test_an_amount_past_what_a_numeric_column_holds_is_a_422_and_writes_nothing() -> None:
    """The net under every bound of the inputs: were a sum of bounded amounts to pass what a
    NUMERIC(24,8) column holds, PostgreSQL's refusal (22003) is the client's 422, the
    request's transaction rolled back, not a 500."""
    app = create_app(Settings())

    @app.post("/test/overflow")
    async def overflow(request: Request) -> None:
        async with request.app.state.engine.begin() as conn:
            await conn.execute(text("UPDATE accounts SET cash = cash + 1 WHERE user_id = :u"),
                               {"u": request.query_params["user"]})
            await conn.execute(text("UPDATE accounts SET cash = cash + 1e17 WHERE user_id = :u"),
                               {"u": request.query_params["user"]})

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            auth = await register_and_login(client)
            user = user_id_of(auth)
            before = (await client.get("/api/v1/account", headers=auth)).json()["cash"]

            response = await client.post("/test/overflow", params={"user": str(user)})

            _assert_error_shape(response, 422, "amount_out_of_range")
            assert (await client.get("/api/v1/account", headers=auth)).json()["cash"] == before
