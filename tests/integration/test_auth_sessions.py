"""Logging out everywhere, case-insensitive usernames, and logins that tell no one who exists."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import PASSWORD

pytestmark = pytest.mark.integration

ACCOUNT = "/api/v1/account"


def _email() -> str:
    return f"sessions-{uuid.uuid4().hex[:12]}@example.com"


async def _register(client: httpx.AsyncClient, email: str, **extra: Any) -> httpx.Response:
    return await client.post("/api/v1/auth/register",
                             json={"email": email, "password": PASSWORD, **extra})


async def _login(client: httpx.AsyncClient, email: str, password: str = PASSWORD
                 ) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def _tokens(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await _login(client, email)
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


def _bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def _refresh(client: httpx.AsyncClient, tokens: dict[str, str]) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh",
                             json={"refresh_token": tokens["refresh_token"]})


async def test_logout_all_ends_every_session_and_its_access_tokens_at_once(
    client: httpx.AsyncClient,
) -> None:
    email = _email()
    assert (await _register(client, email)).status_code == 201
    laptop, phone = await _tokens(client, email), await _tokens(client, email)
    assert (await client.get(ACCOUNT, headers=_bearer(phone))).status_code == 200  # cached

    ended = await client.post("/api/v1/auth/logout-all", headers=_bearer(laptop))

    assert ended.status_code == 204, ended.text
    for session in (laptop, phone):
        refused = await client.get(ACCOUNT, headers=_bearer(session))
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "token_revoked"
        assert (await _refresh(client, session)).status_code == 401
    fresh = await _tokens(client, email)
    assert (await client.get(ACCOUNT, headers=_bearer(fresh))).status_code == 200
    assert (await _refresh(client, fresh)).status_code == 200


async def test_a_revoked_access_token_opens_no_event_stream(client: httpx.AsyncClient) -> None:
    email = _email()
    assert (await _register(client, email)).status_code == 201
    tokens = await _tokens(client, email)
    assert (await client.post("/api/v1/auth/logout-all", headers=_bearer(tokens))
            ).status_code == 204

    # An accepted stream never ends: the guard turns that regression into a failure, not a hang.
    refused = await asyncio.wait_for(
        client.get("/api/v1/stream/sse", headers=_bearer(tokens)), timeout=60)

    assert refused.status_code == 401, refused.text


async def test_logout_all_takes_a_login_not_an_api_key(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    created = await client.post("/api/v1/api-keys", json={"name": "bot", "scopes": ["trade"]},
                                headers=auth)
    assert created.status_code == 201, created.text
    key = {"Authorization": f"Bearer {created.json()['key']}"}

    refused = await client.post("/api/v1/auth/logout-all", headers=key)

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "login_required"
    assert (await client.get(ACCOUNT, headers=auth)).status_code == 200


async def test_a_refresh_token_from_before_a_logout_everywhere_never_rotates(
    client: httpx.AsyncClient, engine: AsyncEngine,
) -> None:
    # A rotation racing logout-all can issue a token the revocation did not see; the user's
    # generation has moved on all the same.
    email = _email()
    assert (await _register(client, email)).status_code == 201
    tokens = await _tokens(client, email)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE users SET token_generation = token_generation + 1"
                                " WHERE email = :email"), {"email": email})

    assert (await _refresh(client, tokens)).status_code == 401
    assert (await client.get(ACCOUNT, headers=_bearer(tokens))).status_code == 401


async def test_a_username_differing_only_by_case_is_taken(client: httpx.AsyncClient) -> None:
    name = f"Trader_{uuid.uuid4().hex[:8]}"
    assert (await _register(client, _email(), username=name)).status_code == 201

    taken = await _register(client, _email(), username=name.upper())

    assert taken.status_code == 409, taken.text
    assert taken.json()["error"]["details"] == {"field": "username"}


def _without_request_id(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = response.json()
    body["error"].pop("request_id")
    return response.status_code, body


async def test_an_unknown_email_and_a_wrong_password_get_the_same_answer(
    client: httpx.AsyncClient,
) -> None:
    email = _email()
    assert (await _register(client, email)).status_code == 201

    wrong = await _login(client, email, "not the password")
    unknown = await _login(client, _email(), "not the password")
    form_wrong = await client.post("/api/v1/auth/token",
                                   data={"username": email, "password": "not the password"})
    form_unknown = await client.post("/api/v1/auth/token",
                                     data={"username": _email(), "password": "x"})

    assert _without_request_id(wrong) == _without_request_id(unknown)
    assert _without_request_id(form_wrong) == _without_request_id(form_unknown)
    assert _without_request_id(wrong) == _without_request_id(form_wrong)
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"]


async def test_an_unknown_email_costs_about_what_a_wrong_password_costs(
    client: httpx.AsyncClient,
) -> None:
    email = _email()
    assert (await _register(client, email)).status_code == 201

    async def seconds(login_email: str) -> float:
        started = time.perf_counter()
        assert (await _login(client, login_email, "not the password")).status_code == 401
        return time.perf_counter() - started

    await seconds(email), await seconds(_email())  # warm both paths
    wrong, unknown = [], []
    for _ in range(9):  # interleaved, so that load on the machine falls on both alike
        wrong.append(await seconds(email))
        unknown.append(await seconds(_email()))

    # Without the dummy hash an unknown email answers some 20 times faster.
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.5 < ratio < 2.0, (ratio, wrong, unknown)
