"""Kite Connect v3 on the wire (pure): statuses, order forms, answers, errors, postbacks, logins.

Sources: kite.trade/docs/connect/v3/{orders,postbacks,exceptions,user} and the response shapes of
zerodha/kiteconnect-mocks (orders.json, order_info.json, trades.json, positions.json,
holdings.json, margins.json, postback.json, generate_session.json).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime, time
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

from shared.brokers.catalog import Broker, Product
from shared.brokers.india import AUTOMATIC_PROTECTION, IST, next_ist
from shared.brokers.payload import identifier
from shared.brokers.payload import loads as loads  # wire.loads: this broker's JSON
from shared.brokers.types import (
    BrokerError,
    BrokerFill,
    BrokerFunds,
    BrokerOrder,
    BrokerPosition,
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
    WebhookTrigger,
    canonical_status,
)
from shared.domain.enums import OrderStatus, OrderType, TimeInForce

BROKER: Final = Broker.ZERODHA
# Kite's timestamps are Indian Standard Time without an offset; India has no daylight saving.
# Access tokens expire at 06:00 IST on the next day (kite.trade/docs/connect/v3/user).
TOKEN_EXPIRY_TIME: Final = time(6, 0, tzinfo=IST)
MAX_TAG_LENGTH: Final = 20

_S = OrderStatus
STATUS_MAP: Final[Mapping[str, OrderStatus]] = MappingProxyType({
    "PUT ORDER REQ RECEIVED": _S.SUBMITTED,
    "VALIDATION PENDING": _S.SUBMITTED,
    "OPEN PENDING": _S.SUBMITTED,
    "AMO REQ RECEIVED": _S.SUBMITTED,
    "OPEN": _S.ACCEPTED,
    # A stop order rests at the broker until triggered: working, nothing filled.
    "TRIGGER PENDING": _S.ACCEPTED,
    # A modification in flight leaves the order working at its old terms.
    "MODIFY VALIDATION PENDING": _S.ACCEPTED,
    "MODIFY PENDING": _S.ACCEPTED,
    "MODIFIED": _S.ACCEPTED,
    # Postbacks only: an open order was modified or partly filled.
    "UPDATE": _S.ACCEPTED,
    "CANCEL PENDING": _S.PENDING_CANCEL,
    "COMPLETE": _S.FILLED,
    "CANCELLED": _S.CANCELED,
    "REJECTED": _S.REJECTED,
})
# A status Kite adds later is treated as still in flight (never final), so the order is looked
# up again rather than closed on a guess; the raw string is kept beside it.
UNKNOWN_STATUS: Final = _S.SUBMITTED

ORDER_TYPES: Final[Mapping[OrderType, str]] = MappingProxyType({
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "LIMIT",
    OrderType.STOP: "SL-M",
    OrderType.STOP_LIMIT: "SL",
})
VALIDITY: Final[Mapping[TimeInForce, str]] = MappingProxyType({
    TimeInForce.DAY: "DAY",
    TimeInForce.IOC: "IOC",
})
_PRICED = frozenset({"LIMIT", "SL"})
_TRIGGERED = frozenset({"SL", "SL-M"})
# Orders that execute at the market once live: Kite refuses them without market_protection.
_UNPRICED = frozenset({"MARKET", "SL-M"})

# kite.trade/docs/connect/v3/exceptions: the broker refused the request as such.
REFUSALS: Final = frozenset({"InputException", "OrderException", "MarginException",
                             "HoldingException", "UserException", "PermissionException"})
# The OMS could not be reached or answered nonsense: the request may or may not have landed.
OUTAGES: Final = frozenset({"NetworkException", "DataException"})
# Kite's answer to an order id it has never seen (GeneralException, per client code in the wild).
_NOT_FOUND_PHRASE = "couldn't find that `order_id`"


def map_status(raw: str) -> OrderStatus:
    """Our status for one of Kite's status strings (unknown strings stay in flight)."""
    return STATUS_MAP.get(raw.strip().upper(), UNKNOWN_STATUS)


def number(value: object, field: str) -> Decimal:
    """A Decimal from a JSON number or numeric string; null counts as zero, floats are refused."""
    if value is None:
        return Decimal(0)
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{field} must be an exact number, was {value!r}")
    if isinstance(value, int | Decimal | str):
        return Decimal(value)
    raise TypeError(f"{field} must be a number, was {value!r}")


