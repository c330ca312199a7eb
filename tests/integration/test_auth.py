"""Sign-up, login, refresh rotation with reuse detection, and logout, against real PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any

import bcrypt
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.security import verify_access_token
from shared.settings import get_settings

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


def _email() -> str:
    return f"auth-{uuid.uuid4().hex[:12]}@example.com"


async def _register(client: httpx.AsyncClient, email: str, password: str = PASSWORD,
                    **extra: Any) -> httpx.Response:
    return await client.post("/api/v1/auth/register",
                             json={"email": email, "password": password, **extra})


async def _login(client: httpx.AsyncClient, email: str, password: str = PASSWORD
                 ) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def _session(client: httpx.AsyncClient) -> dict[str, Any]:
    email = _email()
    assert (await _register(client, email)).status_code == 201
    response = await _login(client, email)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def _refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


async def _account(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await client.get("/api/v1/account",
                            headers={"Authorization": f"Bearer {access_token}"})


async def test_register_creates_user_with_lowercased_email(client: httpx.AsyncClient) -> None:
    email = _email()
    username = f"u_{uuid.uuid4().hex[:8]}"

    response = await _register(client, email.upper(), username=username)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {"id": body["id"], "email": email, "username": username}
    uuid.UUID(body["id"])


async def test_registered_user_gets_a_funded_paper_account(client: httpx.AsyncClient) -> None:
    tokens = await _session(client)

    response = await _account(client, tokens["access_token"])

    assert response.status_code == 200, response.text
    settings = get_settings()
    account = response.json()
    assert account["currency"] == settings.paper_currency
    assert float(account["cash"]) == float(settings.paper_starting_cash)


async def test_duplicate_email_in_any_case_is_409_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    email = _email()
    assert (await _register(client, email)).status_code == 201

    response = await _register(client, email.upper(), password="another password")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "already_registered"
    assert error["details"] == {"field": "email"}
    assert error["message"]
    assert error["request_id"]


async def test_duplicate_username_is_409_naming_the_field(client: httpx.AsyncClient) -> None:
    username = f"u_{uuid.uuid4().hex[:8]}"
    assert (await _register(client, _email(), username=username)).status_code == 201

    response = await _register(client, _email(), username=username)

    assert response.status_code == 409
    assert response.json()["error"]["details"] == {"field": "username"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "ok@example.com", "password": "short"}, "password"),
        ({"email": "ok@example.com", "password": "x" * 129}, "password"),
        ({"email": "ok@example.com", "password": PASSWORD, "username": "a b"}, "username"),
        ({"email": "ok@example.com", "password": PASSWORD, "username": "ab"}, "username"),
    ],
    ids=["bad-email", "short-password", "long-password", "username-space", "username-short"],
)
async def test_invalid_registration_is_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, str], field: str
) -> None:
    response = await client.post("/api/v1/auth/register", json=body)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"]["field"] == field
    assert error["request_id"]


async def test_login_returns_a_bearer_pair_whose_access_token_opens_the_api(
    client: httpx.AsyncClient,
) -> None:
    email = _email()
    register = await _register(client, email)

    response = await _login(client, email.upper())

    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == get_settings().access_token_ttl_seconds
    assert tokens["refresh_token"] != tokens["access_token"]
    assert response.headers["cache-control"] == "no-store"
    principal = verify_access_token(get_settings(), tokens["access_token"])
    assert principal is not None
    assert str(principal.user_id) == register.json()["id"]
    assert (await _account(client, tokens["access_token"])).status_code == 200


async def test_wrong_password_and_unknown_email_get_the_same_401(
    client: httpx.AsyncClient,
) -> None:
    email = _email()
    assert (await _register(client, email)).status_code == 201

    wrong_password = await _login(client, email, "not the password")
    unknown_email = await _login(client, _email())

    assert wrong_password.status_code == unknown_email.status_code == 401
    first, second = wrong_password.json()["error"], unknown_email.json()["error"]
    assert first["request_id"] != second["request_id"]
    first.pop("request_id")
    second.pop("request_id")
    assert first == second
    assert wrong_password.headers["www-authenticate"] == "Bearer"


async def test_oauth2_password_form_logs_in_for_swagger(client: httpx.AsyncClient) -> None:
    email = _email()
    assert (await _register(client, email)).status_code == 201

    response = await client.post("/api/v1/auth/token",
                                 data={"username": email, "password": PASSWORD})

    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "bearer"
    assert (await _account(client, response.json()["access_token"])).status_code == 200


@pytest.mark.parametrize("username", ["not-an-email", "nobody@example.com"])
async def test_oauth2_password_form_refuses_unknown_users_with_401(
    client: httpx.AsyncClient, username: str
) -> None:
    response = await client.post("/api/v1/auth/token",
                                 data={"username": username, "password": PASSWORD})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


async def test_refresh_token_is_not_accepted_as_an_access_token(
    client: httpx.AsyncClient,
) -> None:
    tokens = await _session(client)

    assert (await _account(client, tokens["refresh_token"])).status_code == 401


async def test_refresh_rotates_and_the_old_refresh_token_stops_working(
    client: httpx.AsyncClient,
) -> None:
    first = await _session(client)

    rotated = await _refresh(client, first["refresh_token"])

    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await _account(client, second["access_token"])).status_code == 200
    replay = await _refresh(client, first["refresh_token"])
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "invalid_credentials"


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    client: httpx.AsyncClient,
) -> None:
    first = await _session(client)
    second = (await _refresh(client, first["refresh_token"])).json()
    third = (await _refresh(client, second["refresh_token"])).json()

    assert (await _refresh(client, first["refresh_token"])).status_code == 401

    # The newest token, held by whoever rotated last, is dead too: both parties must log in.
    assert (await _refresh(client, third["refresh_token"])).status_code == 401


async def test_reuse_revokes_only_that_login_not_other_sessions(
    client: httpx.AsyncClient,
) -> None:
    email = _email()
    assert (await _register(client, email)).status_code == 201
    laptop = (await _login(client, email)).json()
    phone = (await _login(client, email)).json()
    await _refresh(client, laptop["refresh_token"])

    assert (await _refresh(client, laptop["refresh_token"])).status_code == 401

    assert (await _refresh(client, phone["refresh_token"])).status_code == 200


async def test_concurrent_refreshes_of_one_token_never_both_succeed(
    client: httpx.AsyncClient,
) -> None:
    tokens = await _session(client)

    responses = await asyncio.gather(
        *(_refresh(client, tokens["refresh_token"]) for _ in range(4))
    )

    # One wins; the rest arrive after the rotation and look like a stolen token's replay.
    assert sorted(r.status_code for r in responses) == [200, 401, 401, 401]


async def test_expired_and_unknown_refresh_tokens_are_401(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    tokens = await _session(client)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'"
                 " WHERE token_hash = :h"),
            {"h": hashlib.sha256(tokens["refresh_token"].encode()).hexdigest()},
        )

    assert (await _refresh(client, tokens["refresh_token"])).status_code == 401
    assert (await _refresh(client, "never-issued-token")).status_code == 401


async def test_refresh_tokens_are_stored_only_as_sha256(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    tokens = await _session(client)
    digest = hashlib.sha256(tokens["refresh_token"].encode()).hexdigest()

    async with engine.connect() as conn:
        by_hash = (await conn.execute(
            text("SELECT count(*) FROM refresh_tokens WHERE token_hash = :h"), {"h": digest}
        )).scalar_one()
        by_plain = (await conn.execute(
            text("SELECT count(*) FROM refresh_tokens WHERE token_hash = :t"),
            {"t": tokens["refresh_token"]},
        )).scalar_one()

    assert (by_hash, by_plain) == (1, 0)


async def test_logout_revokes_the_refresh_token_and_is_idempotent(
    client: httpx.AsyncClient,
) -> None:
    tokens = await _session(client)

    response = await client.post("/api/v1/auth/logout",
                                 json={"refresh_token": tokens["refresh_token"]})

    assert response.status_code == 204
    assert response.content == b""
    assert (await _refresh(client, tokens["refresh_token"])).status_code == 401
    again = await client.post("/api/v1/auth/logout",
                              json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 204
    unknown = await client.post("/api/v1/auth/logout", json={"refresh_token": "never-issued"})
    assert unknown.status_code == 204


async def test_logout_with_a_rotated_token_ends_that_session(client: httpx.AsyncClient) -> None:
    first = await _session(client)
    second = (await _refresh(client, first["refresh_token"])).json()

    await client.post("/api/v1/auth/logout", json={"refresh_token": first["refresh_token"]})

    assert (await _refresh(client, second["refresh_token"])).status_code == 401


async def test_legacy_bcrypt_password_logs_in_and_is_upgraded_to_argon2id(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    email = _email()
    assert (await _register(client, email)).status_code == 201
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE users SET password_hash = :h WHERE email = :e"),
                           {"h": legacy, "e": email})

    response = await _login(client, email)

    assert response.status_code == 200, response.text
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT password_hash FROM users WHERE email = :e"),
                                     {"e": email})).scalar_one()
    assert stored.startswith("$argon2id$")
    assert (await _login(client, email)).status_code == 200
    assert (await _login(client, email, "wrong password")).status_code == 401
