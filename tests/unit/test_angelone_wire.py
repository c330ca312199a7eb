"""Angel One's wire format: statuses, payloads, parsing, error classes and the relayed postback."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.brokers import webhooks
from shared.brokers.angelone import wire
from shared.brokers.catalog import Broker, Product
from shared.brokers.india import IST
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
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce

D = Decimal
S = OrderStatus
INFY = Instrument(symbol="INFY", exchange="NSE", currency="INR", isin="INE009A01021",
                  refs={"angelone": {"symboltoken": "1594", "tradingsymbol": "INFY-EQ"}})
TAG = "og0123456789abcdef01"


def _request(kind: OrderType = OrderType.LIMIT, *, price: str | None = "1520.35",
             stop: str | None = None, quantity: str = "5", product: Product | None = None,
             tif: TimeInForce = TimeInForce.DAY, instrument: Instrument = INFY) -> PlaceRequest:
    return PlaceRequest(order_id=str(uuid.uuid4()), tag=TAG, instrument=instrument,
                        side=Side.BUY, order_type=kind, quantity=D(quantity),
                        time_in_force=tif, price=D(price) if price else None,
                        stop_price=D(stop) if stop else None, product=product)


def _row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "variety": "NORMAL", "ordertype": "LIMIT", "producttype": "DELIVERY",
        "duration": "DAY", "price": "194.00", "triggerprice": "0", "quantity": "10",
        "tradingsymbol": "SBIN-EQ", "transactiontype": "BUY", "exchange": "NSE",
        "symboltoken": "3045", "ordertag": "o0123456789abcdef01", "averageprice": "0",
        "filledshares": "0", "unfilledshares": "10", "orderid": 201020000000080, "text": "",
        "status": "open", "orderstatus": "open", "uniqueorderid": "34reqfachdfih"}
    row.update(changes)
    return row


@pytest.mark.parametrize(("raw", "ours"), [
    ("put order req received", S.SUBMITTED), ("validation pending", S.SUBMITTED),
    ("open pending", S.SUBMITTED), ("after market order req received", S.SUBMITTED),
    ("modify after market order req received", S.SUBMITTED), ("open", S.ACCEPTED),
    ("trigger pending", S.ACCEPTED), ("modify validation pending", S.ACCEPTED),
    ("modify pending", S.ACCEPTED), ("modified", S.ACCEPTED), ("not modified", S.ACCEPTED),
    ("not cancelled", S.ACCEPTED), ("cancel pending", S.PENDING_CANCEL),
    ("complete", S.FILLED), ("cancelled", S.CANCELED),
    ("cancelled after market order", S.CANCELED), ("rejected", S.REJECTED),
    ("Complete", S.FILLED),
])
def test_each_documented_status_has_our_status(raw: str, ours: OrderStatus) -> None:
    assert wire.map_status(raw) is ours


def test_an_unknown_status_stays_working_and_its_raw_text_is_kept() -> None:
    order = wire.parse_order(_row(orderstatus="sent to moon", status="sent to moon"))
    assert order.status is S.SUBMITTED
    assert order.raw_status == "sent to moon"


def test_an_open_order_with_fills_is_partially_filled_from_its_quantities() -> None:
    order = wire.parse_order(_row(filledshares="4", unfilledshares="6", averageprice="193.95"))
    assert order.status is S.PARTIALLY_FILLED
    assert (order.quantity, order.filled_quantity, order.avg_price) == (D(10), D(4), D("193.95"))


def test_a_cancelled_order_with_fills_stays_cancelled() -> None:
    order = wire.parse_order(_row(orderstatus="cancelled", status="cancelled",
                                  filledshares="4"))
    assert order.status is S.CANCELED
    assert order.filled_quantity == D(4)


def test_the_order_state_comes_from_orderstatus_not_the_last_event() -> None:
    order = wire.parse_order(_row(status="modified", orderstatus="trigger pending"))
    assert order.raw_status == "trigger pending"


def test_a_details_row_with_json_numbers_parses_exactly() -> None:
    row = wire.loads(b'{"orderid": "231010000000970", "quantity": "1", "price": 2298.25,'
                     b' "averageprice": 0, "filledshares": "0", "orderstatus": "rejected",'
                     b' "text": "Your order has been rejected due to Insufficient Funds.",'
                     b' "ordertag": ""}')
    order = wire.parse_order(row)
    assert order.price == D("2298.25")
    assert order.avg_price is None
    assert order.tag is None
    assert order.status is S.REJECTED
    assert order.message == "Your order has been rejected due to Insufficient Funds."


def test_a_limit_delivery_order_is_sent_as_documented() -> None:
    assert wire.place_payload(_request()) == {
        "variety": "NORMAL", "tradingsymbol": "INFY-EQ", "symboltoken": "1594",
        "transactiontype": "BUY", "exchange": "NSE", "ordertype": "LIMIT",
        "producttype": "DELIVERY", "duration": "DAY", "price": "1520.35", "triggerprice": "0",
        "squareoff": "0", "stoploss": "0", "quantity": "5", "ordertag": "o0123456789abcdef01"}


@pytest.mark.parametrize(("kind", "price", "stop", "expected"), [
    (OrderType.MARKET, None, None, ("NORMAL", "MARKET", "0", "0")),
    (OrderType.STOP, None, "1500", ("STOPLOSS", "STOPLOSS_MARKET", "0", "1500")),
    (OrderType.STOP_LIMIT, "1495.5", "1500", ("STOPLOSS", "STOPLOSS_LIMIT", "1495.5", "1500")),
])
def test_order_types_map_to_angel_one_varieties_and_prices(
        kind: OrderType, price: str | None, stop: str | None,
        expected: tuple[str, str, str, str]) -> None:
    sent = wire.place_payload(_request(kind, price=price, stop=stop))
    assert (sent["variety"], sent["ordertype"], sent["price"], sent["triggerprice"]) == expected


@pytest.mark.parametrize(("product", "tif", "producttype", "duration"), [
    (Product.MIS, TimeInForce.IOC, "INTRADAY", "IOC"),
    (Product.NRML, TimeInForce.DAY, "CARRYFORWARD", "DAY"),
    (Product.CNC, TimeInForce.DAY, "DELIVERY", "DAY"),
])
def test_products_and_durations_map_to_angel_one_names(
        product: Product, tif: TimeInForce, producttype: str, duration: str) -> None:
    sent = wire.place_payload(_request(product=product, tif=tif))
    assert (sent["producttype"], sent["duration"]) == (producttype, duration)


@pytest.mark.parametrize(("request_", "reason"), [
    (_request(quantity="1.5"), "whole positive quantities"),
    (_request(tif=TimeInForce.GTC), "time in force GTC"),
    (_request(price=None), "needs a positive price"),
    (_request(OrderType.STOP, price=None), "needs a positive trigger price"),
    (_request(instrument=Instrument("TCS", "NSE", "INR")), "no Angel One symboltoken"),
])
def test_an_order_angel_one_cannot_carry_is_refused_before_sending(
        request_: PlaceRequest, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        wire.place_payload(request_)


def test_our_twenty_character_tag_fits_the_ordertag_and_comes_back() -> None:
    sent = wire.ordertag(TAG)
    assert len(sent) < 20
    assert wire.tag_of(sent) == TAG
    assert wire.ordertag("short-tag") == "short-tag"
    assert wire.tag_of("short-tag") == "short-tag"
    with pytest.raises(ValueError, match="under 20 characters"):
        wire.ordertag("x" * 20)


def test_a_modify_keeps_the_order_and_changes_only_what_was_asked() -> None:
    sent = wire.modify_payload(_row(), Modify(price=D("193.50")))
    assert sent == {
        "variety": "NORMAL", "orderid": "201020000000080", "ordertype": "LIMIT",
        "producttype": "DELIVERY", "duration": "DAY", "price": "193.50", "triggerprice": "0",
        "quantity": "10", "tradingsymbol": "SBIN-EQ", "symboltoken": "3045", "exchange": "NSE"}


def test_a_modify_cannot_move_an_order_to_another_variety() -> None:
    with pytest.raises(ValueError, match="cannot turn a NORMAL order"):
        wire.modify_payload(_row(), Modify(order_type=OrderType.STOP, stop_price=D(190)))


def test_a_cancel_names_the_orders_own_variety() -> None:
    assert wire.cancel_payload(_row(variety="STOPLOSS")) == {
        "variety": "STOPLOSS", "orderid": "201020000000080"}


@pytest.mark.parametrize(("status", "text", "changes_state", "error", "code"), [
    (401, '{"success":false,"message":"Invalid Token","errorCode":"AG8001","data":""}', False,
     SessionExpired, "AG8001"),
    (200, '{"status":false,"message":"Refresh Token Expired","errorcode":"AB8051",'
          '"data":null}', False, SessionExpired, "AB8051"),
    (200, '{"status":false,"message":"Order not found","errorcode":"AB1013","data":null}',
     False, OrderNotFound, "AB1013"),
    (200, '{"status":false,"message":"Something Went Wrong, Please Try After Sometime",'
          '"errorcode":"AB1004","data":null}', True, Unknown, "AB1004"),
    (200, '{"status":false,"message":"Internal Error, Please try after sometime",'
          '"errorcode":"AB2001","data":null}', False, NotSent, "AB2001"),
    (200, '{"status":false,"message":"ordertag length should be less than 20 characters",'
          '"errorcode":"AB4008","data":null}', True, Rejected, "AB4008"),
    (502, "<html>Bad Gateway</html>", True, Unknown, "unreadable"),
    (503, "<html>maintenance</html>", False, NotSent, "unreadable"),
])
def test_refusals_are_classified(status: int, text: str, changes_state: bool,
                                 error: type[BrokerError], code: str) -> None:
    found = wire.classify(status, text, changes_state=changes_state)
    assert type(found) is error
    assert found.code == code


def test_the_plain_text_throttle_is_rate_limited_for_a_second() -> None:
    found = wire.classify(403, "Access denied because of exceeding access rate",
                          changes_state=True)
    assert isinstance(found, RateLimited)
    assert found.retry_after == 1.0


def test_a_429_honours_retry_after() -> None:
    found = wire.classify(429, "", changes_state=True, retry_after="3")
    assert isinstance(found, RateLimited)
    assert found.retry_after == 3.0


def test_a_success_envelope_gives_its_data() -> None:
    text = '{"status":true,"message":"SUCCESS","errorcode":"","data":{"orderid":"1"}}'
    assert wire.classify(200, text, changes_state=True) is None
    assert wire.data_of(200, text, changes_state=True) == {"orderid": "1"}


def test_a_trade_book_row_is_a_fill_dated_today_in_ist() -> None:
    fill = wire.parse_trade({"orderid": "201020000000095", "fillid": "50005750",
                             "fillsize": "1", "fillprice": "175.00", "filltime": "13:27:53"},
                            date(2020, 10, 20))
    assert fill.exec_id == "201020000000095-50005750"
    assert (fill.quantity, fill.price) == (D(1), D("175.00"))
    assert fill.executed_at == datetime(2020, 10, 20, 13, 27, 53, tzinfo=IST)


def test_fills_in_the_same_second_sort_by_fill_id() -> None:
    day = date(2024, 1, 2)
    rows = [{"orderid": "1", "fillid": fid, "fillsize": "1", "fillprice": "1",
             "filltime": "10:00:00"} for fid in ("11", "9")]
    fills = sorted((wire.parse_trade(row, day) for row in rows), key=wire.fill_order)
    assert [f.exec_id for f in fills] == ["1-9", "1-11"]


def test_positions_holdings_and_funds_parse_to_exact_values() -> None:
    position = wire.parse_position({"exchange": "NSE", "producttype": "DELIVERY",
                                    "tradingsymbol": "RELIANCE-EQ", "symbolname": "RELIANCE",
                                    "netqty": "1", "avgnetprice": "2235.80"})
    holding = wire.parse_holding({"tradingsymbol": "TATASTEEL-EQ", "exchange": "NSE",
                                  "quantity": 2, "averageprice": D("111.87"),
                                  "product": "DELIVERY"})
    funds = wire.parse_funds({"availablecash": "9999.50", "utiliseddebits": "120.25"})
    assert (position.symbol, position.quantity, position.avg_price) == (
        "RELIANCE", D(1), D("2235.80"))
    assert (holding.symbol, holding.quantity, holding.avg_price) == ("TATASTEEL", D(2),
                                                                     D("111.87"))
    assert (funds.currency, funds.available_cash, funds.used_margin) == (
        "INR", D("9999.50"), D("120.25"))


def test_a_float_never_becomes_money() -> None:
    with pytest.raises(ValueError, match="floats are refused"):
        wire.decimal_of(0.1)


def test_a_postback_names_order_tag_user_and_status() -> None:
    trigger = wire.parse_webhook(
        b'{"orderid": "111111111111111", "ordertag": "o0123456789abcdef01",'
        b' "status": "open", "orderstatus": "open", "clientcode": "DUMMY123",'
        b' "averageprice": 584.7, "filledshares": "74"}')
    assert (trigger.broker_order_id, trigger.tag, trigger.broker_user_id,
            trigger.raw_status) == ("111111111111111", TAG, "DUMMY123", "open")


def test_a_websocket_order_frame_is_read_the_same_way() -> None:
    trigger = wire.parse_webhook(
        b'{"user-id": "A496209", "status-code": "200", "order-status": "AB05",'
        b' "orderData": {"orderid": "241226000761133", "ordertag": "",'
        b' "orderstatus": "complete"}}')
    assert (trigger.broker_order_id, trigger.tag, trigger.broker_user_id,
            trigger.raw_status) == ("241226000761133", None, "A496209", "complete")


@pytest.mark.parametrize("body", [b"[]", b'{"orderid": ""}', b'{"orderData": "x"}', b"{"])
def test_a_body_that_is_not_an_order_update_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any of several parse failures
        wire.parse_webhook(body)


# A relayed postback signed at a fixed time; the signature was computed independently with
# `openssl dgst -sha256 -hmac angel-relay-secret-0001` over "v2\n1700000000\nangel-relay-0001\n"
# + body (printf's escapes).
VECTOR_BODY = (b'{"orderid":"111111111111111","ordertag":"o0123456789abcdef01",'
               b'"orderstatus":"complete","status":"complete","clientcode":"DUMMY123",'
               b'"quantity":"10","filledshares":"10","averageprice":584.7}')
VECTOR_SIGNATURE = "v2=13b1d0eb0a4b403f85ac88ba9cf72d5fb0c8f4db662e639876ca5206e82a33d6"


@pytest.mark.parametrize(("secret", "accepted"), [("angel-relay-secret-0001", True),
                                                  ("another-secret-entirely", False)])
def test_a_relayed_postback_is_verified_against_a_known_vector(secret: str,
                                                               accepted: bool) -> None:
    headers = {"X-Broker-Signature": VECTOR_SIGNATURE, "X-Broker-Signature-Alg": "HMAC-SHA256",
               "X-Broker-Timestamp": "1700000000", "X-Broker-Delivery-Id": "angel-relay-0001"}
    verified = webhooks.authenticate(Broker.ANGELONE, body=VECTOR_BODY, headers=headers,
                                     path_token=None, candidates=[], secrets=[secret],
                                     now=1700000010, tolerance_seconds=300)
    assert (verified is not None) is accepted
    if verified is not None:
        assert (verified.trigger.broker_order_id, verified.trigger.tag) == (
            "111111111111111", TAG)
