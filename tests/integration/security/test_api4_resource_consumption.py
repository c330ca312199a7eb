"""OWASP API4:2023 Unrestricted Resource Consumption: every list has a page-size cap, a body
a size cap (413 before it is parsed), a batch and a quote request an item cap, a stream a
symbol cap; a request past any of them is refused, cheaply, and takes nothing."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI

from api.middleware import MAX_BODY_BYTES
from api.stream.service import Session, StreamServices
from shared.settings import Settings
from tests.helpers import user_id_of

pytestmark = pytest.mark.integration


async def test_api4_every_page_size_is_capped_and_one_past_the_cap_is_422(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    schema = (await client.get("/openapi.json")).json()
    capped = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", ()):
                if parameter["name"] != "limit":
                    continue
                cap = parameter["schema"].get("maximum")
                assert cap is not None, path
                assert cap <= 1000, (path, cap)
                if method == "get" and "{" not in path and "admin" not in path:
                    response = await client.get(path, params={"limit": cap + 1}, headers=auth)
                    assert response.status_code == 422, (path, response.text)
                    details = response.json()["error"]["details"]
                    named = {details["field"]} | {e["field"] for e in details.get("errors", ())}
                    assert "limit" in named, (path, details)
                capped.append(path)
    assert len(capped) >= 8


@pytest.mark.parametrize("path", ["/api/v1/orders", "/api/v1/auth/login", "/api/v1/watchlists"])
async def test_api4_a_body_past_the_limit_is_413_before_it_is_parsed(
    client: httpx.AsyncClient, auth: dict[str, str], path: str,
) -> None:
    body = b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = await client.post(path, content=body,
                                 headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "body_too_large"


async def test_api4_a_batch_of_more_than_100_orders_is_refused_whole(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    order = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "1",
             "price": "1.00", "time_in_force": "GTC"}
    batch = [{**order, "client_order_id": f"b{n}"} for n in range(101)]
    response = await client.post("/api/v1/orders/batch", json={"orders": batch}, headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == "orders"
    assert (await client.get("/api/v1/orders", headers=auth)).json()["items"] == []


async def test_api4_quotes_and_stream_subscriptions_are_capped(
    client: httpx.AsyncClient, app: FastAPI, auth: dict[str, str],
) -> None:
    many = ",".join(f"S{n}" for n in range(101))
    quotes = await client.get("/api/v1/market/quotes", params={"symbols": many}, headers=auth)
    assert quotes.status_code == 422
    assert quotes.json()["error"]["code"] == "too_many_symbols"
    services: StreamServices = app.state.stream
    session = await Session.open(services, user_id_of(auth), last_seq=0)
    try:
        limit = Settings().stream_max_symbols
        reply = await session.subscribe([f"S{n}" for n in range(limit + 1)])
    finally:
        session.close()
    assert reply["type"] == "error"
    assert reply["code"] == "too_many_symbols"
    assert session.symbols == set()


async def test_api4_a_user_holds_at_most_the_configured_keys_and_watchlists(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    settings = Settings()
    for n in range(settings.max_api_keys_per_user):
        created = await client.post("/api/v1/api-keys", headers=auth,
                                    json={"name": f"k{n}", "scopes": ["read"]})
        assert created.status_code == 201
    over = await client.post("/api/v1/api-keys", json={"name": "one more", "scopes": ["read"]},
                             headers=auth)
    assert over.status_code == 422
    assert over.json()["error"]["code"] == "too_many_api_keys"
    for n in range(settings.max_watchlists_per_user):
        made = await client.post("/api/v1/watchlists", json={"name": f"w{n}"}, headers=auth)
        assert made.status_code == 201
    too_many = await client.post("/api/v1/watchlists", json={"name": uuid.uuid4().hex[:8]},
                                 headers=auth)
    assert too_many.status_code == 422, too_many.text
    assert too_many.json()["error"]["code"] == "too_many_watchlists"
