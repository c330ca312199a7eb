"""Angel One SmartAPI's wire format (pure): statuses, order payloads, answers, errors, postback.

Sources: smartapi.angelone.in/docs (User, Orders, Portfolio, Funds and Margins, Postback/Webhook,
Websocket Order Status, RateLimit), the error-code tables of angel-one/smartapi-java
(SmartAPIResponseHandler) and angel-one/smartapi-go, the SmartAPI forum (rate-limit refusals:
HTTP 403 with the plain-text body "Access denied because of exceeding access rate"; invalid
tokens answered in the gateway dialect {"success", "message", "errorCode", "data"}).

Error codes mapped here:
- SessionExpired: AG8001 Invalid Token, AG8002 Token Expired, AG8003 Token missing, AB8050
  Invalid Refresh Token, AB8051 Refresh Token Expired, AB1010 AMX Session Expired, AB1011 Client
  not login (and any HTTP 401).
- OrderNotFound: AB1013 Order not found (and the details endpoint's "Order not found" text).
- "Please try after sometime": AB1004, AB2000 Error not specified, AB2001 Internal Error (and
  HTTP 5xx): Unknown for a call that changes state, NotSent for a read.
- RateLimited: HTTP 403/429 "exceeding access rate" (no Retry-After is documented).
- Rejected: every other refusal (AB1xxx business errors, AB4008 ordertag too long, AG8004 API key).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Final

from shared.brokers.catalog import Broker, Product
from shared.brokers.india import IST
from shared.brokers.payload import identifier
from shared.brokers.payload import loads as loads  # wire.loads: this broker's JSON
from shared.brokers.types import (
    BrokerError,
    BrokerFill,
    BrokerFunds,
    BrokerOrder,
    BrokerPosition,
    Modify,
    NotSent,
    OrderNotFound,
    PlaceRequest,
    RateLimited,
    Rejected,
    SessionExpired,
    Unknown,
    WebhookTrigger,
    canonical_status,
)
from shared.domain.enums import OrderStatus, OrderType, TimeInForce

BROKER: Final = Broker.ANGELONE
# "The session established via SmartAPI remains active for upto 28 hours after login" (User).
SESSION_LIFETIME: Final = timedelta(hours=28)

LOGIN_PATH: Final = "/rest/auth/angelbroking/user/v1/loginByPassword"
REFRESH_PATH: Final = "/rest/auth/angelbroking/jwt/v1/generateTokens"
PLACE_PATH: Final = "/rest/secure/angelbroking/order/v1/placeOrder"
MODIFY_PATH: Final = "/rest/secure/angelbroking/order/v1/modifyOrder"
CANCEL_PATH: Final = "/rest/secure/angelbroking/order/v1/cancelOrder"
ORDER_BOOK_PATH: Final = "/rest/secure/angelbroking/order/v1/getOrderBook"
DETAILS_PATH: Final = "/rest/secure/angelbroking/order/v1/details/"
TRADE_BOOK_PATH: Final = "/rest/secure/angelbroking/order/v1/getTradeBook"
POSITION_PATH: Final = "/rest/secure/angelbroking/order/v1/getPosition"
HOLDING_PATH: Final = "/rest/secure/angelbroking/portfolio/v1/getHolding"
RMS_PATH: Final = "/rest/secure/angelbroking/user/v1/getRMS"

SESSION_CODES: Final = frozenset({"AG8001", "AG8002", "AG8003", "AB8050", "AB8051", "AB1010",
                                  "AB1011"})
NOT_FOUND_CODES: Final = frozenset({"AB1013"})
TRY_LATER_CODES: Final = frozenset({"AB1004", "AB2000", "AB2001"})
RATE_LIMIT_TEXT: Final = "exceeding access rate"

_S = OrderStatus
# Every status of an order row (orderstatus), in the lowercase Angel One shares with Kite and
# Upstox. Modify/cancel refusals leave the order working; partial fills come from quantities.
STATUS_MAP: Final[Mapping[str, OrderStatus]] = MappingProxyType({
    "put order req received": _S.SUBMITTED,
    "validation pending": _S.SUBMITTED,
    "open pending": _S.SUBMITTED,
    "after market order req received": _S.SUBMITTED,
    "modify after market order req received": _S.SUBMITTED,
    "open": _S.ACCEPTED,
    "trigger pending": _S.ACCEPTED,
    "modify validation pending": _S.ACCEPTED,
    "modify pending": _S.ACCEPTED,
    "modified": _S.ACCEPTED,
    "not modified": _S.ACCEPTED,
    "not cancelled": _S.ACCEPTED,
    "cancel pending": _S.PENDING_CANCEL,
    "complete": _S.FILLED,
    "cancelled": _S.CANCELED,
    "cancelled after market order": _S.CANCELED,
    "rejected": _S.REJECTED,
})
# An unknown status is treated as still working, so the order is looked at again, never closed.
UNKNOWN_STATUS: Final = _S.SUBMITTED

PRODUCTS: Final[Mapping[Product, str]] = MappingProxyType({
    Product.CNC: "DELIVERY", Product.MIS: "INTRADAY", Product.NRML: "CARRYFORWARD"})
ORDER_TYPES: Final[Mapping[OrderType, str]] = MappingProxyType({
    OrderType.MARKET: "MARKET", OrderType.LIMIT: "LIMIT",
    OrderType.STOP: "STOPLOSS_MARKET", OrderType.STOP_LIMIT: "STOPLOSS_LIMIT"})
DURATIONS: Final[Mapping[TimeInForce, str]] = MappingProxyType({
    TimeInForce.DAY: "DAY", TimeInForce.IOC: "IOC"})
_STOP_TYPES: Final = frozenset({"STOPLOSS_MARKET", "STOPLOSS_LIMIT"})
_PRICED_TYPES: Final = frozenset({"LIMIT", "STOPLOSS_LIMIT"})

# "The length of the tag should be less than 20 characters" (Orders, AB4008). Our tags are
# "og" + 18 hex digits (20 characters): Angel One gets them as "o" + the same 18 digits.
MAX_TAG: Final = 19
_OUR_TAG: Final = re.compile(r"og([0-9a-f]{18})")
_COMPACT_TAG: Final = re.compile(r"o([0-9a-f]{18})")
_NSE_SERIES: Final = re.compile(r"-(EQ|BE|BZ|SM|ST)$")


def map_status(raw: str) -> OrderStatus:
    """Our status for an Angel One status string (unknown strings count as still working)."""
    return STATUS_MAP.get(raw.strip().lower(), UNKNOWN_STATUS)


def ordertag(tag: str) -> str:
    """The ordertag Angel One accepts for our `tag`; ValueError if it cannot carry it."""
    if len(tag) <= MAX_TAG:
        return tag
    match = _OUR_TAG.fullmatch(tag)
    if match is None:
        raise ValueError(f"Angel One ordertags take under 20 characters, tag {tag!r} has "
                         f"{len(tag)}")
    return "o" + match.group(1)


def tag_of(value: object) -> str | None:
    """Our tag from an order row's ordertag (None when the order has none)."""
    text = str(value or "").strip()
    match = _COMPACT_TAG.fullmatch(text)
    if match is not None:
        return "og" + match.group(1)
    return text or None


