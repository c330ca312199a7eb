"""Bracket, oto and oco orders on the paper exchange: the API's checks and what fills do to legs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.market.service import InstrumentCache
from shared.settings import get_settings
from tests.helpers import get_ok, new_instrument, place, set_quote
from worker.handlers.cancel import cancel_order
from worker.handlers.matching import match_symbol
from worker.handlers.submit import submit_orders
from worker.runtime import Runtime

pytestmark = pytest.mark.integration
D = Decimal


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    return Runtime(get_settings(), engine=app.state.engine, redis=app.state.redis)


async def _instrument(app: FastAPI, engine: AsyncEngine, price: str = "100") -> str:
    created = await new_instrument(engine, price)
    app.state.instruments = InstrumentCache(engine)  # a new cache loads the new instrument
    return created


def _bracket(symbol: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "symbol": symbol, "side": "BUY", "order_type": "LIMIT", "quantity": "100",
        "price": "100", "time_in_force": "GTC", "order_class": "bracket",
        "take_profit": {"limit_price": "110"}, "stop_loss": {"stop_price": "90"}}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(("changes", "field"), [
    ({"stop_loss": None}, "stop_loss"),
    ({"take_profit": {"limit_price": "89"}}, "take_profit.limit_price"),
    ({"take_profit": {"limit_price": "110.001"}}, "take_profit.limit_price"),
    ({"stop_loss": {"stop_price": "100"}}, "stop_loss.stop_price"),
    ({"stop_loss": {"stop_price": "90", "limit_price": "91"}}, "stop_loss.limit_price"),
    ({"stop_loss": {"stop_price": "1e40"}}, "stop_loss.stop_price"),
    ({"take_profit": {"limit_price": "110", "price": "1"}}, "take_profit.price"),
    ({"side": "SELL"}, "side"),
    ({"order_class": "oto"}, "take_profit"),
    ({"order_class": "simple"}, "take_profit"),
    ({"order_class": "oco", "side": "SELL", "take_profit": None}, "price"),
    ({"order_class": "oco", "side": "SELL", "price": "85", "take_profit": None},
     "take_profit.limit_price"),
    ({"order_class": "triple"}, "order_class"),
])
async def test_a_class_order_that_makes_no_sense_is_refused_naming_the_field(
        app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        changes: dict[str, Any], field: str) -> None:
    symbol = await _instrument(app, engine)
    body = _bracket(symbol, **changes)
    if field == "price":  # an oco order with no price at all is a LIMIT without one
        body.pop("price")
    response = await client.post("/api/v1/orders", json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field
    assert (await get_ok(client, auth, f"/api/v1/orders?symbol={symbol}"))["items"] == []


async def _orders(client: httpx.AsyncClient, auth: dict[str, str],
                  symbol: str) -> dict[str, dict[str, Any]]:
    """The symbol's orders by role: the entry (no parent), then each leg by its type."""
    items = (await get_ok(client, auth, f"/api/v1/orders?symbol={symbol}"))["items"]
    return {("entry" if o["parent_id"] is None else o["order_type"]): o for o in items}


async def _held(engine: AsyncEngine, symbol: str) -> tuple[Decimal, Decimal]:
    async with engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT quantity, reserved_quantity FROM positions WHERE symbol = :s"),
            {"s": symbol})).one()
    return D(row.quantity).normalize(), D(row.reserved_quantity).normalize()


