"""API keys through the real API, PostgreSQL and Redis: scopes, expiry, allow-lists,
revocation, ownership, last use, and secrets that are shown once and never kept."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.deps import get_clock
from shared.clock import Clock, FixedClock
from tests.helpers import get_ok, place, register_and_login, user_id_of

pytestmark = pytest.mark.integration

KEYS = "/api/v1/api-keys"
ORDERS = "/api/v1/orders"
RESTING_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "10",
               "price": "100", "time_in_force": "GTC"}


async def create_key(client: httpx.AsyncClient, auth: dict[str, str], **body: Any
                     ) -> dict[str, Any]:
    """Create a key (201) with the given fields over sensible defaults; return the answer."""
    response = await client.post(KEYS, json={"name": "bot", "scopes": ["trade"], **body},
                                 headers=auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def bearer(key: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['key']}"}


@asynccontextmanager
async def client_at(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose calls come from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@contextmanager
def clock_at(app: FastAPI, at: datetime) -> Iterator[None]:
    def fixed() -> Clock:
        return FixedClock(at)

    app.dependency_overrides[get_clock] = fixed
    try:
        yield
    finally:
        app.dependency_overrides.pop(get_clock, None)


async def counts(engine: AsyncEngine, auth: dict[str, str]) -> tuple[int, int, int]:
    """The user's orders, order events and the sum of their versions."""
    async with engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT count(*), coalesce(sum(version), 0),"
            " (SELECT count(*) FROM order_events e JOIN orders o ON o.id = e.order_id"
            "  WHERE o.user_id = :user) FROM orders WHERE user_id = :user"),
            {"user": user_id_of(auth)})).one()
    return int(row[0]), int(row[2]), int(row[1])


