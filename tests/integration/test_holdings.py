"""Holdings through the real API, PostgreSQL and the end-of-day task (called as beat calls it):
settled and T+1 quantities per account and per portfolio, once per trading day, pages and
ownership."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.settings import get_settings
from tests.helpers import get_ok, register_and_login
from tests.integration.ending import api_fixture, quotes_fixture  # noqa: F401 - the fixtures
from tests.integration.test_order_responses import OpenApi
from worker.handlers.settlement import settle_due
from worker.runtime import Runtime

pytestmark = pytest.mark.integration

HOLDINGS = "/api/v1/holdings"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def journal(client: httpx.AsyncClient, auth: dict[str, str], symbol: str, side: str,
                  quantity: str, executed_at: str, **fields: Any) -> None:
    response = await client.post("/api/v1/trades", headers=auth, json={
        "symbol": symbol, "side": side, "quantity": quantity, "price": "100",
        "executed_at": executed_at, **fields})
    assert response.status_code == 201, response.text


def runtime_with(app: FastAPI, **settings: Any) -> Runtime:
    return Runtime(get_settings().model_copy(update=settings), engine=app.state.engine,
                   redis=app.state.redis)


async def held(client: httpx.AsyncClient, auth: dict[str, str],
               path: str = HOLDINGS) -> dict[str, tuple[str, str, str]]:
    items = (await get_ok(client, auth, path))["items"]
    return {h["symbol"]: (h["quantity"], h["t1_quantity"], h["trading_day"]) for h in items}


async def test_the_days_buys_are_t1_until_the_next_trading_day_settles_them_once(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi,
) -> None:
    runtime = runtime_with(app)
    portfolio = (await client.post("/api/v1/portfolios", json={"name": "T1"},
                                   headers=auth)).json()
    # NASDAQ closes at 16:00 in New York: 21:00 UTC in November.
    await journal(client, auth, "AAPL", "BUY", "10", "2026-11-02T15:00:00+00:00")  # Monday
    await journal(client, auth, "AAPL", "BUY", "5", "2026-11-03T15:00:00+00:00",
                  portfolio_id=portfolio["id"])
    await journal(client, auth, "AAPL", "SELL", "3", "2026-11-03T16:00:00+00:00")

    settled = await settle_due(runtime, at("2026-11-03T21:30:00+00:00"))

    assert settled["NASDAQ"] == "2026-11-03"
    assert await held(client, auth) == {"AAPL": ("7", "5", "2026-11-03")}
    assert await held(client, auth, f"/api/v1/portfolios/{portfolio['id']}/holdings") == {
        "AAPL": ("0", "5", "2026-11-03")}
    [aapl] = api.check(await client.get(HOLDINGS, headers=auth))["items"]
    assert (aapl["exchange"], aapl["last_price"], aapl["market_value"]) == (
        "NASDAQ", "200", "2400")

    # The same day again settles nothing, whatever was journaled meanwhile: run twice = once.
    await journal(client, auth, "AAPL", "BUY", "5", "2026-11-03T17:00:00+00:00")
    again = await settle_due(runtime, at("2026-11-03T23:00:00+00:00"))
    assert "NASDAQ" not in again
    assert await held(client, auth) == {"AAPL": ("7", "5", "2026-11-03")}

    # Wednesday's close settles Tuesday's buys, the late one too.
    await settle_due(runtime, at("2026-11-04T21:30:00+00:00"))
    assert await held(client, auth) == {"AAPL": ("17", "0", "2026-11-04")}
    assert await held(client, auth, f"/api/v1/portfolios/{portfolio['id']}/holdings") == {
        "AAPL": ("5", "0", "2026-11-04")}


async def test_settlement_days_are_a_setting_per_exchange(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    await journal(client, auth, "MSFT", "BUY", "4", "2026-10-23T15:00:00+00:00")  # a Friday
    await journal(client, auth, "MSFT", "BUY", "6", "2026-10-26T15:00:00+00:00")  # Monday

    await settle_due(runtime_with(app, settlement_days={"NASDAQ": 2}),
                     at("2026-10-26T21:30:00+00:00"))

    assert await held(client, auth) == {"MSFT": ("0", "10", "2026-10-26")}


async def test_holdings_come_in_pages_and_only_your_own(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    for symbol in ("AAPL", "MSFT", "GOOGL"):
        await journal(client, auth, symbol, "BUY", "1", "2026-10-12T15:00:00+00:00")
    portfolio = (await client.post("/api/v1/portfolios", json={"name": "Mine"},
                                   headers=auth)).json()
    await settle_due(runtime_with(app), at("2026-10-13T21:30:00+00:00"))

    seen, cursor = [], None
    for _ in range(3):
        params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        page = (await client.get(HOLDINGS, params=params, headers=auth)).json()
        seen += [item["symbol"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert seen == ["AAPL", "GOOGL", "MSFT"]
    assert (await client.get(HOLDINGS, params={"cursor": "bad"}, headers=auth)).status_code \
        == 422

    intruder = await register_and_login(client)
    assert (await get_ok(client, intruder, HOLDINGS))["items"] == []
    paper = (await get_ok(client, auth, "/api/v1/account"))["account_id"]
    assert len((await get_ok(client, auth, f"{HOLDINGS}?account_id={paper}"))["items"]) == 3
    foreign = await client.get(HOLDINGS, params={"account_id": paper}, headers=intruder)
    assert foreign.status_code == 404, foreign.text
    for path in (f"/api/v1/portfolios/{portfolio['id']}/holdings",
                 f"/api/v1/portfolios/{uuid.uuid4()}/holdings"):
        response = await client.get(path, headers=intruder)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["details"]["field"] == "portfolio_id"
    mine = await get_ok(client, auth, HOLDINGS)
    assert all(Decimal(item["quantity"]) == 1 for item in mine["items"])
