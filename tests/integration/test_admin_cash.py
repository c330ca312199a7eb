"""An admin's deposits and withdrawals of paper cash, through the real API and PostgreSQL:
journaled, audited, idempotent, never below what open orders reserve, paper accounts only."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession
from shared.settings import Settings
from tests.helpers import connect_broker, get_ok, register_and_login, user_id_of
from tests.integration.admins import ADMIN, new_admin
from tests.integration.ending import (  # noqa: F401 - the fixtures
    RESTING_BUY,
    api_fixture,
    place,
    quotes_fixture,
)
from tests.integration.test_order_responses import OpenApi

pytestmark = pytest.mark.integration


@pytest.fixture
async def admin(client: httpx.AsyncClient, engine: AsyncEngine) -> dict[str, str]:
    return await new_admin(client, engine)


async def _adjust(client: httpx.AsyncClient, admin: dict[str, str], auth: dict[str, str],
                  body: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {**admin, "Idempotency-Key": key or str(uuid.uuid4())}
    return await client.post(f"{ADMIN}/users/{user_id_of(auth)}/cash", headers=headers,
                             json=body)


async def _journal(engine: AsyncEngine, auth: dict[str, str]) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT amount, cash_after, reason FROM cash_journal WHERE user_id = :u"
            " ORDER BY created_at"), {"u": user_id_of(auth)})).all())


async def test_a_deposit_is_booked_journaled_audited_and_a_retry_books_nothing_more(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        admin: dict[str, str], api: OpenApi) -> None:
    body = {"amount": "2500.5", "reason": "top-up for the contest"}

    first = await _adjust(client, admin, auth, body, key="top-up-1")
    again = await _adjust(client, admin, auth, body, key="top-up-1")
    other = await _adjust(client, admin, auth, {**body, "amount": "9"}, key="top-up-1")

    assert first.status_code == 201, first.text
    entry = api.check(first)
    assert (entry["amount"], entry["cash_after"]) == ("2500.5", "102500.5")
    assert entry["actor_user_id"] == str(user_id_of(admin))
    assert (again.status_code, again.headers["idempotent-replayed"]) == (201, "true")
    assert again.json() == entry
    assert (other.status_code, other.json()["error"]["code"]) == (422, "idempotency_key_reused")
    account = await get_ok(client, auth, "/api/v1/account")
    assert (account["cash"], account["buying_power"]) == ("102500.5", "102500.5")
    assert [tuple(map(str, row)) for row in await _journal(engine, auth)] == [
        ("2500.50000000", "102500.50000000", "top-up for the contest")]
    audit = (await client.get("/api/v1/me/audit", headers=auth,
                              params={"action": "admin.cash_adjusted"})).json()["items"]
    assert [(e["actor_user_id"], e["details"]["amount"], e["details"]["reason"])
            for e in audit] == [(str(user_id_of(admin)), "2500.5", "top-up for the contest")]


async def test_a_withdrawal_never_takes_what_open_orders_reserve(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        admin: dict[str, str]) -> None:
    await place(client, auth, **RESTING_BUY)  # holds 1000 of the 100000
    account = await get_ok(client, auth, "/api/v1/account")
    reserved = 100000 - float(account["buying_power"])

    everything = await _adjust(client, admin, auth, {"amount": "-100000", "reason": "reset"})

    assert everything.status_code == 422, everything.text
    error = everything.json()["error"]
    assert (error["code"], error["details"]["field"]) == ("insufficient_buying_power", "amount")
    assert error["details"]["cash"] == "100000"
    assert float(error["details"]["reserved_cash"]) == reserved
    assert error["details"]["withdrawable"] == account["buying_power"]
    free = await _adjust(client, admin, auth,
                         {"amount": f"-{account['buying_power']}", "reason": "reset"})
    assert free.status_code == 201, free.text
    after = await get_ok(client, auth, "/api/v1/account")
    assert after["buying_power"] == "0"
    assert float(after["cash"]) == reserved
    assert len(await _journal(engine, auth)) == 1  # the refused one left nothing


async def test_concurrent_withdrawals_never_overdraw_the_account(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        admin: dict[str, str]) -> None:
    answers = await asyncio.gather(*(
        _adjust(client, admin, auth, {"amount": "-60000", "reason": f"race {n}"})
        for n in range(4)))

    assert sorted(r.status_code for r in answers) == [201, 422, 422, 422]
    assert (await get_ok(client, auth, "/api/v1/account"))["cash"] == "40000"
    assert len(await _journal(engine, auth)) == 1


async def test_only_a_paper_account_of_that_user_is_adjusted(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        admin: dict[str, str]) -> None:
    connection = await connect_broker(engine, auth, Broker.UPSTOX,
                                      BrokerSession(access_token="t", broker_user_id="UP7"),
                                      Settings())
    other = await get_ok(client, await register_and_login(client), "/api/v1/account")
    body = {"amount": "10", "reason": "misdirected"}

    broker = await _adjust(client, admin, auth, {**body, "account_id": str(connection)})
    foreign = await _adjust(client, admin, auth, {**body, "account_id": other["account_id"]})
    nobody = await client.post(f"{ADMIN}/users/{uuid.uuid4()}/cash", json=body,
                               headers={**admin, "Idempotency-Key": "k"})

    assert (broker.status_code, broker.json()["error"]["code"]) == (422, "not_a_paper_account")
    assert (foreign.status_code, foreign.json()["error"]["details"]["field"]) == (
        404, "account_id")
    assert (nobody.status_code, nobody.json()["error"]["details"]["field"]) == (404, "user_id")
    assert await _journal(engine, auth) == []


@pytest.mark.parametrize(("body", "field"), [
    ({"amount": "0", "reason": "nothing"}, "amount"),
    ({"amount": "1000000000001", "reason": "too much"}, "amount"),
    ({"amount": "-1000000000001", "reason": "too much"}, "amount"),
    ({"amount": "1.123456789", "reason": "too fine"}, "amount"),
    ({"amount": "1e3", "reason": ""}, "reason"),
    ({"amount": "1", "reason": "two\nlines"}, "reason"),
    ({"amount": "1", "reason": "x" * 501}, "reason"),
    ({"amount": "NaN", "reason": "not a number"}, "amount"),
    ({"amount": 1.5, "reason": "a float"}, None),  # the strict parser keeps it a decimal
    ({"amount": "1", "reason": "ok", "cash": "5"}, "cash"),
])
async def test_an_invalid_adjustment_is_refused_naming_its_field_and_books_nothing(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        admin: dict[str, str], body: dict[str, Any], field: str | None) -> None:
    response = await _adjust(client, admin, auth, body)

    if field is None:
        assert response.status_code == 201, response.text
        assert response.json()["amount"] == "1.5"
        return
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field
    assert await _journal(engine, auth) == []


async def test_the_idempotency_key_is_required(
        client: httpx.AsyncClient, auth: dict[str, str], admin: dict[str, str]) -> None:
    response = await client.post(f"{ADMIN}/users/{user_id_of(auth)}/cash", headers=admin,
                                 json={"amount": "5", "reason": "no key"})
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "header.Idempotency-Key"
    assert (await get_ok(client, auth, "/api/v1/account"))["cash"] == "100000"
