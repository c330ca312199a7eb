"""The Indian brokers' wire formats against their published shapes (issue 14).

Fixtures: tests/fixtures/<broker>/ (see the README there for where each shape comes from).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.brokers.catalog import Product
from shared.brokers.groww import wire as groww
from shared.brokers.india import AUTOMATIC_PROTECTION, market_protection
from shared.brokers.types import (
    Instrument,
    Modify,
    PlaceRequest,
    Rejected,
    SessionExpired,
)
from shared.brokers.upstox import wire as upstox
from shared.brokers.zerodha import wire as zerodha
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce

FIXTURES = Path(__file__).parents[1] / "fixtures"
INFY = Instrument(symbol="INFY", exchange="NSE", currency="INR", isin="INE009A01021")


def fixture(broker: str, name: str) -> Any:
    """A fixture file parsed as the adapters parse answers (fractions as Decimal)."""
    return json.loads((FIXTURES / broker / name).read_text(), parse_float=Decimal)


def order(order_type: OrderType, *, price: str | None = None,
          stop: str | None = None) -> PlaceRequest:
    return PlaceRequest(
        order_id="o-1", tag="og1f2e3d4c5b6a79880", instrument=INFY, side=Side.BUY,
        order_type=order_type, quantity=Decimal(4), time_in_force=TimeInForce.DAY,
        price=Decimal(price) if price else None, stop_price=Decimal(stop) if stop else None,
        product=Product.CNC)


# --- market protection ------------------------------------------------------------------

@pytest.mark.parametrize("order_type", [OrderType.MARKET, OrderType.STOP])
def test_kite_market_and_stop_market_orders_carry_automatic_market_protection(
        order_type: OrderType) -> None:
    form = zerodha.place_form(order(order_type, stop="1790.5"))
    assert form["market_protection"] == "-1"


def test_kite_orders_carry_the_connections_market_protection() -> None:
    form = zerodha.place_form(order(OrderType.MARKET), market_protection=Decimal("2.5"))
    assert form["market_protection"] == "2.5"


@pytest.mark.parametrize("order_type", [OrderType.LIMIT, OrderType.STOP_LIMIT])
def test_kite_priced_orders_carry_no_market_protection(order_type: OrderType) -> None:
    form = zerodha.place_form(order(order_type, price="1861.25", stop="1850"))
    assert "market_protection" not in form


def test_a_kite_limit_modified_to_market_carries_market_protection() -> None:
    form = zerodha.modify_form(Modify(order_type=OrderType.MARKET), current_type="LIMIT")
    assert form == {"order_type": "MARKET", "market_protection": "-1"}


def test_a_kite_stop_market_modified_in_quantity_carries_market_protection() -> None:
    form = zerodha.modify_form(Modify(quantity=Decimal(6)), current_type="SL-M",
                               market_protection=Decimal(3))
    assert form == {"quantity": "6", "market_protection": "3"}


def test_a_kite_limit_modified_in_price_carries_no_market_protection() -> None:
    form = zerodha.modify_form(Modify(price=Decimal("1860")), current_type="LIMIT")
    assert form == {"price": "1860"}


def test_upstox_market_orders_carry_an_explicit_market_protection_only() -> None:
    explicit = upstox.place_payload(order(OrderType.MARKET), market_protection=Decimal(4))
    automatic = upstox.place_payload(order(OrderType.MARKET))
    limit = upstox.place_payload(order(OrderType.LIMIT, price="1861.25"),
                                 market_protection=Decimal(4))
    assert explicit["market_protection"] == Decimal(4)
    assert "market_protection" not in automatic
    assert "market_protection" not in limit


def test_upstox_modify_to_market_carries_the_explicit_market_protection() -> None:
    current = fixture("upstox", "order_details.json")["data"]
    body = upstox.modify_payload("260105000123456", Modify(order_type=OrderType.MARKET),
                                 current, market_protection=Decimal(4))
    assert body["order_type"] == "MARKET"
    assert body["market_protection"] == Decimal(4)


@pytest.mark.parametrize(("stored", "expected"), [
    (None, AUTOMATIC_PROTECTION), ("-1", AUTOMATIC_PROTECTION), ("2.5", Decimal("2.5")),
    ("100", Decimal(100))])
def test_a_connections_market_protection_defaults_to_automatic(
        stored: str | None, expected: Decimal) -> None:
    extra = {} if stored is None else {"market_protection": stored}
    assert market_protection(extra) == expected


@pytest.mark.parametrize("stored", ["0", "101", "-2", "abc"])
def test_a_market_protection_outside_kites_range_is_refused(stored: str) -> None:
    with pytest.raises(ValueError, match="market_protection"):
        market_protection({"market_protection": stored})


# --- Groww: funds, holdings, permissions ------------------------------------------------

def test_groww_buying_power_is_the_delivery_balance_net_of_margin_used() -> None:
    funds = groww.parse_funds(fixture("groww", "margins_detail_user.json")["payload"])
    assert funds.available_cash == Decimal("38000.0")
    assert funds.used_margin == Decimal("12000.0")


def test_groww_positions_include_delivered_holdings() -> None:
    rows = groww.merge_positions(fixture("groww", "positions_user.json")["payload"],
                                 fixture("groww", "holdings_user.json")["payload"])
    by_key = {(p.symbol, p.product): p for p in rows}
    assert by_key[("INFY", "CNC")].quantity == Decimal(15)
    assert by_key[("INFY", "CNC")].avg_price == (Decimal(3) * Decimal("1860.0")
                                                 + Decimal(12) * Decimal("1512.4")) / 15
    assert by_key[("SBIN", "MIS")].quantity == Decimal(-5)


def test_groww_403_is_a_final_refusal_naming_the_missing_permission() -> None:
    body = (FIXTURES / "groww" / "permission_denied.json").read_bytes()
    error = groww.classify(403, body, changes_state=True, names_order=False)
    assert isinstance(error, Rejected)
    assert not isinstance(error, SessionExpired)
    assert error.code == "GA005"
    assert "permission" in error.message
    assert "trade permission" in error.message


def test_groww_401_is_still_an_expired_session() -> None:
    body = b'{"status": "FAILURE", "error": {"code": "GA005", "message": "token expired"}}'
    error = groww.classify(401, body, changes_state=False, names_order=False)
    assert isinstance(error, SessionExpired)


# --- Upstox: holdings ------------------------------------------------------------------

def test_upstox_positions_include_delivered_holdings() -> None:
    rows = upstox.parse_positions(fixture("upstox", "short_term_positions.json")["data"],
                                  fixture("upstox", "long_term_holdings.json")["data"])
    by_key = {(p.symbol, p.product): p for p in rows}
    assert by_key[("INFY", "CNC")].quantity == Decimal(12)
    assert by_key[("ITC", "CNC")].quantity == Decimal(10)
    assert by_key[("ITC", "CNC")].avg_price == Decimal("410.5")
    assert by_key[("SBIN", "MIS")].quantity == Decimal(-5)


def test_upstox_order_details_parse_from_the_sdk_shape() -> None:
    parsed = upstox.parse_order(fixture("upstox", "order_details.json")["data"])
    assert parsed.status is OrderStatus.PARTIALLY_FILLED
    assert (parsed.quantity, parsed.filled_quantity) == (Decimal(6), Decimal(2))
    assert parsed.price == Decimal("1861.25")
    assert parsed.tag == "og0c1d2e3f4a5b69788"


def test_upstox_trades_and_funds_parse_from_the_sdk_shape() -> None:
    fill = upstox.parse_fill(fixture("upstox", "trades.json")["data"][0])
    funds = upstox.parse_funds(fixture("upstox", "funds_and_margin.json")["data"])
    placed = upstox.placed_order_id(fixture("upstox", "place_order_v3.json")["data"])
    assert (fill.exec_id, fill.quantity, fill.price) == ("55001122", Decimal(2), Decimal("1861.1"))
    assert funds.available_cash == Decimal("46277.8")
    assert placed == "260105000123456"


# --- Zerodha: the kiteconnect-mocks shapes ----------------------------------------------

def test_kite_order_book_rows_parse_with_their_market_protection_field() -> None:
    rows = [zerodha.parse_order(row) for row in fixture("zerodha", "orders.json")["data"]]
    assert [r.status for r in rows] == [OrderStatus.FILLED, OrderStatus.ACCEPTED,
                                        OrderStatus.REJECTED]
    assert rows[0].avg_price == Decimal("1861.25")
    assert rows[1].price is None
    assert "Insufficient funds" in (rows[2].message or "")


def test_kite_order_history_ends_partly_filled() -> None:
    history = fixture("zerodha", "order_info.json")["data"]
    current = zerodha.current_order(history, "260105000000204")
    assert current.status is OrderStatus.PARTIALLY_FILLED
    assert current.filled_quantity == 3


def test_kite_trades_positions_holdings_and_margins_parse() -> None:
    trade = zerodha.parse_trade(fixture("zerodha", "order_trades.json")["data"][0])
    positions = zerodha.parse_positions(fixture("zerodha", "positions.json")["data"],
                                        fixture("zerodha", "holdings.json")["data"])
    funds = zerodha.parse_funds(fixture("zerodha", "margins.json")["data"])
    by_key = {(p.symbol, p.exchange, p.product): p.quantity for p in positions}
    assert (trade.exec_id, trade.quantity) == ("40000101", Decimal(3))
    assert by_key[("INFY", "NSE", "CNC")] == 10
    assert by_key[("ITC", "BSE", "CNC")] == 25
    assert by_key[("SBIN", "NSE", "MIS")] == -2
    assert funds.available_cash == Decimal("42555.0")


def test_kite_postback_fixture_verifies_and_names_its_order() -> None:
    body = (FIXTURES / "zerodha" / "postback.json").read_bytes()
    assert zerodha.postback_checksum_ok(body, "fixture-api-secret")
    assert not zerodha.postback_checksum_ok(body, "another-secret")
    assert zerodha.parse_webhook(body).broker_order_id == "260105000000101"
