"""Groww Trade API wire format (pure): statuses, payloads, parsers, errors, webhook, login.

Sources: groww.in/trade-api/docs/curl (envelope, error codes GA000-GA007), .../curl/orders,
.../curl/portfolio, .../curl/annexures (status, order type, product, validity enums) and the
growwapi 1.5.0 SDK (paths, headers, HTTP status → exception map, token checksum).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, time
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

from shared.brokers.catalog import Broker, Product
from shared.brokers.india import IST, next_ist
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

GROWW: Final = Broker.GROWW
SEGMENT: Final = "CASH"
API_VERSION: Final = "1.0"
DUPLICATE_REFERENCE: Final = "GA007"
EXCHANGES: Final = frozenset({"NSE", "BSE"})

_S = OrderStatus
# Every status of the annexure, plus "OPEN", which the docs' own examples return. The executed
# family maps to a working status on purpose: canonical_status() then reads FILLED or
# PARTIALLY_FILLED from the quantities, since Groww says EXECUTED for a partial fill too.
STATUS_MAP: Final[Mapping[str, OrderStatus]] = MappingProxyType({
    "NEW": _S.SUBMITTED,
    "ACKED": _S.ACCEPTED,
    "OPEN": _S.ACCEPTED,
    "TRIGGER_PENDING": _S.ACCEPTED,
    "APPROVED": _S.ACCEPTED,
    "MODIFICATION_REQUESTED": _S.ACCEPTED,
    "EXECUTED": _S.ACCEPTED,
    "DELIVERY_AWAITED": _S.ACCEPTED,
    "COMPLETED": _S.ACCEPTED,
    "CANCELLATION_REQUESTED": _S.PENDING_CANCEL,
    "CANCELLED": _S.CANCELED,
    "REJECTED": _S.REJECTED,
    "FAILED": _S.REJECTED,
})
# A status Groww may add later: keep treating the order as live, so it is polled, not dropped.
UNKNOWN_STATUS: Final = _S.SUBMITTED

ORDER_TYPES: Final[Mapping[OrderType, str]] = MappingProxyType({
    OrderType.MARKET: "MARKET", OrderType.LIMIT: "LIMIT",
    OrderType.STOP: "SL_M", OrderType.STOP_LIMIT: "SL",
})
VALIDITY: Final[Mapping[TimeInForce, str]] = MappingProxyType({
    TimeInForce.DAY: "DAY", TimeInForce.IOC: "IOC",
})
_PRICED = frozenset({"LIMIT", "SL"})
_TRIGGERED = frozenset({"SL", "SL_M"})
# 8 to 20 characters, letters and digits, at most two hyphens (docs: order_reference_id).
_REFERENCE = re.compile(r"[A-Za-z0-9-]{8,20}")


def map_status(raw: str) -> OrderStatus:
    """Our status for a Groww order_status string (unknown strings stay live)."""
    return STATUS_MAP.get(raw.strip().upper(), UNKNOWN_STATUS)


def valid_reference(reference: str) -> bool:
    """True if Groww accepts `reference` as an order_reference_id."""
    return bool(_REFERENCE.fullmatch(reference)) and reference.count("-") <= 2


def headers(token: str) -> dict[str, str]:
    """The headers every Groww call carries (x-request-id is added per request)."""
    return {"Authorization": f"Bearer {token}", "Accept": "application/json",
            "Content-Type": "application/json", "X-API-VERSION": API_VERSION}


def encode(body: Mapping[str, str | int | Decimal | None]) -> bytes:
    """A flat JSON object with decimals written as exact JSON numbers, never through float."""
    parts = []
    for key, value in body.items():
        if isinstance(value, Decimal):
            text = format(value, "f")
        elif isinstance(value, bool) or not isinstance(value, str | int | None):
            raise TypeError(f"cannot send {key}={value!r} to groww")
        else:
            text = json.dumps(value)
        parts.append(f"{json.dumps(key)}:{text}")
    return ("{" + ",".join(parts) + "}").encode()


def _refuse(message: str) -> Rejected:
    return Rejected(message, broker=GROWW, code="invalid_request")


def _whole(quantity: Decimal) -> int:
    if quantity <= 0 or quantity != quantity.to_integral_value():
        raise _refuse(f"groww takes whole positive quantities, was {quantity}")
    return int(quantity)


def place_payload(request: PlaceRequest) -> dict[str, str | int | Decimal | None]:
    """The body of POST /v1/order/create; our tag travels as order_reference_id."""
    if not valid_reference(request.tag):
        raise _refuse(f"groww needs an order reference of 8-20 letters, digits and at most "
                      f"two hyphens, was {request.tag!r}")
    if request.time_in_force not in VALIDITY:
        raise _refuse(f"groww does not support time in force {request.time_in_force.value}")
    if request.instrument.exchange not in EXCHANGES:
        raise _refuse(f"groww does not trade on {request.instrument.exchange}")
    kind = ORDER_TYPES[request.order_type]
    if kind in _PRICED and request.price is None:
        raise _refuse(f"a {request.order_type.value} order needs a price")
    if kind in _TRIGGERED and request.stop_price is None:
        raise _refuse(f"a {request.order_type.value} order needs a stop price")
    return {
        "trading_symbol": request.instrument.symbol,
        "quantity": _whole(request.quantity),
        # The docs' market order example sends price 0.
        "price": request.price if kind in _PRICED else Decimal(0),
        "trigger_price": request.stop_price if kind in _TRIGGERED else None,
        "validity": VALIDITY[request.time_in_force],
        "exchange": request.instrument.exchange,
        "segment": SEGMENT,
        "product": (request.product or Product.CNC).value,
        "order_type": kind,
        "transaction_type": request.side.value,
        "order_reference_id": request.tag,
    }


def modify_payload(broker_order_id: str, change: Modify,
                   current: Mapping[str, Any]) -> dict[str, str | int | Decimal | None]:
    """The body of POST /v1/order/modify: Groww needs quantity and order_type every time,
    so what `change` leaves alone is taken from the order as it stands (`current`)."""
    kind = ORDER_TYPES[change.order_type] if change.order_type else str(current["order_type"])
    quantity = change.quantity if change.quantity is not None else _decimal(current["quantity"])
    price = change.price if change.price is not None else _optional(current.get("price"))
    trigger = (change.stop_price if change.stop_price is not None
               else _optional(current.get("trigger_price")))
    if kind in _PRICED and price is None:
        raise _refuse(f"a {kind} order needs a price")
    if kind in _TRIGGERED and trigger is None:
        raise _refuse(f"a {kind} order needs a trigger price")
    return {"quantity": _whole(quantity), "price": price if kind in _PRICED else None,
            "trigger_price": trigger if kind in _TRIGGERED else None,
            "groww_order_id": broker_order_id, "order_type": kind, "segment": SEGMENT}


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise TypeError(f"expected an exact number from groww, got {value!r}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"expected a finite number from groww, got {value!r}")
    return amount


def _optional(value: Any) -> Decimal | None:
    """A price, or None where Groww sends null or 0 (a market order's price)."""
    if value is None:
        return None
    amount = _decimal(value)
    return amount if amount else None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def parse_order(data: Mapping[str, Any]) -> BrokerOrder:
    """A BrokerOrder from an order detail / order list row."""
    raw = str(data.get("order_status") or "")
    quantity = _decimal(data.get("quantity") or 0)
    filled = _decimal(data.get("filled_quantity") or 0)
    return BrokerOrder(
        broker_order_id=identifier(data["groww_order_id"]), raw_status=raw,
        status=canonical_status(map_status(raw), quantity, filled), quantity=quantity,
        filled_quantity=filled, tag=_text(data.get("order_reference_id")),
        price=_optional(data.get("price")), avg_price=_optional(data.get("average_fill_price")),
        message=_text(data.get("remark")))


def parse_ack(data: Mapping[str, Any], request: PlaceRequest) -> BrokerOrder:
    """The order as the create call acknowledged it (quantities are the request's)."""
    raw = str(data.get("order_status") or "")
    return BrokerOrder(
        broker_order_id=identifier(data["groww_order_id"]), raw_status=raw, status=map_status(raw),
        quantity=request.quantity, filled_quantity=Decimal(0),
        tag=_text(data.get("order_reference_id")) or request.tag, price=request.price,
        message=_text(data.get("remark")))


def parse_time(value: str) -> datetime:
    """A Groww timestamp; naive ones are Indian market time."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=IST)


def parse_trades(data: Mapping[str, Any]) -> list[BrokerFill]:
    """The fills in a trade_list payload, in the order Groww lists them."""
    return [BrokerFill(exec_id=identifier(row["groww_trade_id"]),
                       broker_order_id=identifier(row["groww_order_id"]),
                       quantity=_decimal(row["quantity"]), price=_decimal(row["price"]),
                       executed_at=parse_time(str(row.get("trade_date_time")
                                                  or row["created_at"])))
            for row in data.get("trade_list") or []]


def parse_positions(data: Mapping[str, Any]) -> list[BrokerPosition]:
    """The rows of a positions payload (net quantity, net price in rupees)."""
    return [BrokerPosition(symbol=str(row["trading_symbol"]),
                           exchange=str(row.get("exchange") or ""),
                           quantity=_decimal(row.get("quantity") or 0),
                           avg_price=_decimal(row.get("net_price") or 0),
                           product=_text(row.get("product")))
            for row in data.get("positions") or []]


def parse_holdings(data: Mapping[str, Any]) -> list[BrokerPosition]:
    """The rows of a holdings payload: delivered shares, held as CNC.

    `quantity` is the documented net quantity of the holding (free, pledged and locked
    parts); Groww names no exchange for a demat holding, so it is recorded as NSE.
    """
    return [BrokerPosition(symbol=str(row["trading_symbol"]), exchange="NSE",
                           quantity=_decimal(row.get("quantity") or 0),
                           avg_price=_decimal(row.get("average_price") or 0),
                           product=Product.CNC.value)
            for row in data.get("holdings") or []]


def merge_positions(positions: Mapping[str, Any],
                    holdings: Mapping[str, Any]) -> list[BrokerPosition]:
    """Today's positions and the holdings, one row per symbol, exchange and product.

    A delivery buy is a CNC position on its day and a holding once delivered: both parts of
    one CNC position are added up, the average weighted over the parts held long.
    """
    parts: dict[tuple[str, str, str | None], list[BrokerPosition]] = {}
    for row in [*parse_positions(positions), *parse_holdings(holdings)]:
        parts.setdefault((row.symbol, row.exchange, row.product), []).append(row)
    return [_merged(rows) for rows in parts.values()]


def _merged(rows: list[BrokerPosition]) -> BrokerPosition:
    if len(rows) == 1:
        return rows[0]
    quantity = sum((row.quantity for row in rows), Decimal(0))
    weights = [row for row in rows if row.quantity > 0] or rows
    total = sum((abs(row.quantity) for row in weights), Decimal(0))
    average = (sum((abs(row.quantity) * row.avg_price for row in weights), Decimal(0)) / total
               if total else rows[0].avg_price)
    return replace(rows[0], quantity=quantity, avg_price=average)


def parse_funds(data: Mapping[str, Any]) -> BrokerFunds:
    """What can be spent, from a margins/detail/user payload.

    `clear_cash` is the gross balance; the delivery (CNC) balance available is what is left of
    it after the margin already used, so that is the buying power ordergate shows.
    """
    equity = data.get("equity_margin_details")
    if not isinstance(equity, Mapping) or equity.get("cnc_balance_available") is None:
        raise ValueError("groww's margins answer has no equity_margin_details."
                         "cnc_balance_available")
    return BrokerFunds(currency="INR", available_cash=_decimal(equity["cnc_balance_available"]),
                       used_margin=_decimal(data.get("net_margin_used") or 0))


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds > 0 else None


def classify(http_status: int, body: bytes, *, changes_state: bool, names_order: bool,
             retry_after: str | None = None) -> BrokerError:
    """The error a failed Groww answer stands for.

    `names_order`: the call named an existing groww_order_id, so "entity does not exist" means
    that order; on a place it means the instrument, a final refusal.
    """
    try:
        error = loads(body).get("error")
    except (ValueError, AttributeError):
        error = None
    if not isinstance(error, dict):
        error = {}
    code = str(error.get("code") or "") or None
    text = str(error.get("message") or error.get("displayMessage") or "")
    message = f"groww answered HTTP {http_status}" + (f" {code}: {text}" if code or text else "")
    details: dict[str, Any] = {"http_status": http_status}
    kind: type[BrokerError]
    if http_status == 429:
        details["retry_after"] = _retry_after(retry_after)
        return RateLimited(message, broker=GROWW, code=code or "rate_limited", details=details)
    if http_status == 401:
        return SessionExpired(message, broker=GROWW, code=code or "unauthorised", details=details)
    if http_status == 403 or code == "GA005":
        # growwapi: 403 is "the API token lacks the permission"; a new login would not help.
        return Rejected(f"groww refused: the API token lacks the permission for this call "
                        f"({message})", broker=GROWW, code=code or "forbidden", details=details)
    if code == "GA004" or (http_status == 404 and code is None):
        kind = OrderNotFound if names_order else Rejected
        return kind(message, broker=GROWW, code=code or "not_found", details=details)
    if code == "GA003":
        # "Unable to serve request currently": refused before any work was done.
        return NotSent(message, broker=GROWW, code=code, details=details)
    if http_status >= 500 or code == "GA000":
        kind = Unknown if changes_state else NotSent
        return kind(message, broker=GROWW, code=code or "server_error", details=details)
    return Rejected(message, broker=GROWW, code=code or "refused", details=details)


def read_payload(http_status: int, body: bytes, *, changes_state: bool, names_order: bool,
                 retry_after: str | None = None) -> dict[str, Any]:
    """The payload of a SUCCESS answer, or raise the classified error of any other."""
    try:
        envelope = loads(body)
    except ValueError:
        envelope = None
    failed = isinstance(envelope, dict) and envelope.get("status") == "FAILURE"
    if failed or not 200 <= http_status < 300:
        raise classify(http_status, body, changes_state=changes_state, names_order=names_order,
                       retry_after=retry_after)
    if not isinstance(envelope, dict):
        kind = Unknown if changes_state else NotSent
        raise kind(f"groww answered HTTP {http_status} without a JSON object",
                   broker=GROWW, code="malformed")
    payload = envelope.get("payload", envelope)
    return payload if isinstance(payload, dict) else {}


def parse_webhook(body: bytes) -> WebhookTrigger:
    """The order a relayed order-detail payload (bare or in its envelope) is about."""
    data = loads(body)
    if isinstance(data, dict) and isinstance(data.get("payload"), dict):
        data = data["payload"]
    if not isinstance(data, dict):
        raise ValueError("a groww order update is a JSON object")
    order_id = _text(data.get("groww_order_id"))
    tag = _text(data.get("order_reference_id"))
    if order_id is None and tag is None:
        raise ValueError("a groww order update names groww_order_id or order_reference_id")
    return WebhookTrigger(broker_order_id=order_id, tag=tag,
                          raw_status=_text(data.get("order_status")))


def checksum(api_secret: str, timestamp: int) -> str:
    """The approval-flow checksum: hex sha256 of api_secret followed by the timestamp."""
    return hashlib.sha256(f"{api_secret}{timestamp}".encode()).hexdigest()


def approval_body(api_secret: str, timestamp: int) -> dict[str, str | int | Decimal | None]:
    """The token request of the API key + secret flow (daily approval on Groww)."""
    return {"key_type": "approval", "checksum": checksum(api_secret, timestamp),
            "timestamp": timestamp}


def totp_body(totp: str) -> dict[str, str | int | Decimal | None]:
    """The token request of the API key + TOTP flow."""
    return {"key_type": "totp", "totp": totp.strip()}


def parse_token(body: bytes) -> str:
    """The access token in a token answer (a bare object, not the usual envelope)."""
    data = loads(body)
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise ValueError("groww's token answer carries no token")
    return token


def token_expiry(now: datetime) -> datetime:
    """When a token issued at `now` stops working: Groww expires them daily at 06:00 IST."""
    return next_ist(now, time(6, 0))
