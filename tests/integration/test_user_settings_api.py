"""Profile and preferences through the real API and PostgreSQL: defaults, whole-document
replacement, validation naming each field, and a default account that must be your own."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import get_ok, register_and_login, user_id_of
from tests.integration.test_order_responses import OpenApi

pytestmark = pytest.mark.integration

PROFILE = "/api/v1/settings/profile"
PREFERENCES = "/api/v1/settings/preferences"
A_PROFILE = {"name": "Asha Rao", "mobile": "+91 98765-43210", "timezone": "Asia/Kolkata"}
SOME_PREFERENCES = {"default_account_id": None, "default_order_type": "MARKET",
                    "default_time_in_force": "GTC", "order_confirmations": False}


@pytest.fixture
async def api(client: httpx.AsyncClient) -> OpenApi:
    return OpenApi((await client.get("/openapi.json")).json())


async def paper_account(engine: AsyncEngine, auth: dict[str, str]) -> str:
    async with engine.connect() as conn:
        account_id = (await conn.execute(
            text("SELECT id FROM accounts WHERE user_id = :u AND broker = 'paper'"),
            {"u": user_id_of(auth)})).scalar_one()
    return str(account_id)


async def put_ok(client: httpx.AsyncClient, auth: dict[str, str], path: str,
                 body: dict[str, Any], api: OpenApi) -> dict[str, Any]:
    response = await client.put(path, json=body, headers=auth)
    assert response.status_code == 200, response.text
    stored: dict[str, Any] = api.check(response)
    return stored


def error_of(api: OpenApi, response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    api.check(response)
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


async def test_a_new_user_has_the_default_settings(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    assert await get_ok(client, auth, PROFILE) == {
        "name": None, "mobile": None, "timezone": "UTC", "updated_at": None}
    assert await get_ok(client, auth, PREFERENCES) == {
        "default_account_id": None, "default_order_type": "LIMIT",
        "default_time_in_force": "DAY", "order_confirmations": True, "updated_at": None}


async def test_a_profile_put_replaces_the_whole_profile(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi,
) -> None:
    stored = await put_ok(client, auth, PROFILE, A_PROFILE, api)
    assert (stored["name"], stored["mobile"], stored["timezone"]) == (
        "Asha Rao", "+919876543210", "Asia/Kolkata")
    assert await get_ok(client, auth, PROFILE) == stored

    cleared = await put_ok(client, auth, PROFILE,
                           {"name": None, "mobile": None, "timezone": "UTC"}, api)
    assert (cleared["name"], cleared["mobile"], cleared["timezone"]) == (None, None, "UTC")
    # The preferences are a document of their own: untouched.
    assert (await get_ok(client, auth, PREFERENCES))["default_order_type"] == "LIMIT"


async def test_preferences_put_replaces_them_and_names_one_of_your_accounts(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], api: OpenApi,
) -> None:
    account_id = await paper_account(engine, auth)
    await put_ok(client, auth, PROFILE, A_PROFILE, api)

    stored = await put_ok(client, auth, PREFERENCES,
                          {**SOME_PREFERENCES, "default_account_id": account_id}, api)

    assert {k: v for k, v in stored.items() if k != "updated_at"} == {
        **SOME_PREFERENCES, "default_account_id": account_id}
    assert await get_ok(client, auth, PREFERENCES) == stored
    assert (await get_ok(client, auth, PROFILE))["name"] == "Asha Rao"  # untouched


@pytest.mark.parametrize("whose", ["another user's", "no one's"])
async def test_a_default_account_not_yours_is_404_and_changes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], api: OpenApi,
    whose: str,
) -> None:
    if whose == "another user's":
        account_id = await paper_account(engine, await register_and_login(client))
    else:
        account_id = str(uuid.uuid4())

    response = await client.put(PREFERENCES, json={**SOME_PREFERENCES,
                                                   "default_account_id": account_id},
                                headers=auth)

    error = error_of(api, response, 404, "not_found")
    assert error["details"]["field"] == "default_account_id"
    assert (await get_ok(client, auth, PREFERENCES))["updated_at"] is None


@pytest.mark.parametrize(("change", "field"), [
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"timezone": "asia/kolkata"}, "timezone"),
    ({"timezone": "x" * 10_000}, "timezone"),
    ({"mobile": "98765 43210"}, "mobile"),
    ({"mobile": "+91 phone"}, "mobile"),
    ({"name": "x" * 101}, "name"),
    ({"name": "x" * 100_000}, "name"),
    ({"name": ""}, "name"),
    ({"nickname": "ash"}, "nickname"),
], ids=["unknown-zone", "zone-case", "huge-zone", "no-country-code", "letters", "long-name",
        "huge-name", "empty-name", "unknown-field"])
async def test_a_bad_profile_is_422_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi, change: dict[str, Any],
    field: str,
) -> None:
    response = await client.put(PROFILE, json={**A_PROFILE, **change}, headers=auth)

    assert error_of(api, response, 422, "invalid_request")["details"]["field"] == field
    assert (await get_ok(client, auth, PROFILE))["updated_at"] is None


@pytest.mark.parametrize("missing", ["name", "mobile", "timezone"])
async def test_a_profile_put_without_every_field_is_422_naming_the_missing_one(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi, missing: str,
) -> None:
    body = {key: value for key, value in A_PROFILE.items() if key != missing}

    response = await client.put(PROFILE, json=body, headers=auth)

    assert error_of(api, response, 422, "invalid_request")["details"]["field"] == missing


@pytest.mark.parametrize(("change", "field"), [
    ({"default_order_type": "limit"}, "default_order_type"),
    ({"default_order_type": "ICEBERG"}, "default_order_type"),
    ({"default_time_in_force": "FOREVER"}, "default_time_in_force"),
    ({"order_confirmations": "false"}, "order_confirmations"),
    ({"order_confirmations": 0}, "order_confirmations"),
    ({"default_account_id": "paper"}, "default_account_id"),
    ({"theme": "dark"}, "theme"),
], ids=["lowercase-type", "unknown-type", "unknown-tif", "string-bool", "int-bool",
        "not-a-uuid", "unknown-field"])
async def test_bad_preferences_are_422_naming_the_field(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi, change: dict[str, Any],
    field: str,
) -> None:
    response = await client.put(PREFERENCES, json={**SOME_PREFERENCES, **change}, headers=auth)

    assert error_of(api, response, 422, "invalid_request")["details"]["field"] == field


@pytest.mark.parametrize("path", [PROFILE, PREFERENCES])
async def test_a_duplicate_json_key_is_400_naming_it(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi, path: str,
) -> None:
    response = await client.put(path, content='{"timezone": "UTC", "timezone": "UTC"}',
                                headers={**auth, "Content-Type": "application/json"})

    assert error_of(api, response, 400, "duplicate_key")["details"]["field"] == "timezone"


async def test_an_api_key_reads_settings_but_may_not_change_them(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi,
) -> None:
    created = await client.post("/api/v1/api-keys", json={"name": "bot", "scopes": ["trade"]},
                                headers=auth)
    assert created.status_code == 201, created.text
    key = {"Authorization": f"Bearer {created.json()['key']}"}

    assert (await get_ok(client, key, PREFERENCES))["order_confirmations"] is True
    response = await client.put(PREFERENCES, json=SOME_PREFERENCES, headers=key)

    error_of(api, response, 403, "login_required")
    assert (await get_ok(client, auth, PREFERENCES))["order_confirmations"] is True
