"""Admins for the tests: a fresh user promoted in the database, as `ordergate create-admin`
would (tests/integration/test_create_admin.py runs the command itself)."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import register_and_login, user_id_of

ADMIN = "/api/v1/admin"


async def promote(engine: AsyncEngine, auth: dict[str, str]) -> None:
    """Make the user behind `auth` an admin."""
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE users SET role = 'admin' WHERE id = :id"),
                           {"id": user_id_of(auth)})


async def new_admin(client: httpx.AsyncClient, engine: AsyncEngine) -> dict[str, str]:
    """A fresh, logged-in admin's Authorization header."""
    auth = await register_and_login(client)
    await promote(engine, auth)
    return auth


async def api_key(client: httpx.AsyncClient, auth: dict[str, str],
                  scopes: tuple[str, ...] = ("read", "trade")) -> dict[str, str]:
    """An Authorization header with a new API key of the user behind `auth`."""
    created = await client.post("/api/v1/api-keys", headers=auth,
                                json={"name": "bot", "scopes": list(scopes)})
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}
