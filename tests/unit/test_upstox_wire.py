"""Upstox's wire format, checked against the examples of its documentation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.brokers.catalog import Product
from shared.brokers.types import (
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
from shared.brokers.upstox import wire
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce

S = OrderStatus
INFY = Instrument(symbol="INFY", exchange="NSE", currency="INR", isin="INE009A01021")

# get-order-details example (upstox.com/developer/api-documentation/get-order-details).
ORDER_DETAILS = b"""{"status":"success","data":{"exchange":"NSE","product":"D","price":571.0,
"quantity":1,"status":"complete","tag":null,"instrument_token":"NSE_EQ|INE062A01020",
"placed_by":"******","trading_symbol":"SBIN-EQ","tradingsymbol":"SBIN-EQ","order_type":"LIMIT",
"validity":"DAY","trigger_price":0.0,"disclosed_quantity":0,"transaction_type":"BUY",
"average_price":570.95,"filled_quantity":1,"pending_quantity":0,"status_message":null,
"status_message_raw":null,"exchange_order_id":"1300000025660919","parent_order_id":null,
"order_id":"231019025562880","variety":"SIMPLE","order_timestamp":"2023-10-19 13:25:13",
"exchange_timestamp":"2023-10-19 13:25:13","is_amo":false,"order_request_id":"1",
"order_ref_id":"GTT-C23191000044253"}}"""

# get-trade-history example.
TRADE = b"""{"exchange":"NSE","product":"D","trading_symbol":"GMRINFRA-EQ",
"tradingsymbol":"GMRINFRA-EQ","instrument_token":"151064324","order_type":"MARKET",
"transaction_type":"BUY","quantity":1,"exchange_order_id":"221013001021540",
"order_id":"221013001021539","exchange_timestamp":"03-Aug-2017 15:03:42",
"average_price":299.4,"trade_id":"50091502","order_ref_id":"udapi-aqwsed14356",
"order_timestamp":"23-Apr-2021 14:22:06"}"""

# webhook page example.
WEBHOOK = b"""{"update_type":"order","user_id":"AB1234","userId":"AB1234","exchange":"NSE",
"instrument_token":"NSE_EQ|INE848E01016","instrument_key":"NSE_EQ|INE848E01016",
"trading_symbol":"NHPC-EQ","tradingsymbol":"NHPC-EQ","product":"D","order_type":"MARKET",
"average_price":0,"price":0,"trigger_price":0,"quantity":1,"disclosed_quantity":0,
"pending_quantity":1,"transaction_type":"BUY","order_ref_id":"57744821658411",
"exchange_order_id":"","parent_order_id":null,"validity":"DAY",
"status":"put order req received","is_amo":false,"variety":"SIMPLE","tag":"og1234",
"exchange_timestamp":null,"status_message":"","order_id":"240221025997024",
"order_request_id":"1","order_timestamp":"2024-02-21 14:40:02","filled_quantity":0,
"guid":null,"placed_by":"AB1234","status_message_raw":null}"""


def _request(order_type: OrderType = OrderType.LIMIT, **changes: Any) -> PlaceRequest:
    fields: dict[str, Any] = {
        "order_id": "o-1", "tag": "og0123456789abcdef01", "instrument": INFY,
        "side": Side.BUY, "order_type": order_type, "quantity": Decimal(10),
        "time_in_force": TimeInForce.DAY, "price": Decimal("100.05"), "stop_price": None,
        "product": Product.CNC}
    fields.update(changes)
    return PlaceRequest(**fields)


@pytest.mark.parametrize(("raw", "expected"), [
    ("put order req received", S.SUBMITTED), ("validation pending", S.SUBMITTED),
    ("open pending", S.SUBMITTED), ("after market order req received", S.SUBMITTED),
    ("open", S.ACCEPTED), ("trigger pending", S.ACCEPTED), ("modified", S.ACCEPTED),
    ("modify pending", S.ACCEPTED), ("modify validation pending", S.ACCEPTED),
    ("modify after market order req received", S.ACCEPTED), ("not modified", S.ACCEPTED),
    ("not cancelled", S.ACCEPTED), ("cancel pending", S.PENDING_CANCEL),
    ("cancelled", S.CANCELED), ("cancelled after market order", S.CANCELED),
    ("rejected", S.REJECTED), ("complete", S.FILLED),
])
def test_every_documented_status_has_a_meaning(raw: str, expected: OrderStatus) -> None:
    assert wire.map_status(raw) is expected


def test_an_unknown_status_is_treated_as_in_flight_and_kept_raw() -> None:
    row = {"order_id": "1", "status": "frozen by exchange", "quantity": 5, "filled_quantity": 0}
    order = wire.parse_order(row)
    assert order.status is S.SUBMITTED
    assert order.raw_status == "frozen by exchange"


@pytest.mark.parametrize(("status", "filled", "expected"), [
    ("open", 4, S.PARTIALLY_FILLED), ("open", 10, S.FILLED), ("open", 0, S.ACCEPTED),
    ("cancelled", 4, S.CANCELED), ("modified", 3, S.PARTIALLY_FILLED),
])
def test_partial_fills_come_from_quantities(status: str, filled: int,
                                            expected: OrderStatus) -> None:
    row = {"order_id": "1", "status": status, "quantity": 10, "filled_quantity": filled,
           "order_type": "LIMIT", "price": Decimal("100"), "average_price": Decimal("100")}
    assert wire.parse_order(row).status is expected


def test_the_documented_order_details_parse_exactly() -> None:
    order = wire.parse_order(wire.data_of(wire.loads(ORDER_DETAILS)))
    assert order.broker_order_id == "231019025562880"
    assert (order.status, order.raw_status) == (S.FILLED, "complete")
    assert (order.quantity, order.filled_quantity) == (Decimal(1), Decimal(1))
    assert order.price == Decimal("571.0")
    assert order.avg_price == Decimal("570.95")
    assert order.tag is None


def test_a_rejected_order_carries_the_brokers_reason() -> None:
    row = {"order_id": "9", "status": "rejected", "quantity": 10, "filled_quantity": 0,
           "order_type": "LIMIT", "price": 100, "status_message": "Insufficient funds"}
    order = wire.parse_order(row)
    assert (order.status, order.message) == (S.REJECTED, "Insufficient funds")


def test_a_limit_order_is_placed_with_our_tag_and_exact_prices() -> None:
    payload = wire.place_payload(_request())
    assert payload == {
        "quantity": 10, "product": "D", "validity": "DAY", "tag": "og0123456789abcdef01",
        "instrument_token": "NSE_EQ|INE009A01021", "order_type": "LIMIT",
        "transaction_type": "BUY", "disclosed_quantity": 0, "is_amo": False, "slice": False,
        "price": Decimal("100.05"), "trigger_price": Decimal(0)}
    sent = wire.dumps(payload)
    assert b'"price":100.05' in sent
    assert json.loads(sent, parse_float=Decimal)["price"] == Decimal("100.05")


@pytest.mark.parametrize(("order_type", "price", "stop", "wire_type", "sent"), [
    (OrderType.MARKET, None, None, "MARKET", (Decimal(0), Decimal(0))),
    (OrderType.STOP, None, Decimal("95.5"), "SL-M", (Decimal(0), Decimal("95.5"))),
    (OrderType.STOP_LIMIT, Decimal("95"), Decimal("95.5"), "SL", (Decimal(95), Decimal("95.5"))),
])
def test_order_types_map_to_upstox_ones(order_type: OrderType, price: Decimal | None,
                                        stop: Decimal | None, wire_type: str,
                                        sent: tuple[Decimal, Decimal]) -> None:
    payload = wire.place_payload(_request(order_type, price=price, stop_price=stop))
    assert payload["order_type"] == wire_type
    assert (payload["price"], payload["trigger_price"]) == sent


def test_intraday_is_product_i_and_a_sell_is_a_sell() -> None:
    payload = wire.place_payload(_request(product=Product.MIS, side=Side.SELL))
    assert (payload["product"], payload["transaction_type"]) == ("I", "SELL")


@pytest.mark.parametrize(("changes", "field"), [
    ({"product": Product.NRML}, "product"), ({"time_in_force": TimeInForce.GTC}, "time_in_force"),
    ({"quantity": Decimal("1.5")}, "quantity"),
    ({"instrument": Instrument("XYZ", "NSE", "INR")}, "symbol"),
    ({"order_type": OrderType.STOP, "stop_price": None}, "stop_price"),
])
def test_what_upstox_cannot_take_is_refused_before_sending(changes: dict[str, Any],
                                                            field: str) -> None:
    with pytest.raises(Rejected) as refused:
        wire.place_payload(_request(**changes))
    assert refused.value.details["field"] == field


def test_an_instrument_key_in_refs_names_the_security() -> None:
    named = Instrument("INFY", "BSE", "INR", isin="INE009A01021",
                       refs={"upstox": {"instrument_key": "BSE_EQ|INE009A01021"}})
    assert wire.place_payload(_request(instrument=named))["instrument_token"] == \
        "BSE_EQ|INE009A01021"


def test_a_modify_resends_the_required_fields_as_upstox_holds_them() -> None:
    current = {"order_type": "LIMIT", "price": Decimal("100.05"), "trigger_price": Decimal(0),
               "quantity": 10, "validity": "DAY"}
    payload = wire.modify_payload("42", Modify(price=Decimal("99.50")), current)
    assert payload == {"order_id": "42", "quantity": 10, "validity": "DAY",
                       "order_type": "LIMIT", "disclosed_quantity": 0,
                       "price": Decimal("99.50"), "trigger_price": Decimal(0)}
    to_market = wire.modify_payload("42", Modify(order_type=OrderType.MARKET), current)
    assert (to_market["order_type"], to_market["price"]) == ("MARKET", Decimal(0))


def test_no_float_can_reach_the_wire() -> None:
    with pytest.raises(TypeError):
        wire.dumps({"price": 100.05})


def test_a_documented_trade_is_a_fill_in_ist() -> None:
    fill = wire.parse_fill(wire.loads(TRADE))
    assert (fill.exec_id, fill.broker_order_id) == ("50091502", "221013001021539")
    assert (fill.quantity, fill.price) == (Decimal(1), Decimal("299.4"))
    assert fill.executed_at == datetime(2017, 8, 3, 9, 33, 42, tzinfo=UTC)


def test_positions_use_our_symbol_and_product_names() -> None:
    row = {"exchange": "NSE", "product": "D", "trading_symbol": "INFY-EQ", "quantity": -3,
           "average_price": Decimal("100.00")}
    position = wire.parse_position(row)
    assert (position.symbol, position.quantity, position.product) == ("INFY", Decimal(-3), "CNC")


def test_funds_come_from_the_equity_segment() -> None:
    body = (b'{"status":"success","data":{"equity":{"used_margin":0.8,"payin_amount":200.0,'
            b'"available_margin":15507.46},"commodity":{"used_margin":0,"available_margin":0}}}')
    funds = wire.parse_funds(wire.data_of(wire.loads(body)))
    assert (funds.currency, funds.available_cash, funds.used_margin) == \
        ("INR", Decimal("15507.46"), Decimal("0.8"))


def test_a_place_answer_names_exactly_one_order() -> None:
    assert wire.placed_order_id({"order_ids": ["1644490272000"]}) == "1644490272000"
    with pytest.raises(ValueError, match="exactly one"):
        wire.placed_order_id({"order_ids": ["1", "2"]})


def test_history_rows_reduce_to_each_orders_latest_state() -> None:
    rows = [{"order_id": "1", "status": "open"}, {"order_id": "2", "status": "open"},
            {"order_id": "1", "status": "complete"}]
    assert [r["status"] for r in wire.latest_by_order(rows)] == ["complete", "open"]


def _envelope(code: str, message: str) -> bytes:
    return json.dumps({"status": "error", "errors": [
        {"errorCode": code, "message": message, "propertyPath": None,
         "invalidValue": None}]}).encode()


@pytest.mark.parametrize(("status", "code", "changes_state", "kind"), [
    (401, "UDAPI100050", False, SessionExpired), (401, "UDAPI100016", True, Rejected),
    (429, "UDAPI10005", True, RateLimited), (400, "UDAPI100010", False, OrderNotFound),
    (400, "UDAPI1056", True, Rejected), (500, "UDAPI100500", True, Unknown),
    (500, "UDAPI100500", False, NotSent), (503, "", True, NotSent),
])
def test_refusals_are_classified(status: int, code: str, changes_state: bool,
                                 kind: type[Exception]) -> None:
    error = wire.error_from(status, _envelope(code, "said so"), changes_state=changes_state)
    assert type(error) is kind
    assert "said so" in error.message


def test_a_rate_limit_waits_as_long_as_upstox_says_or_a_second() -> None:
    body = _envelope("UDAPI10005", "Too Many Request Sent")
    told = wire.error_from(429, body, changes_state=True, retry_after="3")
    untold = wire.error_from(429, body, changes_state=True)
    assert isinstance(told, RateLimited)
    assert isinstance(untold, RateLimited)
    assert (told.retry_after, untold.retry_after) == (3.0, 1.0)


def test_a_gateway_page_to_a_place_is_unknown() -> None:
    error = wire.error_from(502, b"<html>Bad Gateway</html>", changes_state=True)
    assert isinstance(error, Unknown)


def test_snake_case_error_codes_are_read_too() -> None:
    body = b'{"status":"error","errors":[{"error_code":"UDAPI100050","message":"Invalid token"}]}'
    assert isinstance(wire.error_from(401, body, changes_state=False), SessionExpired)


def test_the_documented_webhook_names_the_order() -> None:
    trigger = wire.parse_webhook(WEBHOOK)
    assert trigger.broker_order_id == "240221025997024"
    assert (trigger.tag, trigger.broker_user_id) == ("og1234", "AB1234")
    assert trigger.raw_status == "put order req received"


@pytest.mark.parametrize("body", [
    b"{}", b"[]", b'{"update_type":"gtt_order","gtt_order_id":"GTT-C1"}',
    b'{"order_id":""}', b"not json",
])
def test_a_body_that_names_no_order_is_refused(body: bytes) -> None:
    with pytest.raises((ValueError, KeyError)):
        wire.parse_webhook(body)


@pytest.mark.parametrize(("issued_utc", "expires_utc"), [
    (datetime(2024, 1, 2, 14, 30, tzinfo=UTC), datetime(2024, 1, 2, 22, 0, tzinfo=UTC)),
    (datetime(2024, 1, 2, 21, 0, tzinfo=UTC), datetime(2024, 1, 2, 22, 0, tzinfo=UTC)),
    (datetime(2024, 1, 2, 22, 0, tzinfo=UTC), datetime(2024, 1, 3, 22, 0, tzinfo=UTC)),
])
def test_a_token_expires_at_the_next_0330_ist(issued_utc: datetime,
                                              expires_utc: datetime) -> None:
    # 20:00 IST Tuesday -> 03:30 IST Wednesday; 02:30 IST -> 03:30 the same day.
    assert wire.token_expiry(issued_utc) == expires_utc
