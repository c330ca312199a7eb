"""`ordergate create-admin`, run as its own process: the first admin created, a user promoted,
each audited; the password read from stdin, never from the command line."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import PASSWORD
from tests.integration.admins import ADMIN
from tests.integration.cli import json_of, one_line_failure, ordergate

pytestmark = pytest.mark.integration

NEW_PASSWORD = "a long admin passphrase"


async def _login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await client.post("/api/v1/auth/login",
                                 json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _audited(engine: AsyncEngine, user_id: str) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT actor_user_id, details FROM audit_log WHERE action = 'admin.role_changed'"
            " AND user_id = :id"), {"id": uuid.UUID(user_id)})).all()
    assert all(row.actor_user_id is None for row in rows)  # nobody logged in: the command
    return [row.details for row in rows]


async def test_a_new_admin_is_created_with_a_password_from_stdin_and_can_administer(
        client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    name = f"root_{uuid.uuid4().hex[:8]}"
    email = f"{name}@example.com"

    made = json_of(ordergate("create-admin", name, "--email", email.upper(), "--password-stdin",
                           "--json", stdin=f"{NEW_PASSWORD}\n"))

    assert (made["username"], made["email"], made["outcome"]) == (name, email, "created")
    admin = await _login(client, email, NEW_PASSWORD)
    assert (await client.get(f"{ADMIN}/users", headers=admin)).status_code == 200
    account = await client.get("/api/v1/account", headers=admin)
    assert account.json()["cash"] == "100000"  # a funded paper account, like any sign-up
    assert await _audited(engine, made["id"]) == [
        {"from": "user", "to": "admin", "created": True, "via": "ordergate create-admin"}]


async def test_an_existing_user_is_promoted_once_by_its_username(
        client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    name = f"Ada_{uuid.uuid4().hex[:8]}"
    email = f"{name.lower()}@example.com"
    registered = await client.post("/api/v1/auth/register",
                                   json={"email": email, "password": PASSWORD, "username": name})
    assert registered.status_code == 201, registered.text
    user = await _login(client, email, PASSWORD)
    assert (await client.get(f"{ADMIN}/users", headers=user)).status_code == 403

    first = json_of(ordergate("create-admin", name.lower(), "--json"))
    again = json_of(ordergate("create-admin", name, "--email", email, "--json"))

    assert (first["outcome"], again["outcome"]) == ("promoted", "already an admin")
    assert (await client.get(f"{ADMIN}/users", headers=user)).status_code == 200
    assert len(await _audited(engine, first["id"])) == 1


async def test_a_user_it_cannot_name_or_create_is_one_line_and_nothing_changes(
        client: httpx.AsyncClient) -> None:
    taken = f"taken_{uuid.uuid4().hex[:8]}"
    registered = await client.post(
        "/api/v1/auth/register",
        json={"email": f"{taken}@example.com", "password": PASSWORD, "username": taken})
    assert registered.status_code == 201, registered.text
    nobody = f"nobody_{uuid.uuid4().hex[:8]}"

    unknown = one_line_failure(ordergate("create-admin", nobody), 1)
    mismatch = one_line_failure(
        ordergate("create-admin", nobody, "--email", f"{taken}@example.com"), 1)
    short = one_line_failure(
        ordergate("create-admin", nobody, "--email", f"{nobody}@example.com",
                  "--password-stdin", stdin="hunter2\n"), 2)

    assert "give --email to create one" in unknown
    assert taken in mismatch
    assert "password" in short
    assert "hunter2" not in short
    login = await client.post("/api/v1/auth/login",
                              json={"email": f"{nobody}@example.com", "password": "hunter2"})
    assert login.status_code == 401


def test_a_password_is_never_taken_from_the_command_line() -> None:
    result = ordergate("create-admin", "someone", "--email", "someone@example.com",
                       "--password", NEW_PASSWORD)
    assert result.returncode == 2
    assert "No such option" in result.stderr
