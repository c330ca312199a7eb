"""Broker connections: a user links a broker login; the session is stored encrypted, never shown.

Zerodha runs as the local Kite stub (tests/stubs/zerodha); IBKR's login is network-free.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.brokers.service import webhook_url
from api.security import verify_access_token
from shared.brokers.catalog import Broker
from shared.credentials import CredentialBox, CredentialsError
from shared.settings import Settings
from tests.helpers import register_and_login
from tests.integration.kite_api import (  # noqa: F401 - the fixtures
    ZERODHA,
    api_fixture,
    kite_app_fixture,
    kite_fixture,
)
from tests.stubs.zerodha.harness import DEFAULT_API_KEY, DEFAULT_API_SECRET, StubKite

pytestmark = pytest.mark.integration

IBKR = "/api/v1/brokers/ibkr/connections"


@pytest.fixture
def db(kite_app: FastAPI) -> AsyncEngine:
    engine: AsyncEngine = kite_app.state.engine
    return engine


@pytest.fixture
async def user(api: httpx.AsyncClient) -> dict[str, str]:
    return await register_and_login(api)


def _login(kite: StubKite, **changes: str) -> dict[str, str]:
    return {"api_key": DEFAULT_API_KEY, "api_secret": DEFAULT_API_SECRET,
            "request_token": kite.issue_request_token(), **changes}


async def _connect(api: httpx.AsyncClient, user: dict[str, str], kite: StubKite,
                   **changes: str) -> dict[str, Any]:
    response = await api.post(ZERODHA, json=_login(kite, **changes), headers=user)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _row(db: AsyncEngine, account_id: str) -> dict[str, Any]:
    async with db.connect() as conn:
        result = await conn.execute(text("SELECT * FROM accounts WHERE id = :id"),
                                    {"id": uuid.UUID(account_id)})
        return dict(result.mappings().one())


async def test_a_connection_is_created_and_listed_without_any_secret(
    api: httpx.AsyncClient, user: dict[str, str], kite: StubKite, db: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    login = _login(kite, label="my kite")
    created = await api.post(ZERODHA, json=login, headers=user)

    assert created.status_code == 201, created.text
    connection = created.json()
    assert created.headers["location"] == f"{ZERODHA}/{connection['id']}"
    assert connection["broker"] == "zerodha"
    assert connection["label"] == "my kite"
    assert connection["broker_user_id"] == "AB1234"
    assert connection["status"] == "active"
    assert connection["currency"] == "INR"
    assert connection["last_error"] is None
    assert connection["webhook_url"] == "http://127.0.0.1:8000/api/v1/webhooks/zerodha"
    row = await _row(db, connection["id"])
    session = CredentialBox.from_settings(Settings()).open(
        row["credentials"], user_id=row["user_id"], broker="zerodha", account_id=row["id"])
    listed = await api.get("/api/v1/brokers/connections", headers=user)
    at_broker = await api.get(ZERODHA, headers=user)
    one = await api.get(f"{ZERODHA}/{connection['id']}", headers=user)
    assert listed.json() == [connection]
    assert at_broker.json() == [connection]
    assert one.json() == connection
    secrets = [login["api_secret"], login["request_token"], session.access_token,
               session.refresh_token]
    assert session.access_token
    assert "saved" in caplog.text  # the logs were captured, and hold no secret:
    for text_seen in (created.text, listed.text, at_broker.text, one.text, caplog.text):
        for secret in secrets:
            assert secret not in text_seen


async def test_the_stored_credentials_are_ciphertext_that_opens_only_for_their_own_row(
    api: httpx.AsyncClient, user: dict[str, str], kite: StubKite, db: AsyncEngine,
) -> None:
    connection = await _connect(api, user, kite)
    row = await _row(db, connection["id"])
    box = CredentialBox.from_settings(Settings())

    assert DEFAULT_API_SECRET not in row["credentials"]
    assert row["credentials"].startswith("gAAAAA")  # a Fernet token
    session = box.open(row["credentials"], user_id=row["user_id"], broker=Broker.ZERODHA,
                       account_id=row["id"])
    assert session.api_secret == DEFAULT_API_SECRET
    assert session.broker_user_id == "AB1234"
    for other in ({"user_id": uuid.uuid4(), "broker": Broker.ZERODHA, "account_id": row["id"]},
                  {"user_id": row["user_id"], "broker": Broker.UPSTOX, "account_id": row["id"]},
                  {"user_id": row["user_id"], "broker": Broker.ZERODHA,
                   "account_id": uuid.uuid4()}):
        with pytest.raises(CredentialsError):
            box.open(row["credentials"], **other)


async def test_reconnecting_the_same_broker_login_updates_the_connection_not_a_new_one(
    api: httpx.AsyncClient, user: dict[str, str], kite: StubKite, db: AsyncEngine,
) -> None:
    first = await _connect(api, user, kite, label="first")
    before = (await _row(db, first["id"]))["credentials"]

    second = await _connect(api, user, kite, label="renamed")

    assert second["id"] == first["id"]
    assert second["label"] == "renamed"
    assert second["webhook_url"] == first["webhook_url"]
    assert (await _row(db, first["id"]))["credentials"] != before
    listed = (await api.get(ZERODHA, headers=user)).json()
    assert [c["id"] for c in listed] == [first["id"]]


async def test_another_users_connection_is_not_found(
    api: httpx.AsyncClient, user: dict[str, str], kite: StubKite,
) -> None:
    mine = await _connect(api, user, kite)
    intruder = await register_and_login(api)
    url = f"{ZERODHA}/{mine['id']}"

    assert (await api.get(url, headers=intruder)).status_code == 404
    assert (await api.delete(url, headers=intruder)).status_code == 404
    assert (await api.post(f"{url}/refresh", headers=intruder)).status_code == 404
    assert (await api.get("/api/v1/brokers/connections", headers=intruder)).json() == []
    assert (await api.get(url, headers=user)).status_code == 200
    assert (await api.get(f"/api/v1/brokers/upstox/connections/{mine['id']}",
                          headers=user)).status_code == 404
    assert (await api.get(f"{ZERODHA}/not-a-uuid", headers=user)).status_code == 404


@pytest.mark.parametrize("broker", ["robinhood", "paper"])
async def test_an_unknown_broker_or_paper_is_refused_naming_the_broker_field(
    api: httpx.AsyncClient, user: dict[str, str], broker: str,
) -> None:
    created = await api.post(f"/api/v1/brokers/{broker}/connections",
                             json={"api_key": "k", "api_secret": "s"}, headers=user)
    listed = await api.get(f"/api/v1/brokers/{broker}/connections", headers=user)

    for response in (created, listed):
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["field"] == "broker"


async def test_a_field_the_broker_needs_is_named_when_missing(
    api: httpx.AsyncClient, user: dict[str, str],
) -> None:
    response = await api.post(ZERODHA, json={"api_key": "k", "api_secret": "s"}, headers=user)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == "request_token"
    assert "request_token" in response.json()["error"]["message"]


async def test_unknown_fields_are_refused_and_secrets_are_not_echoed(
    api: httpx.AsyncClient, user: dict[str, str], kite: StubKite,
) -> None:
    response = await api.post(ZERODHA, json={**_login(kite), "user_id": str(uuid.uuid4())},
                              headers=user)
    too_long = await api.post(ZERODHA, json=_login(kite, api_secret="x" * 2000), headers=user)

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "user_id"
    assert too_long.status_code == 422
    assert "x" * 100 not in too_long.text


async def test_a_login_the_broker_refuses_is_422_and_nothing_is_stored(
    api: httpx.AsyncClient, user: dict[str, str], kite: StubKite, db: AsyncEngine,
) -> None:
    response = await api.post(ZERODHA, json=_login(kite, api_secret="wrong-secret"),
                              headers=user)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "broker_login_refused"
    assert "checksum" in error["message"]
    assert "wrong-secret" not in response.text
    assert (await api.get("/api/v1/brokers/connections", headers=user)).json() == []
    assert await _non_paper_rows(db, user) == 0


async def test_a_broker_that_cannot_be_reached_is_503_with_retry_after(
    api: httpx.AsyncClient, user: dict[str, str], kite: StubKite, db: AsyncEngine,
) -> None:
    login = _login(kite)
    with kite.outage():
        response = await api.post(ZERODHA, json=login, headers=user)

    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "broker_unavailable"
    assert int(response.headers["retry-after"]) >= 1
    assert await _non_paper_rows(db, user) == 0


async def test_refresh_renews_the_session_with_the_held_refresh_token(
    api: httpx.AsyncClient, user: dict[str, str], kite: StubKite, db: AsyncEngine,
) -> None:
    connection = await _connect(api, user, kite)
    before = await _row(db, connection["id"])

    response = await api.post(f"{ZERODHA}/{connection['id']}/refresh", headers=user)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "active"
    after = await _row(db, connection["id"])
    box = CredentialBox.from_settings(Settings())
    binding = {"user_id": after["user_id"], "broker": Broker.ZERODHA, "account_id": after["id"]}
    assert box.open(after["credentials"], **binding).access_token != box.open(
        before["credentials"], **binding).access_token


async def test_refresh_the_broker_refuses_marks_the_connection_expired_until_a_new_login(
    api: httpx.AsyncClient, user: dict[str, str], kite: StubKite,
) -> None:
    connection = await _connect(api, user, kite)
    url = f"{ZERODHA}/{connection['id']}"
    kite.revoke_refresh_tokens()

    refused = await api.post(f"{url}/refresh", headers=user)

    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "connection_expired"
    assert refused.json()["error"]["message"].startswith("log in again: ")
    shown = (await api.get(url, headers=user)).json()
    assert shown["status"] == "expired"
    assert shown["last_error"]
    renewed = await api.post(f"{url}/refresh", json={"request_token": kite.issue_request_token()},
                             headers=user)
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["status"] == "active"
    assert renewed.json()["last_error"] is None


async def test_a_connection_whose_token_has_lapsed_is_shown_expired(
    api: httpx.AsyncClient, user: dict[str, str], kite: StubKite, db: AsyncEngine,
) -> None:
    connection = await _connect(api, user, kite)
    async with db.begin() as conn:
        await conn.execute(text("UPDATE accounts SET token_expires_at = now() - interval '1 minute'"
                                " WHERE id = :id"), {"id": uuid.UUID(connection["id"])})

    shown = (await api.get(f"{ZERODHA}/{connection['id']}", headers=user)).json()

    assert shown["status"] == "expired"


async def test_disconnect_waits_for_open_orders_then_wipes_the_credentials(
    api: httpx.AsyncClient, user: dict[str, str], kite: StubKite, db: AsyncEngine,
) -> None:
    connection = await _connect(api, user, kite)
    url = f"{ZERODHA}/{connection['id']}"
    order_id = await _open_order_on(db, connection["id"])

    refused = await api.delete(url, headers=user)

    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "connection_has_open_orders"
    assert (await api.get(url, headers=user)).status_code == 200
    async with db.begin() as conn:
        await conn.execute(text("UPDATE orders SET status = 'CANCELED' WHERE id = :id"),
                           {"id": order_id})
    deleted = await api.delete(url, headers=user)
    assert deleted.status_code == 204, deleted.text
    assert (await api.get(url, headers=user)).status_code == 404
    assert (await api.get("/api/v1/brokers/connections", headers=user)).json() == []
    row = await _row(db, connection["id"])
    assert row["status"] == "revoked"
    assert row["credentials"] is None
    assert row["webhook_token"] is None
    assert (await api.delete(url, headers=user)).status_code == 404


async def test_reconnecting_a_disconnected_login_revives_the_same_account(
    api: httpx.AsyncClient, user: dict[str, str], kite: StubKite, db: AsyncEngine,
) -> None:
    first = await _connect(api, user, kite)
    assert (await api.delete(f"{ZERODHA}/{first['id']}", headers=user)).status_code == 204

    again = await _connect(api, user, kite)

    assert again["id"] == first["id"]
    assert again["status"] == "active"
    assert (await _row(db, first["id"]))["webhook_token"]


async def test_an_ibkr_connection_names_its_ib_account_and_is_listed_beside_other_brokers(
    api: httpx.AsyncClient, user: dict[str, str], kite: StubKite,
) -> None:
    kite_connection = await _connect(api, user, kite)

    created = await api.post(IBKR, json={"client_code": "du1234567", "label": "IB paper"},
                             headers=user)

    assert created.status_code == 201, created.text
    ib = created.json()
    assert ib["broker_user_id"] == "DU1234567"
    assert ib["currency"] == "USD"
    assert ib["webhook_url"] == "http://127.0.0.1:8000/api/v1/webhooks/ibkr"
    everything = (await api.get("/api/v1/brokers/connections", headers=user)).json()
    assert [c["id"] for c in everything] == [kite_connection["id"], ib["id"]]
    assert (await api.get(IBKR, headers=user)).json() == [ib]
    refreshed = await api.post(f"{IBKR}/{ib['id']}/refresh", json={}, headers=user)
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["status"] == "active"


async def test_an_ibkr_connection_needs_a_well_formed_ib_account_id(
    api: httpx.AsyncClient, user: dict[str, str], db: AsyncEngine,
) -> None:
    missing = await api.post(IBKR, json={"label": "IB"}, headers=user)
    malformed = await api.post(IBKR, json={"client_code": "my account"}, headers=user)

    assert missing.status_code == 422, missing.text
    assert missing.json()["error"]["details"]["field"] == "client_code"
    assert malformed.status_code == 422, malformed.text
    assert malformed.json()["error"]["code"] == "broker_login_refused"
    assert await _non_paper_rows(db, user) == 0


def test_webhook_urls_follow_each_brokers_scheme() -> None:
    settings = Settings(public_base_url="https://gate.example.com/")

    assert webhook_url(settings, Broker.ZERODHA, "tok") == (
        "https://gate.example.com/api/v1/webhooks/zerodha")
    assert webhook_url(settings, Broker.UPSTOX, "tok") == (
        "https://gate.example.com/api/v1/webhooks/upstox/tok")
    assert webhook_url(settings, Broker.GROWW, "tok") == (
        "https://gate.example.com/api/v1/webhooks/groww")


async def _open_order_on(db: AsyncEngine, account_id: str) -> uuid.UUID:
    order_id = uuid.uuid4()
    async with db.begin() as conn:
        await conn.execute(text(
            "INSERT INTO orders (id, user_id, account_id, symbol, side, order_type, quantity,"
            " price, time_in_force, broker, status)"
            " SELECT :id, user_id, id, 'INFY', 'BUY', 'LIMIT', 1, 1500, 'DAY', broker,"
            " 'SUBMITTED' FROM accounts WHERE id = :account_id"),
            {"id": order_id, "account_id": uuid.UUID(account_id)})
    return order_id


async def _non_paper_rows(db: AsyncEngine, user: dict[str, str]) -> int:
    """Every non-paper account row of this user, revoked ones included."""
    principal = verify_access_token(Settings(), user["Authorization"].removeprefix("Bearer "))
    assert principal is not None
    async with db.connect() as conn:
        result = await conn.execute(
            text("SELECT count(*) FROM accounts WHERE broker <> 'paper' AND user_id = :user_id"),
            {"user_id": principal.user_id})
        return int(result.scalar_one())
