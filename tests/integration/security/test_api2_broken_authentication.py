"""OWASP API2:2023 Broken Authentication: only an intact, current access token of ours or a
live API key is honoured; every forged, altered, stale or revoked one is a 401 with its code
(api.errors.AuthCode) and the Bearer challenge, and a wrong password costs as a right one."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from jose import jwt

from shared.settings import Settings
from tests.helpers import PASSWORD, user_id_of

pytestmark = pytest.mark.integration
ME = "/api/v1/me"


def _claims(user: uuid.UUID, **changed: Any) -> dict[str, Any]:
    settings, now = Settings(), int(time.time())
    return {"sub": str(user), "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
            "iat": now, "nbf": now, "exp": now + 600, "jti": uuid.uuid4().hex,
            "typ": "access", "gen": 0, **changed}


def _signed(claims: dict[str, Any], secret: str | None = None, alg: str = "HS256") -> str:
    return str(jwt.encode(claims, secret or Settings().jwt_secret, algorithm=alg))


def _b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def _tampered(token: str) -> str:
    header, _, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return ".".join([header, _b64({**claims, "sub": str(uuid.uuid4())}), signature])


FORGERIES: dict[str, tuple[Callable[[uuid.UUID, str], str], str]] = {
    "tampered claims": (lambda user, token: _tampered(token), "unauthenticated"),
    "alg none": (lambda user, token: f"{_b64({'alg': 'none', 'typ': 'JWT'})}"
                                     f".{_b64(_claims(user))}.", "unauthenticated"),
    "another secret": (lambda user, token: _signed(_claims(user), "x" * 48), "unauthenticated"),
    "HS512": (lambda user, token: _signed(_claims(user), alg="HS512"), "unauthenticated"),
    "foreign issuer": (lambda user, token: _signed(_claims(user, iss="evil")),
                       "unauthenticated"),
    "foreign audience": (lambda user, token: _signed(_claims(user, aud="other-api")),
                         "unauthenticated"),
    "a refresh-type token": (lambda user, token: _signed(_claims(user, typ="refresh")),
                             "unauthenticated"),
    "expired": (lambda user, token: _signed(_claims(user, exp=int(time.time()) - 5,
                                                    iat=int(time.time()) - 700,
                                                    nbf=int(time.time()) - 700)),
                "token_expired"),
    "a user that does not exist": (lambda user, token: _signed(_claims(uuid.uuid4())),
                                   "unauthenticated"),
    "no token": (lambda user, token: "", "unauthenticated"),
    "garbage": (lambda user, token: "og_not-a-key", "unauthenticated"),
}


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_api2_a_forged_altered_or_stale_token_is_401_with_its_code(
    client: httpx.AsyncClient, auth: dict[str, str], forgery: str,
) -> None:
    make, code = FORGERIES[forgery]
    token = make(user_id_of(auth), auth["Authorization"].removeprefix("Bearer "))
    response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == code
    assert response.headers["www-authenticate"] == "Bearer"


async def test_api2_logout_everywhere_ends_every_token_at_once_and_a_deleted_key(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    key = (await client.post("/api/v1/api-keys", json={"name": "k", "scopes": ["read"]},
                             headers=auth)).json()
    key_auth = {"Authorization": f"Bearer {key['key']}"}
    assert (await client.get(ME, headers=key_auth)).status_code == 200
    assert (await client.delete(f"/api/v1/api-keys/{key['id']}", headers=auth)).status_code == 204
    assert (await client.get(ME, headers=key_auth)).status_code == 401
    assert (await client.post("/api/v1/auth/logout-all", headers=auth)).status_code == 204
    response = await client.get(ME, headers=auth)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_revoked"


async def test_api2_a_reused_refresh_token_ends_its_whole_family(
    client: httpx.AsyncClient,
) -> None:
    email = f"reuse-{uuid.uuid4().hex[:10]}@example.com"
    await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    first = (await client.post("/api/v1/auth/login",
                               json={"email": email, "password": PASSWORD})).json()
    second = (await client.post("/api/v1/auth/refresh",
                                json={"refresh_token": first["refresh_token"]})).json()
    replay = await client.post("/api/v1/auth/refresh",
                               json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401  # the stolen copy is spent ...
    after = await client.post("/api/v1/auth/refresh",
                              json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 401  # ... and so is the rightful one: the family is revoked


async def test_api2_an_unknown_email_and_a_wrong_password_get_one_answer(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    me = (await client.get(ME, headers=auth)).json()
    answers = [await client.post("/api/v1/auth/login", json={"email": email,
                                                             "password": "wrong password 1"})
               for email in (me["email"], f"nobody-{uuid.uuid4().hex}@example.com")]
    assert [a.status_code for a in answers] == [401, 401]
    bodies = [{**a.json()["error"], "request_id": None} for a in answers]
    assert bodies[0] == bodies[1]
