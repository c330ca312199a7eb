"""P&L history through the real API and PostgreSQL: end-of-day snapshots taken by the task
(called as beat calls it), once a day, read back per period; ownership."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession
from shared.clock import calendar_from
from shared.domain.settlement import last_closed_day
from shared.settings import Settings, get_settings
from tests.helpers import (
    connect_broker,
    get_ok,
    register_and_login,
    set_quote,
    user_id_of,
)
from tests.integration.ending import api_fixture, quotes_fixture  # noqa: F401 - the fixtures
from tests.integration.test_order_responses import OpenApi
from worker.handlers.snapshots import snapshot_day
from worker.runtime import Runtime

pytestmark = pytest.mark.integration


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    return Runtime(get_settings(), engine=app.state.engine, redis=app.state.redis)


async def test_each_day_is_snapshotted_once_and_read_back_by_period(
    client: httpx.AsyncClient, auth: dict[str, str], engine: AsyncEngine, runtime: Runtime,
    api: OpenApi,
) -> None:
    portfolio = (await client.post("/api/v1/portfolios", json={"name": "History"},
                                   headers=auth)).json()
    trade = await client.post("/api/v1/trades", headers=auth, json={
        "symbol": "AAPL", "side": "BUY", "quantity": "10", "price": "100",
        "executed_at": "2026-10-01T15:00:00+00:00", "portfolio_id": portfolio["id"]})
    assert trade.status_code == 201, trade.text
    now = datetime.now(UTC)
    path = f"/api/v1/portfolios/{portfolio['id']}/history"

    await snapshot_day(runtime, now - timedelta(days=8))  # AAPL's last is 200
    await set_quote(engine, "AAPL", "209.99", "210.01")
    await snapshot_day(runtime, now)  # the last day NYSE closed, at 210
    await set_quote(engine, "AAPL", "219.99", "220.01")
    await snapshot_day(runtime, now + timedelta(minutes=1))  # the same day again: kept

    month = api.check(await client.get(path, params={"period": "1M"}, headers=auth))
    week = api.check(await client.get(path, params={"period": "1W"}, headers=auth))

    calendar = calendar_from(get_settings())  # a paper account's days are NYSE's
    closed = [last_closed_day(calendar, "NYSE", now - timedelta(days=8)),
              last_closed_day(calendar, "NYSE", now)]
    days = [day.isoformat() for day in closed if day is not None]
    assert [(p["day"], p["market_value"], p["unrealized_pnl"], p["total_pnl"])
            for p in month["items"]] == [(days[0], "2000", "1000", "1000"),
                                          (days[1], "2100", "1100", "1100")]
    assert [(t["day"], t["currency"], t["market_value"]) for t in month["totals"]] == [
        (days[0], "USD", "2000"), (days[1], "USD", "2100")]
    assert [p["day"] for p in week["items"]] == [days[1]]
    async with engine.connect() as conn:  # the account's own, with its cash and equity
        account = (await conn.execute(text(
            "SELECT cash, equity, market_value FROM pnl_snapshots WHERE user_id = :user"
            " AND portfolio_id IS NULL AND day = :day"),
            {"user": user_id_of(auth), "day": closed[1]})).one()
    assert account.equity == account.cash + account.market_value
    assert account.market_value == Decimal(2100)


async def test_a_period_is_one_of_four_and_another_users_history_is_not_found(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    portfolio = (await client.post("/api/v1/portfolios", json={"name": "Mine"},
                                   headers=auth)).json()
    path = f"/api/v1/portfolios/{portfolio['id']}/history"

    bad = await client.get(path, params={"period": "2D"}, headers=auth)
    assert bad.status_code == 422, bad.text
    assert bad.json()["error"]["details"]["field"] == "period"
    assert (await get_ok(client, auth, path))["period"] == "1M"
    intruder = await register_and_login(client)
    for url in (path, f"/api/v1/portfolios/{uuid.uuid4()}/history"):
        response = await client.get(url, headers=intruder)
        assert response.status_code == 404, response.text


async def test_a_snapshot_is_of_the_accounts_exchange_day_taken_after_its_close(
    auth: dict[str, str], engine: AsyncEngine, runtime: Runtime,
) -> None:
    await connect_broker(engine, auth, Broker.ZERODHA,
                         BrokerSession(access_token="t", broker_user_id="ZH1"), Settings())

    async def days() -> list[tuple[str, date]]:
        async with engine.connect() as conn:
            rows = await conn.execute(text(
                "SELECT a.broker, s.day FROM pnl_snapshots s JOIN accounts a"
                " ON a.id = s.account_id WHERE s.user_id = :user AND s.portfolio_id IS NULL"
                " ORDER BY a.broker, s.day"), {"user": user_id_of(auth)})
            return [(row.broker, row.day) for row in rows]

    monday, tuesday, friday = date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 4)
    # Tuesday 1 December: NSE closes 15:30 in Kolkata (10:00 UTC), NYSE 16:00 New York (21:00).
    await snapshot_day(runtime, datetime(2026, 12, 1, 9, 59, tzinfo=UTC))
    assert await days() == [("paper", monday), ("zerodha", monday)]
    # 00:15 Wednesday in India, still Tuesday in UTC: NSE's Tuesday is over, NYSE trades on.
    await snapshot_day(runtime, datetime(2026, 12, 1, 18, 45, tzinfo=UTC))
    assert await days() == [("paper", monday), ("zerodha", monday), ("zerodha", tuesday)]
    await snapshot_day(runtime, datetime(2026, 12, 1, 21, 0, tzinfo=UTC))
    both = [("paper", monday), ("paper", tuesday), ("zerodha", monday), ("zerodha", tuesday)]
    assert await days() == both
    await snapshot_day(runtime, datetime(2026, 12, 2, 1, 0, tzinfo=UTC))
    assert await days() == both  # the same days again: kept, nothing new
    # A weekend is no trading day: Sunday's run takes Friday's, keyed by Friday.
    await snapshot_day(runtime, datetime(2026, 12, 6, 12, 0, tzinfo=UTC))
    assert await days() == sorted([*both, ("paper", friday), ("zerodha", friday)])


async def test_the_account_history_is_your_accounts_own_snapshots_by_period(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, api: OpenApi,
) -> None:
    path = "/api/v1/account/history"
    empty = api.check(await client.get(path, headers=auth))
    assert (empty["period"], empty["items"], empty["totals"]) == ("1M", [], [])
    trade = await client.post("/api/v1/trades", headers=auth, json={
        "symbol": "AAPL", "side": "BUY", "quantity": "10", "price": "100",
        "executed_at": "2026-10-01T15:00:00+00:00"})
    assert trade.status_code == 201, trade.text
    intruder = await register_and_login(client)
    now = datetime.now(UTC)
    await snapshot_day(runtime, now)  # AAPL's last is 200
    day = last_closed_day(calendar_from(get_settings()), "NYSE", now)
    assert day is not None

    mine = api.check(await client.get(path, params={"period": "1D"}, headers=auth))
    theirs = api.check(await client.get(path, params={"period": "1D"}, headers=intruder))

    account = (await get_ok(client, auth, "/api/v1/account"))["account_id"]
    assert [(p["day"], p["account_id"], p["broker"], p["currency"], p["market_value"],
             p["unrealized_pnl"]) for p in mine["items"]] == [
        (day.isoformat(), account, "paper", "USD", "2000", "1000")]
    assert [(t["day"], t["currency"], t["total_pnl"]) for t in mine["totals"]] == [
        (day.isoformat(), "USD", "1000")]
    assert [p["account_id"] for p in theirs["items"]] == [
        (await get_ok(client, intruder, "/api/v1/account"))["account_id"]]
    bad = await client.get(path, params={"period": "2W"}, headers=auth)
    assert bad.status_code == 422, bad.text
    assert bad.json()["error"]["details"]["field"] == "period"
