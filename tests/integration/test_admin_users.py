"""Admin routes over users, through the real API and PostgreSQL: who may call them, search and
pages, one user's accounts, role changes that take effect at once."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import PASSWORD, register_and_login, user_id_of
from tests.integration.admins import ADMIN, api_key, new_admin

pytestmark = pytest.mark.integration

USERS = f"{ADMIN}/users"


async def _register(client: httpx.AsyncClient, email: str,
                    username: str | None = None) -> uuid.UUID:
    body = {"email": email, "password": PASSWORD, **({"username": username} if username else {})}
    response = await client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


def _every_admin_call(user_id: uuid.UUID) -> list[tuple[str, str, dict[str, str] | None]]:
    return [("GET", USERS, None), ("GET", f"{USERS}/{user_id}", None),
            ("PUT", f"{USERS}/{user_id}/role", {"role": "admin"}),
            ("POST", f"{USERS}/{user_id}/cash", {"amount": "1", "reason": "free money"}),
            ("GET", f"{ADMIN}/audit", None)]


async def test_admin_routes_refuse_anyone_but_a_logged_in_admin(
        client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    user = await register_and_login(client)
    admin = await new_admin(client, engine)
    callers = {"nobody": ({}, 401, "unauthenticated"),
               "a user": (user, 403, "forbidden"),
               "a user's API key": (await api_key(client, user), 403, "forbidden"),
               "an admin's API key": (await api_key(client, admin), 403, "login_required")}
    for who, (headers, status, code) in callers.items():
        for method, path, body in _every_admin_call(user_id_of(user)):
            response = await client.request(method, path, headers=headers, json=body)
            assert (response.status_code, response.json()["error"]["code"]) == (status, code), (
                who, method, path)
    # Nothing changed: the user asked to become an admin is still a user.
    assert (await client.get(USERS, headers=user)).status_code == 403


async def test_users_are_found_by_email_or_username_prefix_in_any_case(
        client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    admin = await new_admin(client, engine)
    tag = uuid.uuid4().hex[:10]
    by_email = await _register(client, f"zed.{tag}@example.com")
    by_name = await _register(client, f"other-{uuid.uuid4().hex[:8]}@example.com", f"Zed_{tag}")
    await _register(client, f"someone-{tag}@example.com")  # the tag, but not as a prefix

    for query in (f"zed.{tag}", f"ZED.{tag.upper()}", f"zed_{tag}"):
        response = await client.get(USERS, headers=admin, params={"q": query})
        assert response.status_code == 200, response.text
        found = {uuid.UUID(item["id"]) for item in response.json()["items"]}
        assert found == ({by_email} if "." in query else {by_name}), query
    # LIKE's wildcards are literal: "zed%" finds no one whose name merely starts with "zed".
    literal = await client.get(USERS, headers=admin, params={"q": f"zed%{tag}"})
    assert literal.json()["items"] == []


async def test_pages_of_users_have_no_gaps_or_repeats_and_a_capped_size(
        client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    admin = await new_admin(client, engine)
    tag = uuid.uuid4().hex[:10]
    made = [await _register(client, f"page-{tag}-{n}@example.com") for n in range(5)]

    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        params = {"q": f"page-{tag}", "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get(USERS, headers=admin, params=params)).json()
        seen += [uuid.UUID(item["id"]) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))  # newest first, each once

    too_big = await client.get(USERS, headers=admin, params={"limit": "501"})
    forged = await client.get(USERS, headers=admin, params={"cursor": "bm9wZQ=="})
    assert (too_big.status_code, too_big.json()["error"]["details"]["field"]) == (422, "limit")
    assert (forged.status_code, forged.json()["error"]["code"]) == (422, "invalid_cursor")


async def test_one_user_is_shown_with_its_accounts_and_an_unknown_one_is_404(
        client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    admin = await new_admin(client, engine)
    user = await register_and_login(client)

    shown = await client.get(f"{USERS}/{user_id_of(user)}", headers=admin)

    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert (body["id"], body["role"]) == (str(user_id_of(user)), "user")
    [paper] = body["accounts"]
    assert paper["broker"] == "paper"
    assert paper["cash"] == paper["buying_power"] == "100000"
    assert paper["reserved_cash"] == "0"
    for unknown in (uuid.uuid4(), "not-a-uuid"):
        missing = await client.get(f"{USERS}/{unknown}", headers=admin)
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")


async def test_a_role_change_takes_effect_at_once_and_is_audited(
        client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    admin = await new_admin(client, engine)
    user = await register_and_login(client)
    uid = user_id_of(user)

    promoted = await client.put(f"{USERS}/{uid}/role", headers=admin, json={"role": "admin"})
    assert promoted.status_code == 200, promoted.text
    assert (promoted.json()["role"], promoted.json()["previous_role"]) == ("admin", "user")
    assert (await client.get(USERS, headers=user)).status_code == 200  # the same token

    demoted = await client.put(f"{USERS}/{uid}/role", headers=admin, json={"role": "user"})
    assert demoted.status_code == 200, demoted.text
    assert (await client.get(USERS, headers=user)).status_code == 403

    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT actor_user_id, details FROM audit_log WHERE action = 'admin.role_changed'"
            " AND user_id = :id ORDER BY created_at"), {"id": uid})).all()
    assert [(row.actor_user_id, row.details["to"]) for row in rows] == [
        (user_id_of(admin), "admin"), (user_id_of(admin), "user")]


async def test_the_only_admin_cannot_become_a_user(
        client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    admin = await new_admin(client, engine)
    async with engine.begin() as conn:  # every other admin of the test database steps down
        await conn.execute(text("UPDATE users SET role = 'user' WHERE role = 'admin'"
                                " AND id <> :id"), {"id": user_id_of(admin)})

    refused = await client.put(f"{USERS}/{user_id_of(admin)}/role", headers=admin,
                               json={"role": "user"})

    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "last_admin")
    assert (await client.get(USERS, headers=admin)).status_code == 200


async def test_an_unknown_role_or_field_is_refused_naming_it(
        client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    admin = await new_admin(client, engine)
    uid = user_id_of(await register_and_login(client))
    for body, field in (({"role": "root"}, "role"), ({"role": "admin", "x": 1}, "x")):
        response = await client.put(f"{USERS}/{uid}/role", headers=admin, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["field"] == field


async def test_a_user_id_that_is_no_uuid_is_404_on_every_admin_route_before_its_body(
        client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    admin = await new_admin(client, engine)
    # As /orders/{order_id}: such a path names no route, so neither a bad body nor a missing
    # Idempotency-Key is looked at (those were 422s naming them).
    for bad in ("not-a-uuid", "0", f"{uuid.uuid4()}0", f"{uuid.uuid4()}".replace("-", "")):
        calls: list[tuple[str, str, dict[str, str] | None]] = [
            ("GET", f"{USERS}/{bad}", None), ("PUT", f"{USERS}/{bad}/role", {"role": "king"}),
            ("POST", f"{USERS}/{bad}/cash", {"amount": "1", "reason": "top-up"}),
            ("OPTIONS", f"{USERS}/{bad}/cash", None)]
        for method, path, body in calls:
            response = await client.request(method, path, json=body, headers=admin)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["error"]["code"] == "not_found", (method, path)
