"""The trades journal through the real API and PostgreSQL: trades done outside ordergate book
into positions and cash as fills do, edits and deletes rebook them, each user sees only theirs,
nonsense is refused and lists page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.helpers import register_and_login
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

TRADES = "/api/v1/trades"
DAY = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def _trade(**fields: Any) -> dict[str, Any]:
    body = {"symbol": "AAPL", "side": "BUY", "quantity": "10", "price": "100",
            "executed_at": DAY.isoformat()}
    return {**body, **fields}


async def journal(client: httpx.AsyncClient, auth: dict[str, str], **fields: Any,
                  ) -> dict[str, Any]:
    response = await client.post(TRADES, json=_trade(**fields), headers=auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def position(client: httpx.AsyncClient, auth: dict[str, str],
                   symbol: str = "AAPL") -> dict[str, Any] | None:
    rows = [row for row in await get_ok(client, auth, "/api/v1/positions")
            if row["symbol"] == symbol]
    return rows[0] if rows else None


async def cash(client: httpx.AsyncClient, auth: dict[str, str]) -> Decimal:
    return Decimal((await get_ok(client, auth, "/api/v1/account"))["cash"])


async def test_a_journaled_trade_books_into_the_position_and_the_cash(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi,
) -> None:
    before = await cash(client, auth)

    response = await client.post(TRADES, headers=auth, json=_trade(
        brokerage_charge="20", mtf_charge="1.5", type="eq", notes="bought at the broker"))

    assert response.status_code == 201, response.text
    created = api.check(response)
    assert (created["symbol"], created["side"], created["quantity"], created["price"],
            created["source"], created["notes"]) == (
        "AAPL", "BUY", "10", "100", "manual", "bought at the broker")
    assert await get_ok(client, auth, f"{TRADES}/{created['id']}") == created
    held = await position(client, auth)
    assert held is not None
    assert (held["quantity"], held["avg_price"], held["realized_pnl"]) == ("10", "100", "0")
    assert await cash(client, auth) == before - Decimal("1021.5")


async def test_a_back_dated_trade_lands_in_order_and_edits_and_deletes_rebook(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    before = await cash(client, auth)
    await journal(client, auth)  # 10 at 100 on day 0
    await journal(client, auth, side="SELL", quantity="5", price="120",
                  executed_at=(DAY + timedelta(days=2)).isoformat())
    late = await journal(client, auth, price="90",
                         executed_at=(DAY + timedelta(days=1)).isoformat())

    held = await position(client, auth)
    assert held is not None  # 20 at 95 average, then 5 sold at 120
    assert (held["quantity"], held["avg_price"], held["realized_pnl"]) == ("15", "95", "125")

    response = await client.put(f"{TRADES}/{late['id']}", headers=auth,
                                json=_trade(price="110", executed_at=late["executed_at"]))
    assert response.status_code == 200, response.text
    assert response.json()["price"] == "110"
    held = await position(client, auth)
    assert held is not None  # 20 at 105, 5 sold at 120
    assert (held["quantity"], held["avg_price"], held["realized_pnl"]) == ("15", "105", "75")

    response = await client.delete(f"{TRADES}/{late['id']}", headers=auth)
    assert response.status_code == 204
    held = await position(client, auth)
    assert held is not None
    assert (held["quantity"], held["avg_price"], held["realized_pnl"]) == ("5", "100", "100")
    assert await cash(client, auth) == before - 1000 + 600
    assert (await client.get(f"{TRADES}/{late['id']}", headers=auth)).status_code == 404


async def test_journaled_trades_and_real_fills_make_one_position(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime,
) -> None:
    order_id = await place(client, auth, symbol="AAPL", side="BUY", order_type="MARKET",
                           quantity="10")
    await submit_orders(runtime, [order_id])
    [fill] = (await get_ok(client, auth, f"/api/v1/orders/{order_id}/fills"))["items"]

    sold = await journal(client, auth, side="SELL", quantity="4", price="210",
                         executed_at=datetime.now(UTC).isoformat())

    held = await position(client, auth)
    assert held is not None
    realized = (Decimal(210) - Decimal(fill["price"])) * 4
    assert (Decimal(held["quantity"]), Decimal(held["avg_price"]),
            Decimal(held["realized_pnl"])) == (Decimal(6), Decimal(fill["price"]), realized)
    assert (await client.delete(f"{TRADES}/{sold['id']}", headers=auth)).status_code == 204
    held = await position(client, auth)
    assert held is not None
    assert (held["quantity"], held["realized_pnl"]) == ("10", "0")


async def test_another_users_trade_is_not_found_and_left_alone(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi,
) -> None:
    mine = await journal(client, auth)
    other = await register_and_login(client)
    path = f"{TRADES}/{mine['id']}"

    for response in (await client.get(path, headers=other),
                     await client.put(path, json=_trade(price="1"), headers=other),
                     await client.delete(path, headers=other),
                     await client.get(f"{TRADES}/not-a-uuid", headers=auth)):
        assert response.status_code == 404, response.text
        api.check(response)
        assert response.json()["error"]["code"] == "not_found"
    assert (await get_ok(client, other, TRADES))["items"] == []
    assert await get_ok(client, auth, path) == mine
    theirs = (await get_ok(client, other, "/api/v1/account"))["account_id"]
    response = await client.post(TRADES, json=_trade(account_id=theirs), headers=auth)
    assert response.status_code == 404
    assert response.json()["error"]["details"] == {"field": "account_id"}


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"quantity": "0"}, "invalid_trade", "quantity"),
    ({"price": "-5"}, "invalid_trade", "price"),
    # schemathesis found this one a 500: the trade's cash did not fit the ledger's NUMERIC
    ({"quantity": "473758649.15", "price": "848495775.52"}, "invalid_trade", "quantity"),
    ({"brokerage_charge": "-1"}, "invalid_trade", "brokerage_charge"),
    ({"executed_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, "invalid_trade",
     "executed_at"),
    ({"executed_at": "2026-11-02T10:00:00"}, "invalid_request", "executed_at"),
    ({"symbol": "NOSUCH"}, "unknown_symbol", "symbol"),
    ({"symbol": "INFY"}, "currency_mismatch", "account_id"),
    ({"type": "crypto"}, "invalid_request", "type"),
    ({"notes": "bell\x07"}, "invalid_request", "notes"),
    ({"status": "FILLED"}, "invalid_request", "status"),
])
async def test_a_trade_no_one_could_have_done_is_refused_and_nothing_books(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi, fields: dict[str, Any],
    code: str, field: str,
) -> None:
    before = await cash(client, auth)

    response = await client.post(TRADES, json=_trade(**fields), headers=auth)

    assert response.status_code == 422, response.text
    api.check(response)
    error = response.json()["error"]
    assert (error["code"], error["details"]["field"]) == (code, field), error
    assert await cash(client, auth) == before
    assert (await get_ok(client, auth, TRADES))["items"] == []


async def test_the_list_pages_the_latest_first_and_filters_by_symbol_and_time(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    made = [await journal(client, auth, symbol=symbol, quantity="1",
                          executed_at=(DAY + timedelta(hours=hour)).isoformat())
            for hour, symbol in enumerate(["AAPL", "MSFT", "AAPL", "MSFT", "AAPL"])]

    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = await get_ok(client, auth, f"{TRADES}?{httpx.QueryParams(params)}")
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == [trade["id"] for trade in reversed(made)]

    aapl = await get_ok(client, auth, f"{TRADES}?symbol=aapl")
    assert [item["id"] for item in aapl["items"]] == [made[4]["id"], made[2]["id"],
                                                      made[0]["id"]]
    window = httpx.QueryParams({"from": (DAY + timedelta(hours=1)).isoformat(),
                                "to": (DAY + timedelta(hours=3)).isoformat()})
    between = await get_ok(client, auth, f"{TRADES}?{window}")
    assert [item["id"] for item in between["items"]] == [made[2]["id"], made[1]["id"]]
    bad = await client.get(TRADES, params={"cursor": "nonsense"}, headers=auth)
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_cursor")


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "2026-11-02T10:00:00"}, "from"),
    ({"to": "2026-11-02T10:00:00"}, "to"),
    ({"from": "2026-11-03T00:00:00Z", "to": "2026-11-02T00:00:00Z"}, "from"),
])
async def test_a_period_without_its_zone_or_ending_before_it_starts_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi, params: dict[str, str],
    field: str,
) -> None:
    response = await client.get(TRADES, params=params, headers=auth)

    assert response.status_code == 422, response.text
    api.check(response)
    assert response.json()["error"]["details"]["field"] == field
