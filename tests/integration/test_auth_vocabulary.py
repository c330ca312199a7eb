"""One vocabulary for "who is calling, and may they": every 401 and 403 of the auth routes,
access tokens, API keys, OTP and the streams carries one of api.errors.AuthCode's codes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.errors import AuthCode
from api.security import issue_access_token
from shared.settings import Settings
from tests.helpers import PASSWORD, register_and_login, user_id_of

pytestmark = pytest.mark.integration
ORDER = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "1",
         "price": "1.00", "time_in_force": "GTC"}


def _refusal(response: httpx.Response, status: int, code: AuthCode) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    return error


async def _key(client: httpx.AsyncClient, auth: dict[str, str], scope: str) -> dict[str, str]:
    created = await client.post("/api/v1/api-keys", headers=auth,
                                json={"name": f"{scope} bot", "scopes": [scope]})
    return {"Authorization": f"Bearer {created.json()['key']}"}


async def test_an_expired_access_token_is_token_expired_and_a_forged_one_is_not(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    user = user_id_of(auth)
    lapsed = Settings(access_token_ttl_seconds=-60)
    expired = issue_access_token(lapsed, user)
    # Expired as well, but not signed with our key: nothing to refresh.
    forged = issue_access_token(lapsed.model_copy(update={"jwt_secret": "s" + "0123456789" * 4}),
                                user)

    refused = await client.get("/api/v1/orders", headers={"Authorization": f"Bearer {expired}"})
    stranger = await client.get("/api/v1/orders", headers={"Authorization": f"Bearer {forged}"})

    assert "refresh" in _refusal(refused, 401, AuthCode.TOKEN_EXPIRED)["message"]
    _refusal(stranger, 401, AuthCode.UNAUTHENTICATED)


async def test_every_refusal_of_a_caller_speaks_the_one_vocabulary(
    client: httpx.AsyncClient,
) -> None:
    auth = await register_and_login(client)
    session = await client.post("/api/v1/auth/login", json={
        "email": (await client.get("/api/v1/me", headers=auth)).json()["email"],
        "password": PASSWORD})
    read_key, trade_key = [await _key(client, auth, scope) for scope in ("read", "trade")]
    refusals = [
        (await client.get("/api/v1/orders"), 401, AuthCode.UNAUTHENTICATED),
        (await client.get("/api/v1/orders", headers={"Authorization": "Bearer og_x_y"}), 401,
         AuthCode.UNAUTHENTICATED),
        (await client.get("/api/v1/stream/sse"), 401, AuthCode.UNAUTHENTICATED),
        (await client.get("/api/v1/queue/status", headers={"Authorization": "Bearer nope"}),
         401, AuthCode.UNAUTHENTICATED),
        (await client.post("/api/v1/auth/login", json={"email": "nobody@example.com",
                                                       "password": PASSWORD}),
         401, AuthCode.INVALID_CREDENTIALS),
        (await client.post("/api/v1/auth/otp-login", json={"email": "nobody@example.com",
                                                           "otp": "000000"}),
         401, AuthCode.INVALID_CREDENTIALS),
        (await client.post("/api/v1/auth/refresh", json={"refresh_token": "not-a-token"}),
         401, AuthCode.INVALID_CREDENTIALS),
        (await client.post("/api/v1/me/password", headers=auth, json={
            "current_password": "not the password", "new_password": "another long passphrase"}),
         403, AuthCode.INVALID_CREDENTIALS),
        (await client.post("/api/v1/orders", headers=read_key, json=ORDER), 403,
         AuthCode.INSUFFICIENT_SCOPE),
        (await client.post("/api/v1/api-keys", headers=trade_key, json={
            "name": "minted", "scopes": ["read"]}), 403, AuthCode.LOGIN_REQUIRED),
    ]
    await client.post("/api/v1/auth/logout-all", headers=auth)
    refusals.append((await client.get("/api/v1/orders", headers={
        "Authorization": f"Bearer {session.json()['access_token']}"}), 401,
        AuthCode.TOKEN_REVOKED))

    for response, status, code in refusals:
        _refusal(response, status, code)
