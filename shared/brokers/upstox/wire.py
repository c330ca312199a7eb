"""Upstox's wire format (pure): statuses, order payloads, answers, errors and the webhook.

Sources: upstox.com/developer/api-documentation (v3/place-order, v3/modify-order,
v3/cancel-order, get-order-details, get-order-history, get-trade-history, get-trades-by-order,
get-user-fund-margin, get-token, error-codes, webhook, appendix order status) and the
swagger models of upstox/upstox-python (OrderBookData, TradeData, PositionData, Problem).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
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

BROKER: Final = Broker.UPSTOX

# Documented error codes (error-codes page, cancel-order page).
RATE_LIMITED: Final = "UDAPI10005"
INVALID_TOKEN: Final = "UDAPI100050"
INVALID_CREDENTIALS: Final = "UDAPI100016"
ORDER_NOT_FOUND: Final = "UDAPI100010"

_S = OrderStatus
# Every status of the order-status appendix. Modify/cancel refusals ("not modified",
# "not cancelled") leave the order working; partial fills come from quantities, not from here.
STATUS_MAP: Final[Mapping[str, OrderStatus]] = MappingProxyType({
    "put order req received": _S.SUBMITTED,
    "validation pending": _S.SUBMITTED,
    "open pending": _S.SUBMITTED,
    "after market order req received": _S.SUBMITTED,
    "open": _S.ACCEPTED,
    "trigger pending": _S.ACCEPTED,
    "modify validation pending": _S.ACCEPTED,
    "modify pending": _S.ACCEPTED,
    "modify after market order req received": _S.ACCEPTED,
    "modified": _S.ACCEPTED,
    "not modified": _S.ACCEPTED,
    "not cancelled": _S.ACCEPTED,
    "cancel pending": _S.PENDING_CANCEL,
    "cancelled": _S.CANCELED,
    "cancelled after market order": _S.CANCELED,
    "rejected": _S.REJECTED,
    "complete": _S.FILLED,
})

PRODUCTS: Final[Mapping[Product, str]] = MappingProxyType({Product.CNC: "D", Product.MIS: "I"})
_PRODUCT_NAMES: Final = MappingProxyType({code: p.value for p, code in PRODUCTS.items()})
ORDER_TYPES: Final[Mapping[OrderType, str]] = MappingProxyType({
    OrderType.MARKET: "MARKET", OrderType.LIMIT: "LIMIT",
    OrderType.STOP: "SL-M", OrderType.STOP_LIMIT: "SL",
})
VALIDITIES: Final[Mapping[TimeInForce, str]] = MappingProxyType(
    {TimeInForce.DAY: "DAY", TimeInForce.IOC: "IOC"})
_PRICED: Final = frozenset({"LIMIT", "SL"})
_TRIGGERED: Final = frozenset({"SL", "SL-M"})
_UNPRICED: Final = frozenset({"MARKET", "SL-M"})
_TIME_FORMATS: Final = ("%d-%b-%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S")


def map_status(raw: str) -> OrderStatus:
    """Our status for an Upstox status string; an unknown one is treated as still in flight."""
    return STATUS_MAP.get(raw.strip().lower(), _S.SUBMITTED)


def _refuse(message: str, field: str) -> Rejected:
    return Rejected(message, broker=BROKER, code="unsupported", details={"field": field})


def instrument_key(request: PlaceRequest) -> str:
    """The instrument_token of an equity: "NSE_EQ|<ISIN>" unless refs name it outright."""
    instrument = request.instrument
    named = instrument.refs.get("upstox", {}).get("instrument_key")
    if named:
        return named
    if not instrument.isin:
        raise _refuse(f"upstox names securities by ISIN and {instrument.symbol} has none",
                      "symbol")
    return f"{instrument.exchange}_EQ|{instrument.isin}"


def _whole(quantity: Decimal) -> int:
    if quantity != quantity.to_integral_value() or quantity <= 0:
        raise _refuse(f"upstox takes a positive whole number of shares, was {quantity}",
                      "quantity")
    return int(quantity)


def _product(product: Product | None) -> str:
    code = PRODUCTS.get(product or Product.CNC)
    if code is None:
        raise _refuse(f"upstox does not offer product {product} for equities", "product")
    return code


def _validity(tif: TimeInForce) -> str:
    if tif not in VALIDITIES:
        raise _refuse(f"upstox does not support time in force {tif.value}", "time_in_force")
    return VALIDITIES[tif]


def _prices(order_type: str, price: Decimal | None, stop: Decimal | None) -> dict[str, Any]:
    # Upstox wants both fields present; 0 where the order type does not use them.
    if order_type in _PRICED and price is None:
        raise _refuse(f"a {order_type} order needs a limit price", "price")
    if order_type in _TRIGGERED and stop is None:
        raise _refuse(f"a {order_type} order needs a trigger price", "stop_price")
    return {"price": price if order_type in _PRICED else Decimal(0),
            "trigger_price": stop if order_type in _TRIGGERED else Decimal(0)}


def _protection(order_type: str, market_protection: Decimal) -> dict[str, Any]:
    # Upstox's market_protection is optional: automatic means leaving it to Upstox's default.
    if order_type in _UNPRICED and market_protection != AUTOMATIC_PROTECTION:
        return {"market_protection": market_protection}
    return {}


def place_payload(request: PlaceRequest,
                  market_protection: Decimal = AUTOMATIC_PROTECTION) -> dict[str, Any]:
    """The body of POST /v3/order/place; `tag` carries our id, slicing is off (one order).

    A MARKET or SL-M order carries a chosen `market_protection` percentage.
    """
    order_type = ORDER_TYPES[request.order_type]
    return {
        "quantity": _whole(request.quantity), "product": _product(request.product),
        "validity": _validity(request.time_in_force), "tag": request.tag,
        "instrument_token": instrument_key(request), "order_type": order_type,
        "transaction_type": request.side.value, "disclosed_quantity": 0, "is_amo": False,
        "slice": False, **_prices(order_type, request.price, request.stop_price),
        **_protection(order_type, market_protection),
    }


def modify_payload(broker_order_id: str, change: Modify, current: Mapping[str, Any],
                   market_protection: Decimal = AUTOMATIC_PROTECTION) -> dict[str, Any]:
    """The body of PUT /v3/order/modify: `change` over the order as Upstox reports it now.

    validity, price, order_type and trigger_price are required, so unchanged ones are sent
    as the broker holds them.
    """
    order_type = (ORDER_TYPES[change.order_type] if change.order_type is not None
                  else str(current["order_type"]))
    price = change.price if change.price is not None else _decimal(current.get("price"))
    stop = (change.stop_price if change.stop_price is not None
            else _decimal(current.get("trigger_price")))
    quantity = change.quantity if change.quantity is not None else _decimal(current["quantity"])
    return {"order_id": broker_order_id, "quantity": _whole(quantity),
            "validity": str(current.get("validity") or "DAY"), "order_type": order_type,
            "disclosed_quantity": 0, **_prices(order_type, price, stop),
            **_protection(order_type, market_protection)}


def dumps(payload: Mapping[str, Any]) -> bytes:
    """JSON for a flat payload with exact decimal numbers (json.dumps knows no Decimal)."""
    items = (f"{json.dumps(key)}:{_json_value(value)}" for key, value in payload.items())
    return ("{" + ",".join(items) + "}").encode()


def _json_value(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value}")
        return format(value, "f")
    if value is None or isinstance(value, bool | int | str):
        return json.dumps(value)
    raise TypeError(f"cannot send {type(value).__name__} to upstox: {value!r}")


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"expected a number, got {value!r}")
    return Decimal(value)


def _optional_decimal(value: Any) -> Decimal | None:
    return None if value is None or value == "" else _decimal(value)


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def data_of(envelope: Any) -> Any:
    """The `data` of a success envelope; ValueError for anything else."""
    if not isinstance(envelope, dict) or envelope.get("status") != "success":
        raise ValueError("not an upstox success envelope")
    return envelope["data"]


def placed_order_id(data: Mapping[str, Any]) -> str:
    """The one order id in the data of a v3 place answer (we never ask for slicing)."""
    ids = data["order_ids"]
    if not isinstance(ids, list) or len(ids) != 1 or not ids[0]:
        raise ValueError(f"expected exactly one order id, got {ids!r}")
    return str(ids[0])


def parse_order(row: Mapping[str, Any]) -> BrokerOrder:
    """A BrokerOrder from an order-details / order-book / history row."""
    raw_status = str(row["status"])
    quantity = _decimal(row["quantity"])
    filled = _decimal(row.get("filled_quantity") or 0)
    order_type = str(row.get("order_type") or "")
    return BrokerOrder(
        broker_order_id=identifier(row["order_id"]),
        status=canonical_status(map_status(raw_status), quantity, filled),
        raw_status=raw_status, quantity=quantity, filled_quantity=filled,
        tag=_text(row.get("tag")),
        price=_optional_decimal(row.get("price")) if order_type in _PRICED else None,
        avg_price=_optional_decimal(row.get("average_price")) if filled > 0 else None,
        message=_text(row.get("status_message")) or _text(row.get("status_message_raw")))


def latest_by_order(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The last row of each order in a history answer (rows come oldest first)."""
    latest: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        latest[identifier(row["order_id"])] = row
    return list(latest.values())


