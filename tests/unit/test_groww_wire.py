"""Groww's wire format: statuses, order payloads, parsers, error classes, relay deliveries."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.brokers import webhooks
from shared.brokers.catalog import Broker, Product
from shared.brokers.groww import wire
from shared.brokers.types import (
    BrokerError,
    BrokerSession,
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
INFY = Instrument(symbol="INFY", exchange="NSE", currency="INR", isin="INE009A01021")
# groww.in/trade-api/docs/curl/annexures, "Order Status", plus OPEN from the docs' examples.
DOCUMENTED = ("NEW", "ACKED", "TRIGGER_PENDING", "APPROVED", "REJECTED", "FAILED", "EXECUTED",
              "DELIVERY_AWAITED", "CANCELLED", "CANCELLATION_REQUESTED",
              "MODIFICATION_REQUESTED", "COMPLETED", "OPEN")


def _request(order_type: OrderType = OrderType.LIMIT, *, price: str | None = "100.05",
             stop: str | None = None, quantity: str = "10", tag: str = "og0123456789abcdef01",
             tif: TimeInForce = TimeInForce.DAY, product: Product | None = None) -> PlaceRequest:
    return PlaceRequest(order_id=str(uuid.uuid4()), tag=tag, instrument=INFY, side=Side.BUY,
                        order_type=order_type, quantity=D(quantity), time_in_force=tif,
                        price=D(price) if price else None, stop_price=D(stop) if stop else None,
                        product=product)


def _detail(status: str, quantity: int = 10, filled: int = 0, **extra: object) -> dict[str, object]:
    return {"groww_order_id": "GMK39038RDT490CCVRO", "order_status": status,
            "quantity": quantity, "filled_quantity": filled, "price": D("100.05"),
            "order_reference_id": "og0123456789abcdef01", **extra}


def test_every_documented_status_is_in_the_table() -> None:
    assert set(DOCUMENTED) == set(wire.STATUS_MAP)


@pytest.mark.parametrize(("raw", "filled", "expected"), [
    ("NEW", 0, S.SUBMITTED), ("ACKED", 0, S.ACCEPTED), ("OPEN", 0, S.ACCEPTED),
    ("TRIGGER_PENDING", 0, S.ACCEPTED), ("APPROVED", 0, S.ACCEPTED),
    ("MODIFICATION_REQUESTED", 0, S.ACCEPTED), ("EXECUTED", 4, S.PARTIALLY_FILLED),
    ("EXECUTED", 10, S.FILLED), ("DELIVERY_AWAITED", 10, S.FILLED), ("COMPLETED", 10, S.FILLED),
    ("CANCELLATION_REQUESTED", 4, S.PENDING_CANCEL), ("CANCELLED", 4, S.CANCELED),
    ("REJECTED", 0, S.REJECTED), ("FAILED", 0, S.REJECTED), ("ACKED", 4, S.PARTIALLY_FILLED),
])
def test_status_comes_from_the_table_and_fills_from_quantities(raw: str, filled: int,
                                                               expected: OrderStatus) -> None:
    order = wire.parse_order(_detail(raw, filled=filled))
    assert order.status is expected
    assert order.raw_status == raw
    assert order.filled_quantity == filled


def test_an_unknown_status_keeps_the_order_live_and_the_raw_string() -> None:
    order = wire.parse_order(_detail("PARKED_SOMEWHERE"))
    assert order.status is S.SUBMITTED
    assert order.raw_status == "PARKED_SOMEWHERE"


def test_a_limit_order_is_sent_as_documented_with_the_tag_as_reference() -> None:
    body = wire.place_payload(_request())
    assert body == {
        "trading_symbol": "INFY", "quantity": 10, "price": D("100.05"), "trigger_price": None,
        "validity": "DAY", "exchange": "NSE", "segment": "CASH", "product": "CNC",
        "order_type": "LIMIT", "transaction_type": "BUY",
        "order_reference_id": "og0123456789abcdef01"}
    assert json.loads(wire.encode(body), parse_float=D)["price"] == D("100.05")
    assert b'"price":100.05,' in wire.encode(body)


@pytest.mark.parametrize(("order_type", "price", "stop", "kind", "sent_price", "trigger"), [
    (OrderType.MARKET, None, None, "MARKET", D(0), None),
    (OrderType.STOP, None, "99.5", "SL_M", D(0), D("99.5")),
    (OrderType.STOP_LIMIT, "99.45", "99.5", "SL", D("99.45"), D("99.5")),
])
def test_order_types_map_to_growws_names(order_type: OrderType, price: str | None,
                                        stop: str | None, kind: str, sent_price: Decimal,
                                        trigger: Decimal | None) -> None:
    body = wire.place_payload(_request(order_type, price=price, stop=stop,
                                       product=Product.MIS, tif=TimeInForce.IOC))
    assert (body["order_type"], body["price"], body["trigger_price"]) == (kind, sent_price,
                                                                         trigger)
    assert (body["product"], body["validity"]) == ("MIS", "IOC")


@pytest.mark.parametrize("request_", [
    _request(quantity="1.5"), _request(tag="short"), _request(tag="og-a-b-c1234"),
    _request(tif=TimeInForce.GTC), _request(OrderType.STOP, price=None),
])
def test_orders_groww_cannot_take_are_refused_before_sending(request_: PlaceRequest) -> None:
    with pytest.raises(Rejected):
        wire.place_payload(request_)


def test_a_reference_allows_two_hyphens_and_twenty_characters() -> None:
    assert wire.valid_reference("Ab-654321234-1628190")
    assert not wire.valid_reference("Ab-65-4321234-16281")
    assert not wire.valid_reference("a" * 21)


def test_encode_never_goes_through_float() -> None:
    assert wire.encode({"price": D("0.1000000000000000055511")}) == \
        b'{"price":0.1000000000000000055511}'
    with pytest.raises(TypeError):
        wire.encode({"price": 0.1})  # type: ignore[dict-item]


def test_a_price_change_keeps_the_quantity_and_type_groww_requires() -> None:
    current = _detail("ACKED", order_type="LIMIT", trigger_price=None)
    body = wire.modify_payload("GMK1", Modify(price=D("99.50")), current)
    assert body == {"quantity": 10, "price": D("99.50"), "trigger_price": None,
                    "groww_order_id": "GMK1", "order_type": "LIMIT", "segment": "CASH"}


def test_a_change_to_market_drops_the_price() -> None:
    current = _detail("ACKED", order_type="LIMIT")
    body = wire.modify_payload("GMK1", Modify(order_type=OrderType.MARKET, quantity=D(5)), current)
    assert (body["order_type"], body["price"], body["quantity"]) == ("MARKET", None, 5)


def test_an_order_detail_is_read_exactly() -> None:
    raw = (b'{"status":"SUCCESS","payload":{"groww_order_id":"GMK39038RDT490CCVRO",'
           b'"order_status":"EXECUTED","remark":"Order placed successfully","quantity":100,'
           b'"price":2500.05,"trigger_price":null,"filled_quantity":40,"remaining_quantity":60,'
           b'"average_fill_price":2500.0333,"order_type":"LIMIT",'
           b'"order_reference_id":"Ab-654321234-1628190"}}')
    order = wire.parse_order(wire.read_payload(200, raw, changes_state=False, names_order=True))
    assert (order.price, order.avg_price) == (D("2500.05"), D("2500.0333"))
    assert (order.quantity, order.filled_quantity) == (D(100), D(40))
    assert order.status is S.PARTIALLY_FILLED
    assert order.tag == "Ab-654321234-1628190"
    assert order.message == "Order placed successfully"


def test_a_market_orders_zero_price_is_no_price() -> None:
    assert wire.parse_order(_detail("ACKED", price=0)).price is None


def test_trades_carry_indian_time_when_groww_sends_naive_times() -> None:
    fills = wire.parse_trades({"trade_list": [{
        "groww_trade_id": "GTR1", "groww_order_id": "GMK1", "quantity": 4, "price": D("100.00"),
        "trade_date_time": "2025-03-03T10:15:30"}]})
    assert [(f.exec_id, f.quantity, f.price) for f in fills] == [("GTR1", D(4), D("100.00"))]
    assert fills[0].executed_at == datetime(2025, 3, 3, 4, 45, 30, tzinfo=UTC)


def test_positions_and_funds_from_documented_payloads() -> None:
    positions = wire.parse_positions({"positions": [{
        "trading_symbol": "INFY", "exchange": "NSE", "product": "CNC", "quantity": 3,
        "net_price": D("100.00"), "credit_quantity": 3, "debit_quantity": 0}]})
    funds = wire.parse_funds({"clear_cash": D("100000.50"), "net_margin_used": D("300"),
                              "equity_margin_details": {"cnc_balance_available": D("99700.50")}})
    assert [(p.symbol, p.quantity, p.avg_price, p.product) for p in positions] == [
        ("INFY", D(3), D("100.00"), "CNC")]
    assert (funds.currency, funds.available_cash, funds.used_margin) == (
        "INR", D("99700.50"), D(300))


def _envelope(code: str) -> bytes:
    return json.dumps({"status": "FAILURE", "error": {"code": code, "message": "m"}}).encode()


@pytest.mark.parametrize(("status", "body", "changes_state", "names_order", "expected"), [
    (429, b'{"message":"Too Many Requests"}', True, False, RateLimited),
    (401, _envelope("GA005"), False, False, SessionExpired),
    (403, _envelope("GA005"), True, False, Rejected),
    (401, b"", True, False, SessionExpired),
    (404, _envelope("GA004"), False, True, OrderNotFound),
    (400, _envelope("GA004"), True, False, Rejected),
    (400, _envelope("GA001"), True, False, Rejected),
    (400, _envelope("GA006"), True, True, Rejected),
    (503, _envelope("GA003"), True, False, NotSent),
    (500, _envelope("GA000"), True, False, Unknown),
    (500, _envelope("GA000"), False, False, NotSent),
    (504, b"<html>gateway timeout</html>", True, False, Unknown),
    (502, b'{"status":"FAILURE","error":"upstream"}', False, False, NotSent),
])
def test_failures_are_classified(status: int, body: bytes, changes_state: bool,
                                 names_order: bool, expected: type[BrokerError]) -> None:
    error = wire.classify(status, body, changes_state=changes_state, names_order=names_order)
    assert type(error) is expected
    assert error.broker is Broker.GROWW


def test_a_429_says_how_long_to_wait() -> None:
    error = wire.classify(429, b"", changes_state=True, names_order=False, retry_after="2")
    assert isinstance(error, RateLimited)
    assert error.retry_after == 2.0


def test_a_failure_envelope_with_http_200_is_still_a_failure() -> None:
    with pytest.raises(Rejected) as raised:
        wire.read_payload(200, _envelope("GA007"), changes_state=True, names_order=False)
    assert raised.value.code == wire.DUPLICATE_REFERENCE


def test_an_unreadable_success_to_a_place_is_unknown() -> None:
    with pytest.raises(Unknown):
        wire.read_payload(200, b"<html>", changes_state=True, names_order=False)


RELAYED = (b'{"groww_order_id":"GMK39038RDT490CCVRO","order_status":"EXECUTED",'
           b'"order_reference_id":"Ab-654321234-1628190"}')


def test_a_relayed_order_detail_names_the_order_bare_or_enveloped() -> None:
    enveloped = b'{"status":"SUCCESS","payload":' + RELAYED + b"}"
    for body in (RELAYED, enveloped):
        trigger = wire.parse_webhook(body)
        assert trigger.broker_order_id == "GMK39038RDT490CCVRO"
        assert (trigger.tag, trigger.raw_status) == ("Ab-654321234-1628190", "EXECUTED")


@pytest.mark.parametrize("body", [b"{}", b"[]", b'{"order_status":"EXECUTED"}'])
def test_a_body_naming_no_order_is_not_a_groww_update(body: bytes) -> None:
    with pytest.raises(ValueError, match="groww"):
        wire.parse_webhook(body)


def test_a_relayed_delivery_is_verified_with_the_generic_signature() -> None:
    # Known vector: openssl dgst -sha256 -hmac relay-secret-0123456789 over
    # "v2\n1700000000\nrelay-delivery-0001\n<body>".
    signature = "v2=983a5515491b35c879b5e1a66627aa0b0174c5699ef3d7fb02964d55aaf43146"
    headers = {"X-Broker-Signature": signature, "X-Broker-Signature-Alg": "HMAC-SHA256",
               "X-Broker-Timestamp": "1700000000", "X-Broker-Delivery-Id": "relay-delivery-0001"}
    candidate = webhooks.Candidate(account_id=uuid.uuid4(), session=BrokerSession(),
                                   webhook_token=None)

    def check(secret: str) -> webhooks.Verified | None:
        return webhooks.authenticate(Broker.GROWW, body=RELAYED, headers=headers,
                                     path_token=None, candidates=[candidate], secrets=[secret],
                                     now=1700000010, tolerance_seconds=300)

    verified = check("relay-secret-0123456789")
    assert verified is not None
    assert verified.trigger.broker_order_id == "GMK39038RDT490CCVRO"
    assert check("another-secret-0123456789") is None


def test_the_approval_checksum_matches_a_known_vector() -> None:
    # printf 'my-api-secret1700000000' | sha256sum
    expected = "6dcf3143fe7ec01d5301f2da079385abf91c95a48df8ff50c2f549d837cb3c47"
    assert wire.approval_body("my-api-secret", 1700000000) == {
        "key_type": "approval", "checksum": expected, "timestamp": 1700000000}
    assert wire.totp_body(" 123456 ") == {"key_type": "totp", "totp": "123456"}


@pytest.mark.parametrize(("now", "expires"), [
    (datetime(2025, 3, 3, 0, 29, tzinfo=UTC), datetime(2025, 3, 3, 0, 30, tzinfo=UTC)),
    (datetime(2025, 3, 3, 0, 30, tzinfo=UTC), datetime(2025, 3, 4, 0, 30, tzinfo=UTC)),
    (datetime(2025, 3, 2, 23, 0, tzinfo=UTC), datetime(2025, 3, 3, 0, 30, tzinfo=UTC)),
])
def test_tokens_expire_at_the_next_six_oclock_in_india(now: datetime,
                                                      expires: datetime) -> None:
    assert wire.token_expiry(now) == expires


def test_a_token_answer_without_a_token_is_refused() -> None:
    assert wire.parse_token(b'{"token":"abc","tokenRefId":"r","isActive":true}') == "abc"
    with pytest.raises(ValueError, match="no token"):
        wire.parse_token(b'{"isActive":true}')