def decimal_text(value: Decimal) -> str:
    """A Decimal written out in plain digits (never exponent notation) for a form field."""
    return format(value, "f")


def _refuse(message: str, code: str = "invalid_order") -> Rejected:
    return Rejected(message, broker=BROKER, code=code)


def _whole(quantity: Decimal) -> str:
    if quantity <= 0 or quantity != quantity.to_integral_value():
        raise _refuse(f"Kite takes whole, positive quantities, was {quantity}")
    return str(int(quantity))


def _positive(value: Decimal | None, what: str) -> str:
    if value is None or value <= 0:
        raise _refuse(f"{what} must be positive, was {value}")
    return decimal_text(value)


def _tag(tag: str) -> str:
    if not tag or len(tag) > MAX_TAG_LENGTH or not tag.isascii() or not tag.isalnum():
        raise _refuse(f"a Kite tag is 1 to {MAX_TAG_LENGTH} letters or digits, was {tag!r}")
    return tag


def kite_symbol(instrument: Instrument) -> str:
    """Kite's trading symbol: ours is prefixed with the exchange off NSE ("BSE:INFY"), Kite's
    is bare, as the instruments dump gave it (Instrument.refs['zerodha'])."""
    return str(instrument.refs.get("zerodha", {}).get("tradingsymbol") or instrument.symbol)


def place_form(request: PlaceRequest,
               market_protection: Decimal = AUTOMATIC_PROTECTION) -> dict[str, str]:
    """The form of POST /orders/regular for `request`, tagged with `request.tag`.

    A MARKET or SL-M order carries `market_protection` (-1: Kite's automatic protection).
    """
    validity = VALIDITY.get(request.time_in_force)
    if validity is None:
        raise _refuse(f"Kite does not support time in force {request.time_in_force.value}")
    order_type = ORDER_TYPES[request.order_type]
    form = {
        "exchange": request.instrument.exchange,
        "tradingsymbol": kite_symbol(request.instrument),
        "transaction_type": request.side.value,
        "quantity": _whole(request.quantity),
        "product": (request.product or Product.CNC).value,
        "order_type": order_type,
        "validity": validity,
        "tag": _tag(request.tag),
    }
    if order_type in _PRICED:
        form["price"] = _positive(request.price, "price")
    if order_type in _TRIGGERED:
        form["trigger_price"] = _positive(request.stop_price, "stop price")
    if order_type in _UNPRICED:
        form["market_protection"] = decimal_text(market_protection)
    return form


def modify_form(change: Modify, *, current_type: str | None,
                market_protection: Decimal = AUTOMATIC_PROTECTION) -> dict[str, str]:
    """The form of PUT /orders/regular/{order_id}: only the fields `change` sets.

    `current_type` is Kite's order_type of the order now: an order that is MARKET or SL-M
    after the change (modified to one, or already one) carries `market_protection`.
    """
    form: dict[str, str] = {}
    if change.order_type is not None:
        form["order_type"] = ORDER_TYPES[change.order_type]
    if change.quantity is not None:
        form["quantity"] = _whole(change.quantity)
    if change.price is not None:
        form["price"] = _positive(change.price, "price")
    if change.stop_price is not None:
        form["trigger_price"] = _positive(change.stop_price, "stop price")
    if not form:
        raise _refuse("a modification must change the quantity, a price or the order type")
    if form.get("order_type", current_type) in _UNPRICED:
        form["market_protection"] = decimal_text(market_protection)
    return form


def kite_time(text: str) -> datetime:
    """A Kite timestamp ("YYYY-MM-DD HH:MM:SS", Indian time) as an aware datetime."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)


def parse_order(row: Mapping[str, Any]) -> BrokerOrder:
    """One order object (order book, history row or postback) as a BrokerOrder."""
    raw = str(row["status"])
    quantity = number(row["quantity"], "quantity")
    filled = number(row.get("filled_quantity"), "filled_quantity")
    # Kite reports price 0 for orders without a limit price, and average 0 before a fill.
    price = number(row.get("price"), "price") if row.get("order_type") in _PRICED else None
    average = number(row.get("average_price"), "average_price")
    return BrokerOrder(
        broker_order_id=identifier(row["order_id"]),
        status=canonical_status(map_status(raw), quantity, filled),
        raw_status=raw, quantity=quantity, filled_quantity=filled,
        tag=row.get("tag") or None, price=price,
        avg_price=average if filled > 0 else None,
        message=row.get("status_message") or None)


def current_order(history: Sequence[Mapping[str, Any]], broker_order_id: str) -> BrokerOrder:
    """The order's state now: the last row of GET /orders/{order_id}."""
    if not history:
        raise OrderNotFound(f"Kite has no order {broker_order_id}", broker=BROKER,
                            code="order_not_found")
    return parse_order(history[-1])