def parse_time(value: Any) -> datetime:
    """An Upstox timestamp (IST, "03-Aug-2017 15:03:42" or "2023-10-19 13:25:13")."""
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(str(value), fmt).replace(tzinfo=IST)
        except ValueError:
            continue
    raise ValueError(f"unreadable upstox timestamp {value!r}")


def parse_fill(row: Mapping[str, Any]) -> BrokerFill:
    """A BrokerFill from a trade row (average_price is the trade's price)."""
    stamp = row.get("exchange_timestamp") or row.get("order_timestamp")
    return BrokerFill(exec_id=identifier(row["trade_id"]),
                      broker_order_id=identifier(row["order_id"]),
                      quantity=_decimal(row["quantity"]), price=_decimal(row["average_price"]),
                      executed_at=parse_time(stamp))


def parse_position(row: Mapping[str, Any]) -> BrokerPosition:
    """A BrokerPosition from a short-term-positions row; "-EQ" series suffixes dropped."""
    symbol = str(row.get("trading_symbol") or row["tradingsymbol"])
    symbol = symbol.removesuffix("-EQ")
    product = _text(row.get("product"))
    return BrokerPosition(symbol=symbol, exchange=str(row["exchange"]),
                          quantity=_decimal(row["quantity"]),
                          avg_price=_optional_decimal(row.get("average_price")) or Decimal(0),
                          product=_PRODUCT_NAMES.get(product or "", product))


