"""Portfolios through the real API and PostgreSQL: names, descriptions, pages, ownership,
deletion, and the positions and P&L of the orders and journaled trades that name one."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession
from shared.settings import Settings
from tests.helpers import connect_broker, register_and_login
from tests.integration.ending import (  # noqa: F401 - the fixtures
    api_fixture,
    get_ok,
    place,
    quotes_fixture,
    runtime_fixture,
)
from tests.integration.test_order_responses import OpenApi
from worker.handlers.submit import submit_orders
from worker.runtime import Runtime

pytestmark = pytest.mark.integration

PORTFOLIOS = "/api/v1/portfolios"
DAY = "2026-11-02T10:00:00+00:00"


async def create(client: httpx.AsyncClient, auth: dict[str, str], name: str,
                 **fields: Any) -> dict[str, Any]:
    response = await client.post(PORTFOLIOS, json={"name": name, **fields}, headers=auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def journal(client: httpx.AsyncClient, auth: dict[str, str], **fields: Any) -> Any:
    response = await client.post("/api/v1/trades", headers=auth, json={
        "executed_at": DAY, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert body["code"] == code, body
    return body


async def test_a_portfolio_is_created_renamed_described_and_read_back(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi,
) -> None:
    created = await create(client, auth, "  Long   term ", description="core holdings")
    assert (created["name"], created["description"]) == ("Long term", "core holdings")

    path = f"{PORTFOLIOS}/{created['id']}"
    renamed = api.check(await client.patch(path, json={"name": "Core"}, headers=auth))
    assert (renamed["name"], renamed["description"]) == ("Core", "core holdings")
    cleared = api.check(await client.patch(path, json={"description": None}, headers=auth))
    assert (cleared["name"], cleared["description"]) == ("Core", None)

    found = api.check(await client.get(path, headers=auth))
    assert (found["name"], found["positions"], found["accounts"], found["totals"]) == (
        "Core", [], [], [])


async def test_names_are_unique_per_user_whatever_their_case(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    first = await create(client, auth, "Swing")
    other = await create(client, auth, "Intraday")

    taken = error(await client.post(PORTFOLIOS, json={"name": "SWING"}, headers=auth),
                  409, "portfolio_name_taken")
    assert taken["details"]["field"] == "name"
    error(await client.patch(f"{PORTFOLIOS}/{other['id']}", json={"name": "swing"},
                             headers=auth), 409, "portfolio_name_taken")
    # Renaming to its own name in another case, and another user's same name, are fine.
    assert (await client.patch(f"{PORTFOLIOS}/{first['id']}", json={"name": "SWING"},
                               headers=auth)).status_code == 200
    await create(client, await register_and_login(client), "Swing")


@pytest.mark.parametrize(("body", "field"), [
    ({"name": ""}, "name"), ({"name": "   "}, "name"), ({"name": "x" * 65}, "name"),
    ({"name": "a\u0007b"}, "name"), ({}, "name"), ({"name": "ok", "colour": "red"}, "colour"),
    ({"name": "ok", "description": "x" * 1001}, "description"),
    ({"name": "ok", "description": "a\u0000b"}, "description"),
])
async def test_an_invalid_body_is_a_422_naming_the_field_and_creates_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any], field: str,
) -> None:
    response = await client.post(PORTFOLIOS, json=body, headers=auth)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field
    assert (await get_ok(client, auth, PORTFOLIOS))["items"] == []


async def test_portfolios_list_newest_first_in_pages(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi,
) -> None:
    names = [(await create(client, auth, f"p{i}"))["name"] for i in range(5)]

    seen, cursor = [], None
    for _ in range(3):
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.check(await client.get(PORTFOLIOS, params=params, headers=auth))
        seen += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert seen == names[::-1]
    assert cursor is None
    error(await client.get(PORTFOLIOS, params={"cursor": "nonsense"}, headers=auth),
          422, "invalid_cursor")


async def test_another_users_portfolio_is_not_found_and_stays_as_it_was(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    mine = await create(client, auth, "Mine")
    path = f"{PORTFOLIOS}/{mine['id']}"
    intruder = await register_and_login(client)

    for response in (await client.get(path, headers=intruder),
                     await client.patch(path, json={"name": "Theirs"}, headers=intruder),
                     await client.delete(path, headers=intruder),
                     await client.get(f"{PORTFOLIOS}/{uuid.uuid4()}", headers=auth)):
        assert error(response, 404, "not_found")["details"]["field"] == "portfolio_id"
    assert (await get_ok(client, intruder, PORTFOLIOS))["items"] == []
    assert (await get_ok(client, auth, path))["name"] == "Mine"


async def test_an_order_or_trade_naming_another_users_portfolio_is_refused_as_unknown(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    theirs = await create(client, await register_and_login(client), "Theirs")
    order = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "1",
             "price": "100"}
    trade = {"symbol": "AAPL", "side": "BUY", "quantity": "1", "price": "100",
             "executed_at": DAY}

    for path, body in (("/api/v1/orders", order), ("/api/v1/trades", trade)):
        answers = [(await client.post(path, json={**body, "portfolio_id": portfolio},
                                      headers=auth)).json()["error"]
                   for portfolio in (theirs["id"], str(uuid.uuid4()))]
        foreign, unknown = ({"code": a["code"], "field": a["details"]["field"]}
                            for a in answers)
        assert foreign == unknown == {"code": "unknown_portfolio", "field": "portfolio_id"}
    assert (await get_ok(client, auth, "/api/v1/orders"))["items"] == []
    assert (await get_ok(client, auth, "/api/v1/trades"))["items"] == []


async def test_positions_and_pnl_roll_up_from_the_orders_and_trades_naming_it(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, api: OpenApi,
) -> None:
    portfolio = await create(client, auth, "Tech")
    named = {"portfolio_id": portfolio["id"]}
    await journal(client, auth, symbol="AAPL", side="BUY", quantity="10", price="100",
                  brokerage_charge="1", **named)
    await journal(client, auth, symbol="AAPL", side="SELL", quantity="4", price="150",
                  brokerage_charge="2", **named)
    await journal(client, auth, symbol="AAPL", side="BUY", quantity="50", price="1")  # none
    order_id = await place(client, auth, symbol="MSFT", side="BUY", order_type="MARKET",
                           quantity="3", **named)
    await submit_orders(runtime, [order_id])
    order = await get_ok(client, auth, f"/api/v1/orders/{order_id}")
    [fill] = (await get_ok(client, auth, f"/api/v1/orders/{order_id}/fills"))["items"]

    body = api.check(await client.get(f"{PORTFOLIOS}/{portfolio['id']}", headers=auth))

    assert (order["status"], order["portfolio_id"]) == ("FILLED", portfolio["id"])
    positions = {p["symbol"]: p for p in body["positions"]}
    aapl, msft = positions["AAPL"], positions["MSFT"]
    # AAPL: 6 left at 100, 200 realized (4 × 50), marked at the quote's last of 200.
    assert (Decimal(aapl["quantity"]), Decimal(aapl["avg_price"]),
            Decimal(aapl["realized_pnl"]), Decimal(aapl["unrealized_pnl"])) == tuple(
                map(Decimal, (6, 100, 200, 600)))
    fill_price = Decimal(fill["price"])
    assert (Decimal(msft["quantity"]), Decimal(msft["avg_price"])) == (Decimal(3), fill_price)
    [account] = body["accounts"]
    charges = 3 + Decimal(fill["commission"])
    assert account["currency"] == "USD"
    assert Decimal(account["charges"]) == charges
    assert Decimal(account["realized_pnl"]) == 200
    # MSFT is marked at its last of 100, below what the fill paid.
    assert Decimal(account["unrealized_pnl"]) == 600 + (100 - fill_price) * 3
    assert Decimal(account["total_pnl"]) == 200 + Decimal(account["unrealized_pnl"])
    assert Decimal(account["market_value"]) == 6 * 200 + 3 * 100
    [totals] = body["totals"]
    assert {k: v for k, v in totals.items() if k != "currency"} == {
        k: v for k, v in account.items() if k not in ("currency", "account_id", "broker")}


async def test_a_portfolio_named_by_an_order_or_a_trade_is_kept_an_empty_one_deleted(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    used = await create(client, auth, "Used")
    empty = await create(client, auth, "Empty")
    await journal(client, auth, symbol="AAPL", side="BUY", quantity="1", price="100",
                  portfolio_id=used["id"])
    await place(client, auth, symbol="AAPL", side="BUY", order_type="LIMIT", quantity="1",
                price="100", portfolio_id=used["id"])

    refused = error(await client.delete(f"{PORTFOLIOS}/{used['id']}", headers=auth),
                    409, "portfolio_in_use")
    deleted = await client.delete(f"{PORTFOLIOS}/{empty['id']}", headers=auth)

    assert (refused["details"]["orders"], refused["details"]["trades"]) == (1, 1)
    assert deleted.status_code == 204
    assert [p["name"] for p in (await get_ok(client, auth, PORTFOLIOS))["items"]] == ["Used"]
    error(await client.delete(f"{PORTFOLIOS}/{empty['id']}", headers=auth), 404, "not_found")


async def test_the_exits_a_bracket_opens_roll_up_under_its_portfolio(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime,
) -> None:
    portfolio = await create(client, auth, "Brackets")
    entry = await place(client, auth, symbol="AAPL", side="BUY", order_type="MARKET",
                        quantity="5", order_class="bracket", portfolio_id=portfolio["id"],
                        take_profit={"limit_price": "250"}, stop_loss={"stop_price": "150"})
    await submit_orders(runtime, [entry])

    shown = await get_ok(client, auth, f"/api/v1/orders/{entry}")

    assert shown["status"] == "FILLED"
    assert [leg["portfolio_id"] for leg in shown["legs"]] == [portfolio["id"]] * 2


@pytest.mark.parametrize(("path", "body"), [
    ("/api/v1/orders", {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT",
                        "quantity": "1", "price": "100"}),
    ("/api/v1/trades", {"symbol": "AAPL", "side": "BUY", "quantity": "1", "price": "100",
                        "executed_at": DAY}),
])
async def test_a_portfolio_deleted_while_an_order_or_trade_names_it_is_a_422_not_a_500(
    client: httpx.AsyncClient, auth: dict[str, str], engine: AsyncEngine, path: str,
    body: dict[str, Any],
) -> None:
    portfolio = await create(client, auth, "Going")
    async with engine.connect() as conn:
        deleting = await conn.begin()
        await conn.execute(text("DELETE FROM portfolios WHERE id = :id"),
                           {"id": portfolio["id"]})
        # The request finds the portfolio (the delete is not committed), then its insert waits
        # for the deleted row's lock and fails its foreign key once the delete commits.
        request = asyncio.ensure_future(client.post(
            path, json={**body, "portfolio_id": portfolio["id"]}, headers=auth))
        await asyncio.sleep(0.5)
        await deleting.commit()
    response = await request

    assert error(response, 422, "unknown_portfolio")["details"]["field"] == "portfolio_id"
    assert (await get_ok(client, auth, "/api/v1/orders"))["items"] == []
    assert (await get_ok(client, auth, "/api/v1/trades"))["items"] == []


async def test_a_portfolio_across_an_nse_and_a_us_account_totals_each_currency_on_its_own(
    client: httpx.AsyncClient, auth: dict[str, str], engine: AsyncEngine, api: OpenApi,
) -> None:
    session = BrokerSession(api_key="k", api_secret="s", access_token="t",
                            broker_user_id=f"ZX{uuid.uuid4().hex[:6]}")
    kite = await connect_broker(engine, auth, Broker.ZERODHA, session, Settings())
    portfolio = await create(client, auth, "World")
    named = {"portfolio_id": portfolio["id"]}
    await journal(client, auth, symbol="AAPL", side="BUY", quantity="10", price="100", **named)
    await journal(client, auth, symbol="INFY", side="BUY", quantity="5", price="1500",
                  account_id=str(kite), brokerage_charge="20", **named)
    # An NSE name on the USD account is refused, not booked in the wrong currency.
    wrong = await client.post("/api/v1/trades", headers=auth, json={
        "executed_at": DAY, "symbol": "INFY", "side": "BUY", "quantity": "1", "price": "1500",
        **named})

    body = api.check(await client.get(f"{PORTFOLIOS}/{portfolio['id']}", headers=auth))

    assert error(wrong, 422, "currency_mismatch")["details"] == {"field": "account_id"}
    accounts_by_currency = {a["currency"]: a for a in body["accounts"]}
    assert accounts_by_currency["INR"]["account_id"] == str(kite)
    assert accounts_by_currency["INR"]["broker"] == "zerodha"
    totals = {t["currency"]: t for t in body["totals"]}
    assert set(totals) == {"USD", "INR"}
    # Each marked at its own last (AAPL 200, INFY 1860), never summed across currencies.
    assert (Decimal(totals["USD"]["market_value"]), Decimal(totals["USD"]["unrealized_pnl"])) == (
        Decimal(2000), Decimal(1000))
    assert (Decimal(totals["INR"]["market_value"]), Decimal(totals["INR"]["unrealized_pnl"]),
            Decimal(totals["INR"]["charges"])) == (Decimal(9300), Decimal(1800), Decimal(20))
    assert {p["symbol"]: p["currency"] for p in body["positions"]} == {"AAPL": "USD",
                                                                        "INFY": "INR"}