def has_tag(row: Mapping[str, Any], tag: str) -> bool:
    """True if an order-book row carries `tag` (in `tag` or the newer `tags` list)."""
    tags = row.get("tags") or []
    return row.get("tag") == tag or (isinstance(tags, list) and tag in tags)


def parse_trade(row: Mapping[str, Any]) -> BrokerFill:
    """One trade object as a BrokerFill; Kite's trade_id is the execution id."""
    # order_timestamp in a trade is a bare time of day, so it is never used here.
    stamp = row.get("fill_timestamp") or row.get("exchange_timestamp")
    if not stamp:
        raise ValueError(f"Kite trade {row.get('trade_id')!r} has no fill timestamp")
    return BrokerFill(
        exec_id=identifier(row["trade_id"]), broker_order_id=identifier(row["order_id"]),
        quantity=number(row["quantity"], "quantity"),
        price=number(row["average_price"], "average_price"), executed_at=kite_time(str(stamp)))


def parse_positions(positions: Mapping[str, Any],
                    holdings: Sequence[Mapping[str, Any]]) -> list[BrokerPosition]:
    """Net positions and holdings, one row per symbol, exchange and product.

    Today's delivery (CNC) buys are in `net` until they settle into holdings, so both parts
    of one CNC position are added up; the average is weighted over the parts held long.
    """
    parts: dict[tuple[str, str, str], list[tuple[Decimal, Decimal]]] = {}
    for row in positions.get("net") or []:
        key = (str(row["tradingsymbol"]), str(row["exchange"]), str(row.get("product") or ""))
        parts.setdefault(key, []).append(
            (number(row["quantity"], "quantity"), number(row.get("average_price"), "average")))
    for row in holdings:
        held = number(row["quantity"], "quantity") + number(row.get("t1_quantity"), "t1")
        key = (str(row["tradingsymbol"]), str(row["exchange"]), str(row.get("product") or "CNC"))
        parts.setdefault(key, []).append((held, number(row.get("average_price"), "average")))
    return [BrokerPosition(symbol=symbol, exchange=exchange, product=product or None,
                           quantity=sum((q for q, _ in rows), Decimal(0)),
                           avg_price=_weighted_average(rows))
            for (symbol, exchange, product), rows in parts.items()]


def _weighted_average(rows: list[tuple[Decimal, Decimal]]) -> Decimal:
    long = [(q, p) for q, p in rows if q > 0] or [(-q, p) for q, p in rows if q < 0]
    total = sum((q for q, _ in long), Decimal(0))
    if total == 0:
        return rows[0][1]
    return sum((q * p for q, p in long), Decimal(0)) / total


def parse_funds(margins: Mapping[str, Any]) -> BrokerFunds:
    """The equity segment of GET /user/margins: `net` is what can be traded with now."""
    equity = margins["equity"]
    utilised = equity.get("utilised") or {}
    return BrokerFunds(currency="INR", available_cash=number(equity["net"], "net"),
                       used_margin=number(utilised.get("debits"), "debits"))


def _envelope(body: bytes) -> tuple[str, str]:
    try:
        payload = loads(body)
    except ValueError:
        return "", ""
    if not isinstance(payload, dict):
        return "", ""
    return str(payload.get("error_type") or ""), str(payload.get("message") or "")


def _retry_after(header: str | None) -> dict[str, float]:
    text = (header or "").strip()
    return {"retry_after": float(text)} if text.isdigit() else {}