async def test_a_bracket_opens_its_exits_only_as_the_entry_fills_and_they_share_it(
        app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    symbol = await _instrument(app, engine, "105")
    entry_id = await place(client, auth, **_bracket(symbol))
    await submit_orders(runtime, [entry_id])
    assert list(await _orders(client, auth, symbol)) == ["entry"]  # resting: no exits yet

    await set_quote(engine, symbol, "99.9", "100", ask_size="40")
    await match_symbol(runtime, symbol)
    book = await _orders(client, auth, symbol)
    assert book["entry"]["status"] == "PARTIALLY_FILLED"
    tp, sl = book["LIMIT"], book["STOP"]
    assert (tp["side"], tp["quantity"], tp["price"], tp["status"]) == ("SELL", "40", "110",
                                                                      "ACCEPTED")
    assert (sl["side"], sl["quantity"], sl["stop_price"], sl["status"]) == ("SELL", "40", "90",
                                                                           "ACCEPTED")
    assert tp["parent_id"] == sl["parent_id"] == entry_id
    assert tp["order_class"] == "bracket"
    assert await _held(engine, symbol) == (D(40), D(40))  # the pair holds the shares once

    await set_quote(engine, symbol, "99.9", "100", ask_size="60")
    await match_symbol(runtime, symbol)
    book = await _orders(client, auth, symbol)
    assert book["entry"]["status"] == "FILLED"
    assert (book["LIMIT"]["quantity"], book["STOP"]["quantity"]) == ("100", "100")
    assert await _held(engine, symbol) == (D(100), D(100))

    await set_quote(engine, symbol, "110", "110.1", bid_size="30")
    await match_symbol(runtime, symbol)
    book = await _orders(client, auth, symbol)
    assert (book["LIMIT"]["status"], book["LIMIT"]["filled_quantity"]) == ("PARTIALLY_FILLED",
                                                                           "30")
    assert (book["STOP"]["status"], book["STOP"]["quantity"]) == ("ACCEPTED", "70")
    assert await _held(engine, symbol) == (D(70), D(70))

    await set_quote(engine, symbol, "110", "110.1", bid_size="1000")
    await match_symbol(runtime, symbol)
    book = await _orders(client, auth, symbol)
    assert book["LIMIT"]["status"] == "FILLED"
    assert (book["STOP"]["status"], book["STOP"]["reject_reason"]) == (
        "CANCELED", "its OCO sibling filled")
    assert await _held(engine, symbol) == (D(0), D(0))  # never oversold


async def _oco_on_50_shares(app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine,
                            runtime: Runtime, auth: dict[str, str]) -> tuple[str, Any]:
    """Buy 50 shares of a fresh instrument and protect them with an oco pair (take-profit
    SELL LIMIT 110, stop-loss 90); returns the symbol and the pair, by order type."""
    symbol = await _instrument(app, engine)
    bought = await place(client, auth, symbol=symbol, side="BUY", order_type="MARKET",
                         quantity="50")
    await submit_orders(runtime, [bought])
    oco = await place(client, auth, symbol=symbol, side="SELL", order_type="LIMIT",
                      quantity="50", price="110", time_in_force="GTC", order_class="oco",
                      stop_loss={"stop_price": "90"})
    await submit_orders(runtime, [oco])
    items = (await get_ok(client, auth, f"/api/v1/orders?symbol={symbol}"))["items"]
    return symbol, {o["order_type"]: o for o in items if o["order_class"] == "oco"}


async def test_an_oco_pair_on_a_held_position_stops_out_and_cancels_the_take_profit(
        app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    symbol, pair = await _oco_on_50_shares(app, client, engine, runtime, auth)
    oco = pair["LIMIT"]["id"]
    assert pair["LIMIT"]["status"] == "ACCEPTED"
    assert (pair["STOP"]["parent_id"], pair["STOP"]["quantity"], pair["STOP"]["status"]) == (
        oco, "50", "ACCEPTED")
    assert await _held(engine, symbol) == (D(50), D(50))

    # Another sell of the same shares finds none free: the pair holds them.
    response = await client.post("/api/v1/orders", headers=auth, json={
        "symbol": symbol, "side": "SELL", "order_type": "MARKET", "quantity": "1"})
    assert response.status_code == 422

    await set_quote(engine, symbol, "89", "89.1")
    await match_symbol(runtime, symbol)
    stop = await get_ok(client, auth, f"/api/v1/orders/{pair['STOP']['id']}")
    take = await get_ok(client, auth, f"/api/v1/orders/{oco}")
    assert (stop["status"], stop["filled_quantity"]) == ("FILLED", "50")
    assert (take["status"], take["reject_reason"]) == ("CANCELED", "its OCO sibling filled")
    assert await _held(engine, symbol) == (D(0), D(0))


@pytest.mark.parametrize("leg", ["LIMIT", "STOP"])
async def test_canceling_either_leg_of_a_pair_cancels_its_sibling_and_frees_the_shares_once(
        app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str], leg: str) -> None:
    symbol, orders = await _oco_on_50_shares(app, client, engine, runtime, auth)
    pair = {kind: order["id"] for kind, order in orders.items()}
    assert (await client.delete(f"/api/v1/orders/{pair[leg]}", headers=auth)).status_code == 202
    assert await cancel_order(runtime, pair[leg])
    statuses = {kind: (await get_ok(client, auth, f"/api/v1/orders/{i}"))["status"]
                for kind, i in pair.items()}
    assert statuses == {"LIMIT": "CANCELED", "STOP": "CANCELED"}
    assert await _held(engine, symbol) == (D(50), D(0))  # the shares are free, and held
    # The stop that would have sold them is gone: a crash through it sells nothing.
    await set_quote(engine, symbol, "89", "89.1")
    await match_symbol(runtime, symbol)
    assert await _held(engine, symbol) == (D(50), D(0))


async def test_a_legs_quantity_cannot_be_replaced_but_its_price_can(
        app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    symbol, pair = await _oco_on_50_shares(app, client, engine, runtime, auth)
    oco, stop = pair["LIMIT"]["id"], pair["STOP"]["id"]
    for leg in (oco, stop):
        response = await client.patch(f"/api/v1/orders/{leg}", json={"quantity": "20"},
                                      headers=auth)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "field_not_replaceable"
        assert response.json()["error"]["details"]["field"] == "quantity"
    assert await _held(engine, symbol) == (D(50), D(50))  # nothing moved
    moved = await client.patch(f"/api/v1/orders/{stop}", json={"stop_price": "92"},
                               headers=auth)
    assert (moved.status_code, moved.json()["stop_price"]) == (200, "92")


async def test_an_entry_shows_the_legs_it_opened_and_each_leg_its_entry(
        app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    symbol = await _instrument(app, engine)  # quoted 99.99 / 100.01
    entry = await place(client, auth, **_bracket(symbol, order_type="MARKET", price=None,
                                                 quantity="10"))
    await submit_orders(runtime, [entry])
    shown = await get_ok(client, auth, f"/api/v1/orders/{entry}")
    assert shown["status"] == "FILLED"
    assert sorted((leg["order_type"], leg["side"], leg["quantity"], leg["parent_id"])
                  for leg in shown["legs"]) == [("LIMIT", "SELL", "10", entry),
                                                ("STOP", "SELL", "10", entry)]
    listed = (await get_ok(client, auth, f"/api/v1/orders?symbol={symbol}"))["items"]
    assert {o["id"]: len(o["legs"]) for o in listed} == {
        entry: 2, **{leg["id"]: 0 for leg in shown["legs"]}}


async def test_an_oto_opens_its_one_exit_as_the_entry_fills_and_that_exit_holds_the_shares(
        app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    symbol = await _instrument(app, engine)  # quoted 99.99 / 100.01
    entry = await place(client, auth, symbol=symbol, side="BUY", order_type="MARKET",
                        quantity="10", order_class="oto", stop_loss={"stop_price": "90"})
    await submit_orders(runtime, [entry])
    [stop] = (await get_ok(client, auth, f"/api/v1/orders/{entry}"))["legs"]
    assert (stop["order_type"], stop["side"], stop["quantity"], stop["status"]) == (
        "STOP", "SELL", "10", "ACCEPTED")
    assert await _held(engine, symbol) == (D(10), D(10))
    response = await client.post("/api/v1/orders", headers=auth, json={
        "symbol": symbol, "side": "SELL", "order_type": "MARKET", "quantity": "1"})
    assert response.json()["error"]["code"] == "insufficient_position"  # the stop holds them
    await set_quote(engine, symbol, "89.9", "90")
    await match_symbol(runtime, symbol)
    done = await get_ok(client, auth, f"/api/v1/orders/{stop['id']}")
    assert (done["status"], done["avg_fill_price"]) == ("FILLED", "89.9")
    assert await _held(engine, symbol) == (D(0), D(0))


async def test_a_second_exit_pair_stands_when_the_first_pair_is_canceled(
        app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    symbol = await _instrument(app, engine, "105")
    entry_id = await place(client, auth, **_bracket(symbol))
    await submit_orders(runtime, [entry_id])
    await set_quote(engine, symbol, "99.9", "100", ask_size="40")
    await match_symbol(runtime, symbol)  # 40 filled: the first pair opens for them
    first = await _orders(client, auth, symbol)
    canceling = await client.delete(f"/api/v1/orders/{first['LIMIT']['id']}", headers=auth)
    assert canceling.json()["status"] == "PENDING_CANCEL"  # the venue has not answered yet
    await set_quote(engine, symbol, "99.9", "100", ask_size="60")
    await match_symbol(runtime, symbol)  # 60 more: a pair of their own, the first can't grow
    assert await cancel_order(runtime, first["LIMIT"]["id"])
    legs = (await get_ok(client, auth, f"/api/v1/orders?symbol={symbol}"))["items"]
    by_pair = sorted((o["quantity"], o["order_type"], o["status"]) for o in legs
                     if o["parent_id"] == entry_id)
    assert by_pair == [("40", "LIMIT", "CANCELED"), ("40", "STOP", "CANCELED"),
                       ("60", "LIMIT", "ACCEPTED"), ("60", "STOP", "ACCEPTED")]
    assert await _held(engine, symbol) == (D(100), D(60))  # the 60 stay protected, held once