def parse_positions(positions: Sequence[Mapping[str, Any]],
                    holdings: Sequence[Mapping[str, Any]]) -> list[BrokerPosition]:
    """Short-term positions and long-term holdings, one row per symbol, exchange and product.

    A delivery buy is a short-term position on its day and a holding once settled (t1 until
    then), so both parts of one delivery position are added up, the average weighted over them.
    """
    parts: dict[tuple[str, str, str | None], list[BrokerPosition]] = {}
    for row in positions:
        position = parse_position(row)
        parts.setdefault((position.symbol, position.exchange, position.product), []).append(
            position)
    for row in holdings:
        held = parse_position(row)
        held = replace(held, quantity=held.quantity + _decimal(row.get("t1_quantity") or 0))
        parts.setdefault((held.symbol, held.exchange, held.product), []).append(held)
    return [_merged(rows) for rows in parts.values()]


def _merged(rows: list[BrokerPosition]) -> BrokerPosition:
    quantity = sum((row.quantity for row in rows), Decimal(0))
    weights = [row for row in rows if row.quantity > 0] or rows
    total = sum((abs(row.quantity) for row in weights), Decimal(0))
    average = (sum((abs(row.quantity) * row.avg_price for row in weights), Decimal(0)) / total
               if total else rows[0].avg_price)
    return replace(rows[0], quantity=quantity, avg_price=average)


def parse_funds(data: Mapping[str, Any]) -> BrokerFunds:
    """BrokerFunds from the equity segment of get-funds-and-margin."""
    equity = data["equity"]
    return BrokerFunds(currency="INR", available_cash=_decimal(equity["available_margin"]),
                       used_margin=_decimal(equity.get("used_margin") or 0))


def _problems(body: bytes) -> list[Mapping[str, Any]]:
    try:
        envelope = loads(body)
    except ValueError:
        return []
    errors = envelope.get("errors") if isinstance(envelope, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def error_from(status_code: int, body: bytes, *, changes_state: bool,
               retry_after: str | None = None) -> BrokerError:
    """The error an Upstox refusal means, from its HTTP status and error envelope."""
    problems = _problems(body)
    codes = [str(p.get("errorCode") or p.get("error_code") or "") for p in problems]
    code = codes[0] if codes else ""
    said = "; ".join(str(p.get("message")) for p in problems if p.get("message"))
    message = f"upstox answered HTTP {status_code}" + (f": {said}" if said else "")
    details: dict[str, Any] = {"http_status": status_code, "error_codes": codes}
    if status_code == 429 or RATE_LIMITED in codes:
        if retry_after and retry_after.strip().isdigit():
            details["retry_after"] = int(retry_after)
        return RateLimited(message, broker=BROKER, code=code or RATE_LIMITED, details=details)
    if INVALID_TOKEN in codes or (status_code == 401 and INVALID_CREDENTIALS not in codes):
        return SessionExpired(f"{message}; log in to Upstox again for a new access token",
                              broker=BROKER, code=code or INVALID_TOKEN, details=details)
    if ORDER_NOT_FOUND in codes:
        return OrderNotFound(message, broker=BROKER, code=code, details=details)
    if status_code == 503:
        # Documented as "temporarily offline for maintenance": nothing was processed.
        return NotSent(message, broker=BROKER, code=code or "unavailable", details=details)
    if status_code >= 500:
        kind = Unknown if changes_state else NotSent
        return kind(message, broker=BROKER, code=code or "server_error", details=details)
    return Rejected(message, broker=BROKER, code=code or "rejected", details=details)


def parse_webhook(body: bytes) -> WebhookTrigger:
    """The order a webhook delivery names (the payload of the order update stream)."""
    update = loads(body)
    if not isinstance(update, dict):
        raise ValueError("an upstox webhook body is a JSON object")
    if update.get("update_type", "order") != "order":
        raise ValueError(f"not an order update: {update.get('update_type')!r}")
    order_id = update["order_id"]
    if not isinstance(order_id, str) or not order_id:
        raise ValueError("an upstox order update names its order_id")
    return WebhookTrigger(broker_order_id=order_id, tag=_text(update.get("tag")),
                          broker_user_id=_text(update.get("user_id") or update.get("userId")),
                          raw_status=_text(update.get("status")))


def token_expiry(now: datetime) -> datetime:
    """When a token issued at `now` expires: the next 03:30 IST (get-token page)."""
    return next_ist(now, time(3, 30))