async def test_a_trade_key_reads_and_places_orders_as_its_user(
        client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    key = await create_key(client, auth, name="my bot", scopes=["trade"])

    assert key["key"].startswith(key["prefix"])
    assert key["prefix"].startswith("og_")
    listed = await client.get(ORDERS, headers=bearer(key))
    assert listed.status_code == 200, listed.text
    order_id = await place(client, bearer(key), **RESTING_BUY)

    # The order is the user's: their login sees it.
    order = await get_ok(client, auth, f"{ORDERS}/{order_id}")
    assert order["symbol"] == "AAPL"
    assert (await get_ok(client, bearer(key), f"{ORDERS}/{order_id}"))["id"] == order_id


async def test_a_read_key_reads_but_cannot_place_modify_cancel_close_or_halt(
        client: httpx.AsyncClient, auth: dict[str, str], engine: AsyncEngine) -> None:
    order_id = await place(client, auth, **RESTING_BUY)
    key = await create_key(client, auth, scopes=["read"])
    before = await counts(engine, auth)

    assert (await client.get(f"{ORDERS}/{order_id}", headers=bearer(key))).status_code == 200
    refused = [
        await client.post(ORDERS, json=RESTING_BUY, headers=bearer(key)),
        await client.patch(f"{ORDERS}/{order_id}", json={"price": "99"}, headers=bearer(key)),
        await client.delete(f"{ORDERS}/{order_id}", headers=bearer(key)),
        await client.delete(ORDERS, headers=bearer(key)),
        await client.post("/api/v1/positions/close", headers=bearer(key)),
        await client.post("/api/v1/account/halt", headers=bearer(key)),
    ]

    for response in refused:
        assert response.status_code == 403, response.text
        error = response.json()["error"]
        assert (error["code"], error["details"]) == ("insufficient_scope",
                                                     {"required_scope": "trade"})
    assert await counts(engine, auth) == before
    assert (await get_ok(client, auth, f"{ORDERS}/{order_id}"))["status"] == "PENDING_NEW"
    assert (await get_ok(client, auth, "/api/v1/account/halt"))["halted_at"] is None


async def test_expired_revoked_forged_and_unknown_keys_get_one_answer(
        app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    expiring = await create_key(client, auth, expires_at=soon.isoformat())
    revoked = await create_key(client, auth)
    assert (await client.delete(f"{KEYS}/{revoked['id']}", headers=auth)).status_code == 204
    live = await create_key(client, auth)
    head, secret = live["key"][:-43], live["key"][-43:]
    forged = head + ("A" if secret[0] != "A" else "B") + secret[1:]
    unknown = f"og_{uuid.uuid4().hex}_{secret}"

    with clock_at(app, soon + timedelta(seconds=1)):
        answers = [await client.get(ORDERS, headers=bearer(expiring))]
    for token in (revoked["key"], forged, unknown, "og_", live["key"] + "x"):
        answers.append(await client.get(ORDERS, headers={"Authorization": f"Bearer {token}"}))

    for response in answers:
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        error = response.json()["error"]
        assert set(error) == {"code", "message", "details", "request_id"}
        assert (error["code"], error["message"], error["details"]) == (
            "unauthenticated", "the API key is invalid, expired or revoked", {})
    # Before its expiry the same key works, and the live key is unharmed by the forgery.
    assert (await client.get(ORDERS, headers=bearer(expiring))).status_code == 200
    assert (await client.get(ORDERS, headers=bearer(live))).status_code == 200


async def test_a_key_works_only_from_its_allowed_addresses(
        app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    key = await create_key(client, auth, allowed_ips=["10.0.0.0/8", "2001:db8::1"])
    assert key["allowed_ips"] == ["10.0.0.0/8", "2001:db8::1/128"]

    async with client_at(app, "10.20.30.40") as inside:
        assert (await inside.get(ORDERS, headers=bearer(key))).status_code == 200
    async with client_at(app, "::ffff:10.1.1.1") as mapped:
        assert (await mapped.get(ORDERS, headers=bearer(key))).status_code == 200
    async with client_at(app, "2001:db8::1") as v6:
        assert (await v6.get(ORDERS, headers=bearer(key))).status_code == 200
    async with client_at(app, "203.0.113.9") as outside:
        refused = await outside.get(ORDERS, headers=bearer(key))
        placed = await outside.post(ORDERS, json=RESTING_BUY, headers=bearer(key))

    for response in (refused, placed):
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "ip_not_allowed"


async def test_a_refused_call_from_outside_the_allow_list_records_no_use(
        app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    key = await create_key(client, auth, allowed_ips=["10.0.0.0/8"])

    async with client_at(app, "203.0.113.9") as outside:
        assert (await outside.get(ORDERS, headers=bearer(key))).status_code == 403

    assert (await get_ok(client, auth, f"{KEYS}/{key['id']}"))["last_used_at"] is None


async def test_another_users_key_is_not_found_and_stays_alive(
        client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    key = await create_key(client, auth)
    other = await register_and_login(client)

    for response in (await client.get(f"{KEYS}/{key['id']}", headers=other),
                     await client.delete(f"{KEYS}/{key['id']}", headers=other),
                     await client.get(f"{KEYS}/not-a-uuid", headers=other)):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
    assert (await get_ok(client, other, KEYS)) == []
    assert (await client.get(ORDERS, headers=bearer(key))).status_code == 200


async def test_the_secret_is_shown_once_and_never_listed_logged_or_stored(
        client: httpx.AsyncClient, auth: dict[str, str], engine: AsyncEngine,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = await create_key(client, auth, name="audited", scopes=["read", "trade"])
    secret = key["key"].split("_", 2)[2]
    assert (await client.get(ORDERS, headers=bearer(key))).status_code == 200

    listed = await client.get(KEYS, headers=auth)
    one = await client.get(f"{KEYS}/{key['id']}", headers=auth)

    assert [k["id"] for k in listed.json()] == [key["id"]]
    for response in (listed, one):
        assert secret not in response.text
    shown = one.json()
    assert set(shown) == {"id", "name", "prefix", "scopes", "created_at", "expires_at",
                          "last_used_at", "allowed_ips"}
    assert {k: v for k, v in key.items() if k not in ("key", "last_used_at")} == {
        k: v for k, v in shown.items() if k != "last_used_at"}
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT k::text FROM api_keys k WHERE id = :id"),
                                     {"id": key["id"]})).scalar_one()
    assert secret not in stored
    assert key["key"] not in stored
    assert not [r for r in caplog.records if secret in r.getMessage()]


async def test_last_used_at_is_kept_to_the_minute(
        app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    key = await create_key(client, auth, scopes=["read"])
    assert key["last_used_at"] is None
    path = f"{KEYS}/{key['id']}"

    start = datetime.now(UTC)
    with clock_at(app, start):
        assert (await client.get(ORDERS, headers=bearer(key))).status_code == 200
    first = (await get_ok(client, auth, path))["last_used_at"]
    with clock_at(app, start + timedelta(seconds=59)):
        assert (await client.get(ORDERS, headers=bearer(key))).status_code == 200
    unchanged = (await get_ok(client, auth, path))["last_used_at"]
    with clock_at(app, start + timedelta(seconds=61)):
        assert (await client.get(ORDERS, headers=bearer(key))).status_code == 200
    moved = (await get_ok(client, auth, path))["last_used_at"]

    assert datetime.fromisoformat(first) == start
    assert unchanged == first  # no write on every call
    assert datetime.fromisoformat(moved) == start + timedelta(seconds=61)


async def test_a_key_cannot_manage_keys_brokers_settings_or_lift_a_halt(
        client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    key = await create_key(client, auth, scopes=["trade"])
    other = await create_key(client, auth, name="other")

    refused = [
        await client.post(KEYS, json={"name": "minted", "scopes": ["trade"]},
                          headers=bearer(key)),
        await client.delete(f"{KEYS}/{other['id']}", headers=bearer(key)),
        await client.patch("/api/v1/account/settings",
                           json={"risk_limits": {"max_open_orders": 1000}}, headers=bearer(key)),
        await client.post("/api/v1/brokers/groww/connections",
                          json={"api_key": "x", "api_secret": "y"}, headers=bearer(key)),
    ]
    halted = await client.post("/api/v1/account/halt", headers=bearer(key))
    lifted = await client.delete("/api/v1/account/halt", headers=bearer(key))

    for response in [*refused, lifted]:
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "login_required"
    assert halted.status_code == 200, halted.text  # halting is trading's emergency brake
    assert (await get_ok(client, auth, "/api/v1/account/halt"))["halted_at"] is not None
    assert len(await get_ok(client, bearer(key), KEYS)) == 2  # a key may list them
    assert (await get_ok(client, auth, "/api/v1/account/settings"))["risk_limits"][
        "max_open_orders"] is None
    assert (await client.delete("/api/v1/account/halt", headers=auth)).status_code == 200


def _past() -> str:
    return (datetime.now(UTC) - timedelta(seconds=1)).isoformat()


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x" * 65, "scopes": ["read"]}, "name"),
    ({"name": "x" * 100_000, "scopes": ["read"]}, "name"),
    ({"name": "   ", "scopes": ["read"]}, "name"),
    ({"name": "bad\nname", "scopes": ["read"]}, "name"),
    ({"scopes": ["read"]}, "name"),
    ({"name": "bot", "scopes": ["admin"]}, "scopes.0"),
    ({"name": "bot", "scopes": ["READ"]}, "scopes.0"),
    ({"name": "bot", "scopes": []}, "scopes"),
    ({"name": "bot", "scopes": "read"}, "scopes"),
    ({"name": "bot", "scopes": ["read", "read"]}, "scopes"),
    ({"name": "bot"}, "scopes"),
    ({"name": "bot", "scopes": ["read"], "allowed_ips": ["10.0.0.1/8"]}, "allowed_ips.0"),
    ({"name": "bot", "scopes": ["read"], "allowed_ips": ["1.2.3.4", "nope"]}, "allowed_ips.1"),
    ({"name": "bot", "scopes": ["read"], "allowed_ips": ["10.0.0.0/33"]}, "allowed_ips.0"),
    ({"name": "bot", "scopes": ["read"], "allowed_ips": []}, "allowed_ips"),
    ({"name": "bot", "scopes": ["read"], "allowed_ips": ["10.0.0.1"] * 33}, "allowed_ips"),
    ({"name": "bot", "scopes": ["read"], "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
    ({"name": "bot", "scopes": ["read"], "expires_at": "2999-01-01T00:00:00"}, "expires_at"),
    ({"name": "bot", "scopes": ["read"], "expires_at": "9999-12-31T23:59:59-05:00"},
     "expires_at"),
    ({"name": "bot", "scopes": ["read"], "expires_at": "soon"}, "expires_at"),
    ({"name": "bot", "scopes": ["read"], "user_id": str(uuid.uuid4())}, "user_id"),
    ({"name": "bot", "scopes": ["read"], "key": "og_mine"}, "key"),
])
async def test_invalid_key_requests_are_422_naming_the_field_and_store_nothing(
        client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post(KEYS, json=body, headers=auth)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"]["field"] == field
    assert await get_ok(client, auth, KEYS) == []


async def test_an_expiry_just_past_is_refused(
        client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post(KEYS, json={"name": "bot", "scopes": ["read"],
                                             "expires_at": _past()}, headers=auth)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == "expires_at"
    assert await get_ok(client, auth, KEYS) == []


async def test_a_duplicate_json_key_is_400_and_stores_nothing(
        client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    raw = b'{"name": "bot", "scopes": ["read"], "scopes": ["trade"]}'

    response = await client.post(KEYS, content=raw,
                                 headers={**auth, "Content-Type": "application/json"})

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "duplicate_key"
    assert await get_ok(client, auth, KEYS) == []


async def test_a_user_holds_at_most_the_configured_number_of_keys(
        app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    limit = app.state.settings.max_api_keys_per_user
    made = [await create_key(client, auth, name=f"bot {n}") for n in range(limit)]

    response = await client.post(KEYS, json={"name": "one more", "scopes": ["read"]},
                                 headers=auth)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "too_many_api_keys"
    assert len(await get_ok(client, auth, KEYS)) == limit
    # Deleting one makes room again.
    assert (await client.delete(f"{KEYS}/{made[0]['id']}", headers=auth)).status_code == 204
    await create_key(client, auth, name="replacement")


async def test_the_openapi_document_describes_the_routes_and_both_bearer_schemes(
        client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()

    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKey"]["type"] == "http"
    assert schemes["ApiKey"]["scheme"] == "bearer"
    assert "OAuth2PasswordBearer" in schemes
    assert {"post", "get"} <= set(schema["paths"]["/api/v1/api-keys"])
    assert {"get", "delete"} <= set(schema["paths"]["/api/v1/api-keys/{key_id}"])
    submit = schema["paths"]["/api/v1/orders"]["post"]
    assert {"ApiKey": []} in submit["security"]
    assert {"OAuth2PasswordBearer": []} in submit["security"]
