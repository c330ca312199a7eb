"""The audit log through the real API and PostgreSQL: each security-relevant change writes one
entry in its own transaction (who, what, from where, under which request), entries are read
back by their owner only and by admins, and the database refuses to change them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import PASSWORD, user_id_of
from tests.integration.admins import ADMIN, api_key, new_admin
from tests.integration.ending import (  # noqa: F401 - the fixtures
    ORDERS,
    RESTING_BUY,
    api_fixture,
    place,
    quotes_fixture,
)
from tests.integration.test_order_responses import OpenApi

pytestmark = pytest.mark.integration

MINE = "/api/v1/me/audit"
EVERYONE = f"{ADMIN}/audit"


async def _sign_up(client: httpx.AsyncClient) -> tuple[str, uuid.UUID]:
    email = f"audited-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post("/api/v1/auth/register",
                                 json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return email, uuid.UUID(response.json()["id"])


async def _login(client: httpx.AsyncClient, email: str,
                 password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


def _bearer(login: httpx.Response) -> dict[str, str]:
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def _mine(client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi,
                **params: str) -> list[dict[str, Any]]:
    response = await client.get(MINE, headers=auth, params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = api.check(response)["items"]
    return items


async def test_a_session_of_changes_is_audited_newest_first_with_who_where_and_request(
        client: httpx.AsyncClient, api: OpenApi) -> None:
    email, user_id = await _sign_up(client)
    wrong = await _login(client, email, "not the password")
    auth = _bearer(await _login(client, email))
    created = await client.post("/api/v1/api-keys", headers=auth,
                                json={"name": "bot", "scopes": ["read"]})
    key = created.json()
    deleted = await client.delete(f"/api/v1/api-keys/{key['id']}", headers=auth)
    order_id = await place(client, auth, **RESTING_BUY)
    canceled = await client.delete(f"{ORDERS}/{order_id}", headers=auth)
    halted = await client.post("/api/v1/account/halt", headers=auth)
    lifted = await client.delete("/api/v1/account/halt", headers=auth)
    assert (wrong.status_code, created.status_code, deleted.status_code, canceled.status_code,
            halted.status_code, lifted.status_code) == (401, 201, 204, 202, 200, 200)

    entries = await _mine(client, auth, api)

    assert [(e["action"], e["target_id"]) for e in entries] == [
        ("account.halt_lifted", halted.json()["account_id"]),
        ("account.halted", halted.json()["account_id"]),
        ("order.cancel", order_id),
        ("api_key.revoked", key["id"]),
        ("api_key.created", key["id"]),
        ("auth.login", None),
        ("auth.login_failed", None)]
    answers = [lifted, halted, canceled, deleted, created]
    assert [e["request_id"] for e in entries[:5]] == [r.headers["x-request-id"] for r in answers]
    assert {e["user_id"] for e in entries} == {str(user_id)}
    assert {e["actor_user_id"] for e in entries[:6]} == {str(user_id)}
    assert entries[6]["actor_user_id"] is None  # not logged in yet
    assert {e["ip"] for e in entries} == {"127.0.0.1"}
    assert entries[2]["details"] == {"via": None, "status": "CANCELED"}
    assert entries[4]["details"]["scopes"] == ["read"]
    assert entries[6]["details"] == {"method": "password", "email": email}
    every_detail = str([e["details"] for e in entries])
    assert PASSWORD not in every_detail
    assert "not the password" not in every_detail
    assert key["key"] not in every_detail


async def test_refresh_token_reuse_and_a_logout_everywhere_are_audited(
        client: httpx.AsyncClient, api: OpenApi) -> None:
    email, _ = await _sign_up(client)
    first = (await _login(client, email)).json()
    rotated = await client.post("/api/v1/auth/refresh",
                                json={"refresh_token": first["refresh_token"]})
    reused = await client.post("/api/v1/auth/refresh",
                               json={"refresh_token": first["refresh_token"]})
    assert (rotated.status_code, reused.status_code) == (200, 401)
    auth = _bearer(await _login(client, email))
    assert (await client.post("/api/v1/auth/logout-all", headers=auth)).status_code == 204
    auth = _bearer(await _login(client, email))

    entries = await _mine(client, auth, api)

    assert [e["action"] for e in entries[:4]] == [
        "auth.login", "auth.logout_all", "auth.login", "auth.refresh_token_reused"]
    reuse = entries[3]
    assert reuse["actor_user_id"] is None
    assert reuse["request_id"] == reused.headers["x-request-id"]
    assert reuse["details"]["sessions_ended"] == 1  # the rotated token's successor


async def test_code_requests_are_audited_for_unknown_addresses_too(
        client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    email, user_id = await _sign_up(client)
    unknown = f"nobody-{uuid.uuid4().hex[:12]}@example.com"
    for address in (email, unknown):
        response = await client.post("/api/v1/auth/request-otp", json={"email": address})
        assert response.status_code == 202, response.text

    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT user_id, details->>'email' AS email FROM audit_log"
            " WHERE action = 'auth.otp_requested' AND details->>'email' IN (:a, :b)"),
            {"a": email, "b": unknown})).all()
    assert sorted((row.email, row.user_id) for row in rows) == sorted(
        [(email, user_id), (unknown, None)])


async def test_nobody_reads_another_users_entries(
        client: httpx.AsyncClient, engine: AsyncEngine, api: OpenApi) -> None:
    email, user_id = await _sign_up(client)
    mine = _bearer(await _login(client, email))
    other_email, other_id = await _sign_up(client)
    other = _bearer(await _login(client, other_email))
    key = await api_key(client, other, ("read",))

    # /me/audit takes no user: a user id given is ignored, the caller's own entries come back.
    for auth in (other, key):
        entries = await _mine(client, auth, api, user_id=str(user_id))
        assert entries
        assert {e["user_id"] for e in entries} == {str(other_id)}
    for auth in (mine, other, key):
        refused = await client.get(EVERYONE, headers=auth, params={"user_id": str(user_id)})
        assert refused.status_code == 403
    assert (await client.get(MINE)).status_code == 401
    admin = await new_admin(client, engine)
    seen = (await client.get(EVERYONE, headers=admin, params={"user_id": str(user_id)})).json()
    assert {e["user_id"] for e in seen["items"]} == {str(user_id)}


async def test_a_change_whose_entry_cannot_be_written_does_not_happen(
        client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    email, _ = await _sign_up(client)
    auth = _bearer(await _login(client, email))
    order_id = await place(client, auth, **RESTING_BUY)
    async with engine.begin() as conn:  # the log refuses these two actions for a while
        await conn.execute(text(
            "ALTER TABLE audit_log ADD CONSTRAINT test_refuses CHECK"
            " (action NOT IN ('api_key.created', 'order.cancel')) NOT VALID"))
    try:
        created = await client.post("/api/v1/api-keys", headers=auth,
                                    json={"name": "unaudited", "scopes": ["read"]})
        canceled = await client.delete(f"{ORDERS}/{order_id}", headers=auth)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE audit_log DROP CONSTRAINT test_refuses"))

    assert (created.status_code, canceled.status_code) == (500, 500)
    assert "Traceback" not in created.text + canceled.text
    assert (await client.get("/api/v1/api-keys", headers=auth)).json() == []
    order = (await client.get(f"{ORDERS}/{order_id}", headers=auth)).json()
    assert order["status"] == "PENDING_NEW"


async def test_a_change_that_fails_at_commit_takes_its_entry_with_it(
        client: httpx.AsyncClient, engine: AsyncEngine, api: OpenApi) -> None:
    email, _ = await _sign_up(client)
    auth = _bearer(await _login(client, email))
    async with engine.begin() as conn:  # a new key now fails at commit, after its entry
        await conn.execute(text(
            "CREATE CONSTRAINT TRIGGER test_fails_at_commit AFTER INSERT ON api_keys"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_changes()"))
    try:
        created = await client.post("/api/v1/api-keys", headers=auth,
                                    json={"name": "never", "scopes": ["read"]})
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER test_fails_at_commit ON api_keys"))

    assert created.status_code == 500
    assert (await client.get("/api/v1/api-keys", headers=auth)).json() == []
    assert [e["action"] for e in await _mine(client, auth, api)] == ["auth.login"]


async def test_a_refused_change_leaves_no_entry(
        client: httpx.AsyncClient, engine: AsyncEngine, api: OpenApi) -> None:
    email, _ = await _sign_up(client)
    auth = _bearer(await _login(client, email))
    order_id = await place(client, auth, **RESTING_BUY)
    assert (await client.delete(f"{ORDERS}/{order_id}", headers=auth)).status_code == 202
    again = await client.delete(f"{ORDERS}/{order_id}", headers=auth)  # already CANCELED
    unknown = await client.delete(f"/api/v1/api-keys/{uuid.uuid4()}", headers=auth)
    assert (again.status_code, unknown.status_code) == (409, 404)

    entries = await _mine(client, auth, api)

    assert [e["action"] for e in entries] == ["order.cancel", "auth.login"]


@pytest.fixture
async def entry_id(client: httpx.AsyncClient, engine: AsyncEngine) -> uuid.UUID:
    email, user_id = await _sign_up(client)
    _bearer(await _login(client, email))
    async with engine.connect() as conn:
        found: uuid.UUID = (await conn.execute(
            text("SELECT id FROM audit_log WHERE user_id = :u"), {"u": user_id})).scalar_one()
    return found


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET details = '{}' WHERE id = :id",
    "DELETE FROM audit_log WHERE id = :id",
    "TRUNCATE audit_log",
])
async def test_the_database_refuses_to_change_or_remove_an_entry(
        engine: AsyncEngine, entry_id: uuid.UUID, statement: str) -> None:
    with pytest.raises(DBAPIError, match="audit_log is append-only"):
        async with engine.begin() as conn:
            await conn.execute(text(statement), {"id": entry_id})
    async with engine.connect() as conn:
        kept = await conn.execute(text("SELECT count(*) FROM audit_log WHERE id = :id"),
                                  {"id": entry_id})
        assert kept.scalar_one() == 1


async def test_admins_filter_the_log_by_user_action_and_time_and_page_it(
        client: httpx.AsyncClient, engine: AsyncEngine, api: OpenApi) -> None:
    admin = await new_admin(client, engine)
    email, user_id = await _sign_up(client)
    started = datetime.now(UTC) - timedelta(seconds=1)
    for _ in range(3):
        await _login(client, email, "wrong password")
    auth = _bearer(await _login(client, email))

    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        params = {"user_id": str(user_id), "action": "auth.login_failed", "limit": "2",
                  "since": started.isoformat(), **({"cursor": cursor} if cursor else {})}
        response = await client.get(EVERYONE, headers=admin, params=params)
        assert response.status_code == 200, response.text
        body = api.check(response)
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [len(page) for page in pages] == [2, 1]
    assert {e["action"] for page in pages for e in page} == {"auth.login_failed"}
    before = await client.get(EVERYONE, headers=admin, params={
        "user_id": str(user_id), "until": started.isoformat()})
    assert before.json()["items"] == []
    naive = await client.get(EVERYONE, headers=admin, params={"since": "2026-01-01T00:00:00"})
    unknown = await client.get(EVERYONE, headers=admin, params={"action": "auth.nothing"})
    assert naive.status_code == unknown.status_code == 422
    assert user_id_of(auth) == user_id