def headers(api_key: str, access_token: str | None = None,
            extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers every SmartAPI call carries (Authorization only once logged in)."""
    given = extra or {}
    sent = {
        "Content-Type": "application/json", "Accept": "application/json",
        "X-UserType": "USER", "X-SourceID": "WEB",
        # SmartAPI wants the caller's addresses; we never ask an IP-echo service for them.
        "X-ClientLocalIP": given.get("client_local_ip", "127.0.0.1"),
        "X-ClientPublicIP": given.get("client_public_ip", "127.0.0.1"),
        "X-MACAddress": given.get("mac_address", "00:00:00:00:00:00"),
        "X-PrivateKey": api_key,
    }
    if access_token:
        sent["Authorization"] = f"Bearer {access_token}"
    return sent


def decimal_of(value: object) -> Decimal:
    """A Decimal from a JSON string or number; ValueError for anything else."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, float):
        raise ValueError("floats are refused: parse JSON with parse_float=Decimal")
    text = str(value).replace(" ", "").replace(",", "")
    try:
        return Decimal(text) if text else Decimal(0)
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def _plain(value: Decimal) -> str:
    return format(value, "f")


def _whole(quantity: Decimal) -> str:
    if quantity <= 0 or quantity != quantity.to_integral_value():
        raise ValueError(f"Angel One takes whole positive quantities, was {quantity}")
    return _plain(quantity.to_integral_value())


def variety_for(ordertype: str) -> str:
    """Stop-loss orders are their own variety at Angel One; everything else is NORMAL."""
    return "STOPLOSS" if ordertype in _STOP_TYPES else "NORMAL"


def _prices(ordertype: str, price: Decimal | None, stop: Decimal | None) -> dict[str, str]:
    if ordertype in _PRICED_TYPES and (price is None or price <= 0):
        raise ValueError(f"a {ordertype} order needs a positive price")
    if ordertype in _STOP_TYPES and (stop is None or stop <= 0):
        raise ValueError(f"a {ordertype} order needs a positive trigger price")
    return {"price": _plain(price) if ordertype in _PRICED_TYPES and price else "0",
            "triggerprice": _plain(stop) if ordertype in _STOP_TYPES and stop else "0"}


def place_payload(request: PlaceRequest) -> dict[str, str]:
    """The placeOrder body for `request`; ValueError if Angel One cannot carry it."""
    refs = request.instrument.refs.get(BROKER.value, {})
    if not refs.get("symboltoken") or not refs.get("tradingsymbol"):
        raise ValueError(f"{request.instrument.symbol} has no Angel One symboltoken and "
                         "tradingsymbol (Instrument.refs['angelone'])")
    if request.time_in_force not in DURATIONS:
        raise ValueError(f"Angel One has no time in force {request.time_in_force.value}")
    ordertype = ORDER_TYPES[request.order_type]
    return {
        "variety": variety_for(ordertype), "tradingsymbol": refs["tradingsymbol"],
        "symboltoken": refs["symboltoken"], "transactiontype": request.side.value,
        "exchange": request.instrument.exchange, "ordertype": ordertype,
        "producttype": PRODUCTS[request.product or Product.CNC],
        "duration": DURATIONS[request.time_in_force],
        **_prices(ordertype, request.price, request.stop_price),
        "squareoff": "0", "stoploss": "0", "quantity": _whole(request.quantity),
        "ordertag": ordertag(request.tag),
    }


def modify_payload(row: Mapping[str, Any], change: Modify) -> dict[str, str]:
    """The modifyOrder body: the order's current row with `change` applied."""
    ordertype = (ORDER_TYPES[change.order_type] if change.order_type
                 else str(row["ordertype"]))
    variety = str(row.get("variety") or "NORMAL")
    if variety_for(ordertype) != variety:
        raise ValueError(f"Angel One cannot turn a {variety} order into a {ordertype} order")
    price = change.price if change.price is not None else decimal_of(row.get("price"))
    stop = (change.stop_price if change.stop_price is not None
            else decimal_of(row.get("triggerprice")))
    quantity = (change.quantity if change.quantity is not None
                else decimal_of(row["quantity"]))
    return {
        "variety": variety, "orderid": identifier(row["orderid"]), "ordertype": ordertype,
        "producttype": str(row["producttype"]), "duration": str(row.get("duration") or "DAY"),
        **_prices(ordertype, price, stop), "quantity": _whole(quantity),
        "tradingsymbol": str(row["tradingsymbol"]), "symboltoken": str(row["symboltoken"]),
        "exchange": str(row["exchange"]),
    }


def cancel_payload(row: Mapping[str, Any]) -> dict[str, str]:
    """The cancelOrder body for an order row (its variety must be the order's own)."""
    return {"variety": str(row.get("variety") or "NORMAL"), "orderid": identifier(row["orderid"])}


def _positive(value: object) -> Decimal | None:
    amount = decimal_of(value) if value not in (None, "") else Decimal(0)
    return amount if amount > 0 else None


def parse_order(row: Mapping[str, Any]) -> BrokerOrder:
    """A BrokerOrder from an order-book, details or postback row.

    `orderstatus` is the order's state; `status` names the last event (e.g. "modified" while
    the order is "trigger pending"), so it is only the fallback.
    """
    raw = str(row.get("orderstatus") or row.get("status") or "").strip()
    quantity = decimal_of(row["quantity"])
    filled = decimal_of(row.get("filledshares") or 0)
    return BrokerOrder(
        broker_order_id=identifier(row["orderid"]), raw_status=raw,
        status=canonical_status(map_status(raw), quantity, filled),
        quantity=quantity, filled_quantity=filled, tag=tag_of(row.get("ordertag")),
        price=_positive(row.get("price")), avg_price=_positive(row.get("averageprice")),
        message=str(row.get("text") or "").strip() or None)


def _fill_time(value: str, trading_day: date) -> datetime:
    text = value.strip()
    try:
        return datetime.strptime(text, "%d-%b-%Y %H:%M:%S").replace(tzinfo=IST)
    except ValueError:
        # The trade book gives the time only ("13:27:53"): it lists today's trades.
        return datetime.combine(trading_day, time.fromisoformat(text), IST)


def parse_trade(row: Mapping[str, Any], trading_day: date) -> BrokerFill:
    """A BrokerFill from a trade-book row; `trading_day` dates its time-only filltime.

    Exchange fill ids restart each day and differ per exchange, so the exec id joins the order
    id (which carries the date) and the fill id: unique for the account.
    """
    orderid = identifier(row["orderid"])
    return BrokerFill(
        exec_id=f"{orderid}-{row['fillid']}", broker_order_id=orderid,
        quantity=decimal_of(row["fillsize"]), price=decimal_of(row["fillprice"]),
        executed_at=_fill_time(str(row["filltime"]), trading_day))


def fill_order(fill: BrokerFill) -> tuple[datetime, int, str]:
    """Sort key putting fills oldest first (fill ids grow within a second)."""
    fillid = fill.exec_id.rsplit("-", 1)[-1]
    return fill.executed_at, int(fillid) if fillid.isdigit() else 0, fillid


def _symbol(row: Mapping[str, Any]) -> str:
    name = str(row.get("symbolname") or "").strip()
    return name or _NSE_SERIES.sub("", str(row["tradingsymbol"]))


def parse_position(row: Mapping[str, Any]) -> BrokerPosition:
    """A BrokerPosition from a getPosition row (net quantity, average net price)."""
    return BrokerPosition(
        symbol=_symbol(row), exchange=str(row["exchange"]), quantity=decimal_of(row["netqty"]),
        avg_price=decimal_of(row.get("avgnetprice") or row.get("netprice") or 0),
        product=str(row.get("producttype") or "") or None)


def parse_holding(row: Mapping[str, Any]) -> BrokerPosition:
    """A BrokerPosition from a getHolding row (settled delivery shares)."""
    return BrokerPosition(
        symbol=_symbol(row), exchange=str(row["exchange"]), quantity=decimal_of(row["quantity"]),
        avg_price=decimal_of(row.get("averageprice") or 0),
        product=str(row.get("product") or "DELIVERY"))


def parse_funds(data: Mapping[str, Any]) -> BrokerFunds:
    """BrokerFunds from getRMS data (rupees)."""
    return BrokerFunds(currency="INR", available_cash=decimal_of(data["availablecash"]),
                       used_margin=decimal_of(data.get("utiliseddebits") or 0))


def rows(data: Any) -> list[Mapping[str, Any]]:
    """The rows of a list answer; SmartAPI sends data null when a book is empty."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError(f"expected a list of rows, got {type(data).__name__}")
    return [row for row in data if isinstance(row, Mapping)]


def _ambiguous(message: str, changes_state: bool, code: str | None) -> BrokerError:
    if changes_state:
        return Unknown(message, broker=BROKER, code=code)
    return NotSent(message, broker=BROKER, code=code)


def _envelope(text: str) -> Mapping[str, Any] | None:
    try:
        body = loads(text)
    except ValueError:
        return None
    return body if isinstance(body, Mapping) else None


def classify(status: int, text: str, *, changes_state: bool,
             retry_after: str | None = None) -> BrokerError | None:
    """The error an answer means, or None for a success envelope."""
    if status == 429 or RATE_LIMIT_TEXT in text.lower():
        seconds = retry_after if retry_after and retry_after.strip().isdigit() else "1"
        return RateLimited(f"Angel One refused: too many requests (HTTP {status})",
                           broker=BROKER, code="rate_limited",
                           details={"retry_after": float(seconds)})
    body = _envelope(text)
    if body is None:
        return _ambiguous(f"Angel One answered HTTP {status} without a JSON envelope",
                          changes_state, "unreadable")
    code = str(body.get("errorcode") or body.get("errorCode") or "").strip() or None
    message = str(body.get("message") or "").strip() or f"HTTP {status}"
    if 200 <= status < 300 and (body.get("status") is True or body.get("success") is True):
        return None
    refused = code is not None or False in (body.get("status"), body.get("success"))
    if 200 <= status < 300 and not refused:  # neither a success nor a refusal of Angel One's
        return _ambiguous(f"Angel One answered HTTP {status} in an envelope it never sends",
                          changes_state, "unreadable")
    details = {"http_status": status}
    if status == 401 or code in SESSION_CODES:
        return SessionExpired(f"Angel One session is no longer valid: {message}",
                              broker=BROKER, code=code, details=details)
    if code in NOT_FOUND_CODES or "order not found" in message.lower():
        return OrderNotFound(message, broker=BROKER, code=code, details=details)
    if status >= 500 or code in TRY_LATER_CODES:
        return _ambiguous(f"Angel One could not answer: {message}", changes_state, code)
    return Rejected(message, broker=BROKER, code=code, details=details)


def data_of(status: int, text: str, *, changes_state: bool,
            retry_after: str | None = None) -> Any:
    """The `data` of a success envelope; raise the classified error otherwise."""
    error = classify(status, text, changes_state=changes_state, retry_after=retry_after)
    if error is not None:
        raise error
    return loads(text).get("data")


def parse_webhook(body: bytes) -> WebhookTrigger:
    """The trigger in an order update: a postback row, or a websocket frame with orderData."""
    payload = loads(body)
    if not isinstance(payload, Mapping):
        raise ValueError("an Angel One order update is a JSON object")
    order = payload.get("orderData", payload)
    if not isinstance(order, Mapping):
        raise ValueError("orderData must be a JSON object")
    orderid = str(order.get("orderid") or "").strip()
    if not orderid:
        raise ValueError("an Angel One order update names its orderid")
    user = payload.get("clientcode") or payload.get("user-id") or order.get("clientcode")
    raw = str(order.get("orderstatus") or order.get("status") or "").strip() or None
    return WebhookTrigger(broker_order_id=orderid, tag=tag_of(order.get("ordertag")),
                          broker_user_id=str(user) if user else None, raw_status=raw)

