"""OWASP API6:2023 Unrestricted Access to Sensitive Business Flows: the flows a bot would
automate are bounded. A login code cannot be guessed (wrong tries burn it, the right one
then fails too), sign-ups and password guesses from one address are cut off, and orders
have a placement budget of their own (tests/integration/test_rate_limits.py: each budget)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from shared.db.repositories import login_codes
from shared.domain.login_codes import code_hash
from shared.settings import Settings
from tests.helpers import PASSWORD, user_id_of

pytestmark = pytest.mark.integration


@asynccontextmanager
async def _client(**budgets: str) -> AsyncIterator[httpx.AsyncClient]:
    """An API with these request budgets, called from an address of its own."""
    settings = Settings().model_copy(
        update={f"rate_limit_{name}": limit for name, limit in budgets.items()})
    app: FastAPI = create_app(settings)
    address = "10.9." + ".".join(str(b) for b in uuid.uuid4().bytes[:2])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_api6_guessing_a_login_code_burns_it(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
) -> None:
    settings = Settings()
    user = user_id_of(auth)
    email = (await client.get("/api/v1/me", headers=auth)).json()["email"]
    async with engine.begin() as conn:  # the code the worker would have mailed
        await login_codes.issue(conn, user_id=user, code_hash=code_hash(
            settings.jwt_secret, user, "424242"), now=datetime.now(UTC),
            ttl=timedelta(minutes=5), resend_after=timedelta(0))
    for guess in range(settings.otp_max_attempts):
        wrong = await client.post("/api/v1/auth/otp-login",
                                  json={"email": email, "otp": f"{guess:06d}"})
        assert wrong.status_code == 401
    right = await client.post("/api/v1/auth/otp-login", json={"email": email, "otp": "424242"})
    assert right.status_code == 401
    assert right.json()["error"]["code"] == "invalid_credentials"


async def test_api6_a_sign_up_flood_from_one_address_is_cut_off_and_stores_nothing(
    engine: AsyncEngine,
) -> None:
    prefix = f"flood-{uuid.uuid4().hex[:8]}"
    async with _client(register="3/hour") as api:
        answers = [await api.post("/api/v1/auth/register", json={
            "email": f"{prefix}-{n}@example.com", "password": PASSWORD}) for n in range(6)]
    assert [a.status_code for a in answers] == [201] * 3 + [429] * 3
    assert answers[-1].json()["error"]["details"]["budget"] == "register"
    async with engine.connect() as conn:
        made = (await conn.execute(text("SELECT count(*) FROM users WHERE email LIKE :p"),
                                   {"p": f"{prefix}-%"})).scalar_one()
    assert made == 3


async def test_api6_password_guessing_is_cut_off_before_the_right_password_is_tried(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    email = (await client.get("/api/v1/me", headers=auth)).json()["email"]
    async with _client(login="5/minute") as api:
        guesses = [await api.post("/api/v1/auth/login", json={
            "email": email, "password": f"guess number {n}"}) for n in range(5)]
        right = await api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert {g.status_code for g in guesses} == {401}
    assert right.status_code == 429
    assert int(right.headers["retry-after"]) > 0
