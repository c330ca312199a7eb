"""Your account at /me: reading it, renaming it, and changing its password."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.helpers import PASSWORD

pytestmark = pytest.mark.integration

ME = "/api/v1/me"
NEW_PASSWORD = "a new and longer password"


async def _sign_up(client: httpx.AsyncClient, **extra: Any) -> tuple[str, dict[str, str]]:
    email = f"me-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post("/api/v1/auth/register",
                                 json={"email": email, "password": PASSWORD, **extra})
    assert response.status_code == 201, response.text
    return email, await _tokens(client, email)


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def _tokens(client: httpx.AsyncClient, email: str, password: str = PASSWORD
                  ) -> dict[str, str]:
    response = await _login(client, email, password)
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


def _bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def _key(client: httpx.AsyncClient, tokens: dict[str, str]) -> dict[str, str]:
    response = await client.post("/api/v1/api-keys", json={"name": "bot", "scopes": ["trade"]},
                                 headers=_bearer(tokens))
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['key']}"}


async def test_me_shows_your_account_to_a_login_and_to_an_api_key(
    client: httpx.AsyncClient,
) -> None:
    email, tokens = await _sign_up(client)
    mine = await client.get(ME, headers=_bearer(tokens))
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["email"] == email
    assert body["username"] is None
    assert body["full_name"] is None
    assert body["created_at"]
    by_key = await client.get(ME, headers=await _key(client, tokens))
    assert by_key.status_code == 200
    assert by_key.json() == body
    assert (await client.get(ME)).status_code == 401


async def test_patch_me_changes_only_the_fields_given_and_null_clears(
    client: httpx.AsyncClient,
) -> None:
    _, tokens = await _sign_up(client)
    auth = _bearer(tokens)
    name = f"ada_{uuid.uuid4().hex[:8]}"
    changed = await client.patch(ME, json={"username": name, "full_name": " Ada Lovelace "},
                                 headers=auth)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["username"], changed.json()["full_name"]) == (name, "Ada Lovelace")
    # One name: the settings profile shows the same.
    profile = await client.get("/api/v1/settings/profile", headers=auth)
    assert profile.json()["name"] == "Ada Lovelace"

    kept = await client.patch(ME, json={"full_name": None}, headers=auth)
    assert (kept.json()["username"], kept.json()["full_name"]) == (name, None)
    assert (await client.get(ME, headers=auth)).json() == kept.json()


async def test_a_username_someone_has_in_any_case_is_a_409_and_your_own_may_change_case(
    client: httpx.AsyncClient,
) -> None:
    taken = f"taken_{uuid.uuid4().hex[:8]}"
    await _sign_up(client, username=taken)
    _, tokens = await _sign_up(client, username=f"mine_{uuid.uuid4().hex[:8]}")
    clash = await client.patch(ME, json={"username": taken.upper()}, headers=_bearer(tokens))
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "username_taken"
    assert clash.json()["error"]["details"]["field"] == "username"

    own = (await client.get(ME, headers=_bearer(tokens))).json()["username"]
    recased = await client.patch(ME, json={"username": own.upper()}, headers=_bearer(tokens))
    assert recased.status_code == 200
    assert recased.json()["username"] == own.upper()


async def test_invalid_fields_are_a_422_naming_them(client: httpx.AsyncClient) -> None:
    _, tokens = await _sign_up(client)
    for body, field in (({"username": "no spaces allowed"}, "username"),
                        ({"full_name": ""}, "full_name"), ({"email": "x@example.com"}, "email")):
        response = await client.patch(ME, json=body, headers=_bearer(tokens))
        assert response.status_code == 422, body
        assert response.json()["error"]["details"]["field"] == field
    short = await client.post(f"{ME}/password", headers=_bearer(tokens),
                              json={"current_password": PASSWORD, "new_password": "short"})
    assert short.status_code == 422
    assert short.json()["error"]["details"]["field"] == "new_password"


async def test_an_api_key_can_neither_rename_nor_change_the_password(
    client: httpx.AsyncClient,
) -> None:
    email, tokens = await _sign_up(client)
    key = await _key(client, tokens)
    rename = await client.patch(ME, json={"full_name": "Bot"}, headers=key)
    password = await client.post(f"{ME}/password", headers=key,
                                 json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    for refused in (rename, password):
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "login_required"
    assert (await client.get(ME, headers=key)).json()["full_name"] is None
    assert (await _login(client, email, PASSWORD)).status_code == 200


async def test_a_wrong_current_password_is_a_403_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    email, tokens = await _sign_up(client)
    wrong = await client.post(f"{ME}/password", headers=_bearer(tokens),
                              json={"current_password": "not it at all",
                                    "new_password": NEW_PASSWORD})
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "invalid_credentials"
    assert wrong.json()["error"]["details"]["field"] == "current_password"
    assert (await client.get(ME, headers=_bearer(tokens))).status_code == 200
    assert (await _login(client, email, PASSWORD)).status_code == 200
    assert (await _login(client, email, NEW_PASSWORD)).status_code == 401


async def test_a_password_change_ends_every_session_and_returns_a_fresh_pair(
    client: httpx.AsyncClient,
) -> None:
    email, laptop = await _sign_up(client)
    phone = await _tokens(client, email)
    changed = await client.post(f"{ME}/password", headers=_bearer(laptop),
                                json={"current_password": PASSWORD,
                                      "new_password": NEW_PASSWORD})
    assert changed.status_code == 200, changed.text
    assert changed.headers["cache-control"] == "no-store"
    fresh = changed.json()

    for old in (laptop, phone):
        stale = await client.get(ME, headers=_bearer(old))
        assert stale.status_code == 401
        assert stale.json()["error"]["code"] == "token_revoked"
        refresh = await client.post("/api/v1/auth/refresh",
                                    json={"refresh_token": old["refresh_token"]})
        assert refresh.status_code == 401
    assert (await client.get(ME, headers=_bearer(fresh))).status_code == 200
    assert (await client.post("/api/v1/auth/refresh",
                              json={"refresh_token": fresh["refresh_token"]})).status_code == 200
    assert (await _login(client, email, PASSWORD)).status_code == 401
    assert (await _login(client, email, NEW_PASSWORD)).status_code == 200
