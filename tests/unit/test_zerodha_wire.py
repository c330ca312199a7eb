"""Kite Connect wire format: statuses, order forms, answers, errors, postbacks and logins."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.brokers.catalog import Product
from shared.brokers.types import (
    BrokerError,
    Instrument,
    Modify,
    NotSent,
    OrderNotFound,
    PlaceRequest,
    RateLimited,
    Rejected,
    SessionExpired,
    Unknown,
)
from shared.brokers.zerodha import wire
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce

S = OrderStatus
INFY = Instrument(symbol="INFY", exchange="NSE", currency="INR", isin="INE009A01021")
# Vectors computed outside Python: printf '%s' '<parts>' | sha256sum
POSTBACK_CHECKSUM = "b1afe0cd1b9ef5cf7bcfa4d18c03ceba4f0998af2a8bcfd6035fd955f478c451"
LOGIN_CHECKSUM = "c17bd3bf3de28563992895b85201a443450c904e4091d8fd7bc35a0be89fd262"
REFRESH_CHECKSUM = "423c24200fd5750276c4f53855b27d4397ca33420e96b0b82b851c4c35b21b66"


def _request(order_type: OrderType = OrderType.LIMIT, *, quantity: str = "10",
             price: str | None = "100.05", stop: str | None = None,
             tif: TimeInForce = TimeInForce.DAY, tag: str = "og0123456789abcdef01",
             product: Product | None = None) -> PlaceRequest:
    return PlaceRequest(order_id="o-1", tag=tag, instrument=INFY, side=Side.BUY,
                        order_type=order_type, quantity=Decimal(quantity), time_in_force=tif,
                        price=Decimal(price) if price else None,
                        stop_price=Decimal(stop) if stop else None, product=product)


def _order(**change: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_id": "171229000724687", "status": "OPEN", "order_type": "LIMIT",
        "quantity": 10, "filled_quantity": 0, "pending_quantity": 10, "price": 300,
        "average_price": 0, "tag": "og1", "status_message": None,
        "order_timestamp": "2017-12-29 11:06:52"}
    row.update(change)
    return row


def _postback(**change: Any) -> dict[str, Any]:
    payload = {"user_id": "AB1234", "unfilled_quantity": 0, "app_id": 1234,
               "checksum": POSTBACK_CHECKSUM, "order_id": "220303000308932",
               "status": "COMPLETE", "order_timestamp": "2022-03-03 09:24:25",
               "tag": "og0123456789abcdef01", "average_price": 470, "filled_quantity": 1}
    payload.update(change)
    return payload


@pytest.mark.parametrize(("raw", "expected"), [
    ("PUT ORDER REQ RECEIVED", S.SUBMITTED), ("VALIDATION PENDING", S.SUBMITTED),
    ("OPEN PENDING", S.SUBMITTED), ("AMO REQ RECEIVED", S.SUBMITTED), ("OPEN", S.ACCEPTED),
    ("TRIGGER PENDING", S.ACCEPTED), ("MODIFY VALIDATION PENDING", S.ACCEPTED),
    ("MODIFY PENDING", S.ACCEPTED), ("MODIFIED", S.ACCEPTED), ("UPDATE", S.ACCEPTED),
    ("CANCEL PENDING", S.PENDING_CANCEL), ("COMPLETE", S.FILLED),
    ("CANCELLED", S.CANCELED), ("REJECTED", S.REJECTED),
])
def test_every_documented_status_has_its_meaning(raw: str, expected: OrderStatus) -> None:
    assert wire.STATUS_MAP[raw] is expected
    assert wire.map_status(raw.lower()) is expected


def test_an_unknown_status_stays_in_flight_and_is_kept_raw() -> None:
    order = wire.parse_order(_order(status="SOMETHING NEW"))
    assert order.status is S.SUBMITTED
    assert order.raw_status == "SOMETHING NEW"


@pytest.mark.parametrize(("raw", "filled", "expected"), [
    ("OPEN", 4, S.PARTIALLY_FILLED), ("UPDATE", 4, S.PARTIALLY_FILLED),
    ("OPEN", 10, S.FILLED), ("CANCELLED", 4, S.CANCELED), ("COMPLETE", 10, S.FILLED),
])
def test_partial_fills_come_from_quantities_not_strings(raw: str, filled: int,
                                                        expected: OrderStatus) -> None:
    order = wire.parse_order(_order(status=raw, filled_quantity=filled,
                                    average_price=Decimal("100.03")))
    assert order.status is expected
    assert order.filled_quantity == filled
    assert order.avg_price == Decimal("100.03")


def test_an_order_row_parses_exactly_with_no_floats() -> None:
    limit = json.dumps(_order(price=0)).replace('"price": 0', '"price": 109.35')
    market = json.dumps(_order(status="REJECTED", order_type="MARKET", price=0,
                               status_message="Insufficient funds"))
    body = f'{{"status": "success", "data": [{limit}, {market}]}}'.encode()
    rows = wire.unwrap(200, body, changes_state=False)
    assert wire.parse_order(rows[0]).price == Decimal("109.35")
    order = wire.current_order(rows, "171229000724687")
    assert order.status is S.REJECTED
    assert order.message == "Insufficient funds"
    assert order.price is None
    assert order.avg_price is None


def test_an_empty_history_is_order_not_found() -> None:
    with pytest.raises(OrderNotFound):
        wire.current_order([], "1")


def test_floats_are_refused_as_numbers() -> None:
    with pytest.raises(TypeError, match="exact"):
        wire.number(109.35, "price")


def test_a_limit_order_form_is_what_kite_documents() -> None:
    assert wire.place_form(_request()) == {
        "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
        "quantity": "10", "product": "CNC", "order_type": "LIMIT", "validity": "DAY",
        "tag": "og0123456789abcdef01", "price": "100.05"}


@pytest.mark.parametrize(("order_type", "price", "stop", "kite_type", "fields"), [
    (OrderType.MARKET, None, None, "MARKET", {}),
    (OrderType.STOP, None, "99.5", "SL-M", {"trigger_price": "99.5"}),
    (OrderType.STOP_LIMIT, "99", "99.5", "SL", {"price": "99", "trigger_price": "99.5"}),
])
def test_stop_orders_are_kite_stoploss_orders(order_type: OrderType, price: str | None,
                                              stop: str | None, kite_type: str,
                                              fields: dict[str, str]) -> None:
    form = wire.place_form(_request(order_type, price=price, stop=stop, tif=TimeInForce.IOC,
                                    product=Product.MIS))
    assert form["order_type"] == kite_type
    assert {k: form[k] for k in ("price", "trigger_price") if k in form} == fields
    assert (form["validity"], form["product"]) == ("IOC", "MIS")


def test_prices_are_written_in_plain_digits() -> None:
    form = wire.place_form(_request(price="1E+2"))
    assert form["price"] == "100"


@pytest.mark.parametrize("request_", [
    _request(quantity="1.5"), _request(quantity="0"), _request(tif=TimeInForce.GTC),
    _request(tag="og-has-a-hyphen"), _request(tag="x" * 21), _request(price=None),
    _request(OrderType.STOP, price=None, stop=None),
])
def test_orders_kite_cannot_take_are_refused_before_sending(request_: PlaceRequest) -> None:
    with pytest.raises(Rejected):
        wire.place_form(request_)


def test_a_modify_form_carries_only_what_changes() -> None:
    assert wire.modify_form(Modify(price=Decimal("99.50")),
                            current_type="LIMIT") == {"price": "99.50"}
    assert wire.modify_form(Modify(quantity=Decimal(5), order_type=OrderType.STOP_LIMIT,
                                   stop_price=Decimal(98)), current_type="LIMIT") == {
        "order_type": "SL", "quantity": "5", "trigger_price": "98"}
    with pytest.raises(Rejected):
        wire.modify_form(Modify(), current_type="LIMIT")


def test_a_tag_is_found_in_tag_or_tags() -> None:
    assert wire.has_tag({"tag": "og1", "tags": ["og1"]}, "og1")
    assert wire.has_tag({"tag": None, "tags": ["x", "og1"]}, "og1")
    assert not wire.has_tag({"tag": None}, "og1")


def test_a_trade_is_a_fill_at_indian_time() -> None:
    fill = wire.parse_trade(wire.loads(
        '{"trade_id": "10000000", "order_id": "200000000000000", "average_price": 420.65,'
        ' "quantity": 1, "fill_timestamp": "2021-05-31 09:16:39", "order_timestamp": '
        '"09:16:39"}'))
    assert (fill.exec_id, fill.broker_order_id) == ("10000000", "200000000000000")
    assert (fill.quantity, fill.price) == (Decimal(1), Decimal("420.65"))
    assert fill.executed_at == datetime(2021, 5, 31, 3, 46, 39, tzinfo=UTC)


def test_positions_add_todays_delivery_buys_to_holdings() -> None:
    positions = {"net": [
        {"tradingsymbol": "INFY", "exchange": "NSE", "product": "CNC", "quantity": 3,
         "average_price": Decimal("100")},
        {"tradingsymbol": "INFY", "exchange": "NSE", "product": "MIS", "quantity": -2,
         "average_price": Decimal("101")}]}
    holdings = [{"tradingsymbol": "INFY", "exchange": "NSE", "product": "CNC", "quantity": 5,
                 "t1_quantity": 2, "average_price": Decimal("90")}]
    rows = {(p.symbol, p.product): p for p in wire.parse_positions(positions, holdings)}
    assert rows["INFY", "CNC"].quantity == 10
    assert rows["INFY", "CNC"].avg_price == Decimal(93)
    assert (rows["INFY", "MIS"].quantity, rows["INFY", "MIS"].avg_price) == (
        Decimal(-2), Decimal(101))


def test_funds_are_the_equity_segments_net() -> None:
    margins = wire.loads('{"equity": {"enabled": true, "net": 99725.05, "available": '
                         '{"cash": 245431.6}, "utilised": {"debits": 145706.55}}}')
    funds = wire.parse_funds(margins)
    assert (funds.currency, funds.available_cash, funds.used_margin) == (
        "INR", Decimal("99725.05"), Decimal("145706.55"))


def _error(status: int, error_type: str, message: str = "no") -> bytes:
    return json.dumps({"status": "error", "message": message, "data": None,
                       "error_type": error_type}).encode()


@pytest.mark.parametrize(("status", "body", "changes_state", "expected"), [
    (403, _error(403, "TokenException"), False, SessionExpired),
    (403, b"", True, SessionExpired),
    (400, _error(400, "InputException"), True, Rejected),
    (400, _error(400, "OrderException"), True, Rejected),
    (400, _error(400, "MarginException"), True, Rejected),
    (400, _error(400, "HoldingException"), True, Rejected),
    (403, _error(403, "PermissionException"), True, Rejected),
    (503, _error(503, "NetworkException"), True, Unknown),
    (503, _error(503, "NetworkException"), False, NotSent),
    (502, _error(502, "DataException"), True, Unknown),
    (500, _error(500, "GeneralException"), True, Unknown),
    (500, _error(500, "GeneralException"), False, NotSent),
    (504, b"<html>gateway timeout</html>", True, Unknown),
    (429, _error(429, "NetworkException", "Too many requests"), True, RateLimited),
    (400, _error(400, "GeneralException", "Couldn't find that `order_id`."), False,
     OrderNotFound),
])
def test_kite_errors_are_classified(status: int, body: bytes, changes_state: bool,
                                    expected: type[BrokerError]) -> None:
    with pytest.raises(expected) as raised:
        wire.unwrap(status, body, changes_state=changes_state)
    assert type(raised.value) is expected
    assert raised.value.broker is wire.BROKER


def test_a_rejection_carries_kites_message() -> None:
    error = wire.error_for(400, _error(400, "MarginException", "Insufficient funds"),
                           changes_state=True)
    assert isinstance(error, Rejected)
    assert error.message == "Kite: Insufficient funds"
    assert error.code == "MarginException"


def test_a_429_waits_as_long_as_asked_or_a_second() -> None:
    told = wire.error_for(429, b"", changes_state=True, retry_after="3")
    untold = wire.error_for(429, b"", changes_state=True)
    assert isinstance(told, RateLimited)
    assert isinstance(untold, RateLimited)
    assert (told.retry_after, untold.retry_after) == (3.0, 1.0)


def test_an_unreadable_success_is_unknown_for_a_place_and_not_sent_for_a_read() -> None:
    with pytest.raises(Unknown):
        wire.unwrap(200, b"<html>", changes_state=True)
    with pytest.raises(NotSent):
        wire.unwrap(200, b"<html>", changes_state=False)
    assert wire.unwrap(200, b'{"status": "success", "data": {"order_id": "1"}}',
                       changes_state=True) == {"order_id": "1"}


def test_the_postback_checksum_matches_the_known_vector() -> None:
    assert wire.postback_checksum("220303000308932", "2022-03-03 09:24:25",
                                  "kitesecret") == POSTBACK_CHECKSUM


@pytest.mark.parametrize(("payload", "secret", "ok"), [
    (_postback(), "kitesecret", True),
    (_postback(checksum=POSTBACK_CHECKSUM.upper()), "kitesecret", True),
    (_postback(), "wrongsecret", False),
    (_postback(), "", False),
    (_postback(order_id="220303000308933"), "kitesecret", False),
    (_postback(order_timestamp="2022-03-03 09:24:26"), "kitesecret", False),
    (_postback(checksum=None), "kitesecret", False),
    ({}, "kitesecret", False),
])
def test_only_the_api_secrets_holder_makes_a_valid_postback(payload: dict[str, Any],
                                                            secret: str, ok: bool) -> None:
    assert wire.postback_checksum_ok(json.dumps(payload).encode(), secret) is ok


def test_a_postback_names_the_order_user_tag_and_status() -> None:
    trigger = wire.parse_webhook(json.dumps(_postback(status="UPDATE")).encode())
    assert (trigger.broker_order_id, trigger.broker_user_id) == ("220303000308932", "AB1234")
    assert (trigger.tag, trigger.raw_status) == ("og0123456789abcdef01", "UPDATE")


@pytest.mark.parametrize("body", [b"{}", b"[]", b"not json", b'{"order_id": "", '
                                  b'"user_id": "AB1234", "status": "COMPLETE"}'])
def test_a_body_that_is_no_postback_is_refused(body: bytes) -> None:
    with pytest.raises((ValueError, KeyError)):
        wire.parse_webhook(body)


def test_login_checksums_match_the_known_vectors() -> None:
    assert wire.session_checksum("kitekey", "requesttoken123", "kitesecret") == LOGIN_CHECKSUM
    assert wire.session_checksum("kitekey", "refreshtoken456", "kitesecret") == (
        REFRESH_CHECKSUM)


@pytest.mark.parametrize(("now", "expiry"), [
    (datetime(2026, 3, 2, 0, 29, tzinfo=UTC), datetime(2026, 3, 2, 0, 30, tzinfo=UTC)),
    (datetime(2026, 3, 2, 0, 30, tzinfo=UTC), datetime(2026, 3, 3, 0, 30, tzinfo=UTC)),
    (datetime(2026, 3, 2, 20, 0, tzinfo=UTC), datetime(2026, 3, 3, 0, 30, tzinfo=UTC)),
])
def test_a_session_ends_at_the_next_six_in_the_morning_in_india(now: datetime,
                                                               expiry: datetime) -> None:
    assert wire.session_expiry(now) == expiry


def test_a_session_answer_becomes_a_broker_session() -> None:
    now = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
    data = {"user_id": "AB1234", "access_token": "at", "refresh_token": ""}
    session = wire.session_from(data, api_key="k", api_secret="s", now=now,
                                previous_refresh_token="rt")
    assert (session.access_token, session.broker_user_id, session.refresh_token) == (
        "at", "AB1234", "rt")
    assert session.expires_at == datetime(2026, 3, 3, 0, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="access_token"):
        wire.session_from({"user_id": "AB1234"}, api_key="k", api_secret="s", now=now)


def test_an_instrument_off_nse_is_sent_by_kites_own_trading_symbol() -> None:
    bse = replace(INFY, symbol="BSE:INFY", exchange="BSE",
                  refs={"zerodha": {"tradingsymbol": "INFY", "instrument_token": "128053508"}})
    form = wire.place_form(replace(_request(), instrument=bse))
    assert (form["exchange"], form["tradingsymbol"]) == ("BSE", "INFY")