def error_for(http_status: int, body: bytes, *, changes_state: bool,
              retry_after: str | None = None) -> BrokerError:
    """The error class of a Kite error answer to a state-changing call or a read."""
    error_type, message = _envelope(body)
    text = f"Kite: {message}" if message else f"Kite answered HTTP {http_status}"
    code = error_type or f"http_{http_status}"
    if http_status == 429:
        return RateLimited(text, broker=BROKER, code="rate_limited",
                           details=_retry_after(retry_after))
    if _NOT_FOUND_PHRASE in message.lower():
        return OrderNotFound(text, broker=BROKER, code="order_not_found")
    if error_type == "TokenException" or (http_status == 403 and error_type not in REFUSALS):
        return SessionExpired(text, broker=BROKER, code=code)
    if error_type in REFUSALS or (400 <= http_status < 500 and error_type not in OUTAGES):
        return Rejected(text, broker=BROKER, code=code)
    if changes_state:
        return Unknown(text, broker=BROKER, code=code)
    return NotSent(text, broker=BROKER, code=code)


def unwrap(http_status: int, body: bytes, *, changes_state: bool,
           retry_after: str | None = None) -> Any:
    """The `data` of a success envelope, or raise the error the answer stands for."""
    if 200 <= http_status < 300:
        try:
            envelope = loads(body)
        except ValueError:
            envelope = None
        if isinstance(envelope, dict) and envelope.get("status") == "success":
            return envelope.get("data")
        if not isinstance(envelope, dict) or envelope.get("status") != "error":
            kind = Unknown if changes_state else NotSent
            raise kind(f"Kite sent an unreadable answer (HTTP {http_status})", broker=BROKER,
                       code="unreadable_answer")
    raise error_for(http_status, body, changes_state=changes_state, retry_after=retry_after)


def _sha256(*parts: str) -> str:
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def postback_checksum(order_id: str, order_timestamp: str, api_secret: str) -> str:
    """Kite's postback checksum: hex SHA-256 of order_id + order_timestamp + api_secret."""
    return _sha256(order_id, order_timestamp, api_secret)


def postback_checksum_ok(body: bytes, api_secret: str) -> bool:
    """True if the postback `body` carries the checksum only `api_secret`'s holder can make."""
    if not api_secret:
        return False
    try:
        payload = loads(body)
    except ValueError:
        return False
    if not isinstance(payload, dict):
        return False
    order_id, stamp, given = (payload.get(k) for k in ("order_id", "order_timestamp", "checksum"))
    if not (isinstance(order_id, str) and isinstance(stamp, str) and isinstance(given, str)):
        return False
    expected = postback_checksum(order_id, stamp, api_secret)
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def parse_webhook(body: bytes) -> WebhookTrigger:
    """The order a postback names; raises ValueError/KeyError if it is not a Kite postback."""
    payload = loads(body)
    if not isinstance(payload, dict):
        raise ValueError("a Kite postback is a JSON object")
    order_id, user_id, status = payload["order_id"], payload["user_id"], payload["status"]
    if not (isinstance(order_id, str) and order_id and isinstance(user_id, str) and user_id):
        raise ValueError("a Kite postback names its order_id and user_id")
    tag = payload.get("tag")
    return WebhookTrigger(broker_order_id=order_id, tag=tag if isinstance(tag, str) else None,
                          broker_user_id=user_id, raw_status=str(status))


def session_checksum(api_key: str, token: str, api_secret: str) -> str:
    """The login checksum: hex SHA-256 of api_key + request (or refresh) token + api_secret."""
    return _sha256(api_key, token, api_secret)


def session_expiry(now: datetime) -> datetime:
    """When a token issued at `now` expires: the next 06:00 in India."""
    return next_ist(now, TOKEN_EXPIRY_TIME)


def session_from(data: Any, *, api_key: str, api_secret: str, now: datetime,
                 previous_refresh_token: str = "") -> BrokerSession:
    """The session in the `data` of /session/token or /session/refresh_token."""
    if not isinstance(data, Mapping):
        raise TypeError("Kite's session answer is not an object")
    access_token, user_id = data.get("access_token"), data.get("user_id")
    if not (isinstance(access_token, str) and access_token and isinstance(user_id, str)):
        raise ValueError("Kite's session answer lacks access_token or user_id")
    refresh = data.get("refresh_token")
    return BrokerSession(
        api_key=api_key, api_secret=api_secret, access_token=access_token,
        refresh_token=refresh if isinstance(refresh, str) and refresh else previous_refresh_token,
        broker_user_id=user_id, expires_at=session_expiry(now))
