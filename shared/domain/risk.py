"""Pre-trade checks: order shape against the instrument, buying-power reservation, free position."""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_UP, Decimal, localcontext
from typing import Final

from shared.domain.enums import OrderType, Side, TimeInForce
from shared.domain.errors import InsufficientBuyingPower, InsufficientPosition, InvalidOrder
from shared.domain.fees import FeeSchedule, order_fee
from shared.domain.values import (
    ARITHMETIC,
    MAX_NOTIONAL,
    MAX_PRICE,
    MAX_QUANTITY,
    MONEY_PLACES,
    check_amount,
    is_multiple,
    quantize_money,
    shown,
)

PRICED_TYPES: Final = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
STOP_TYPES: Final = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
MAX_TRAIL_PERCENT: Final = Decimal(50)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a client asks for, before any check."""

    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    time_in_force: TimeInForce
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    expire_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("quantity", "price", "stop_price", "trail_price", "trail_percent"):
            value = getattr(self, name)
            if isinstance(value, float):
                raise TypeError(f"{name} must be a Decimal, was float {value!r}")


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable symbol with its currency, tick size and lot size."""

    symbol: str
    currency: str
    tick_size: Decimal
    lot_size: Decimal
    exchange: str = ""


def _invalid(message: str, field: str, value: object = None) -> InvalidOrder:
    details: dict[str, object] = {"field": field}
    if value is not None:
        details["value"] = str(value)
    return InvalidOrder(message, details=details)


def _check_number(name: str, value: Decimal, maximum: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise _invalid(f"{name} must be a finite number, was {value}", name, value)
    if value <= 0:
        raise _invalid(f"{name} must be positive, was {shown(value)}", name, shown(value))
    try:
        check_amount(value, field=name, maximum=maximum)
    except ValueError as exc:
        raise _invalid(str(exc), name, shown(value)) from None


def _check_notional(unit: Decimal, quantity: Decimal, what: str) -> Decimal:
    """Return unit × quantity, refused (naming quantity) past what the cash columns hold."""
    with localcontext(ARITHMETIC):
        amount = unit * quantity
    if amount > MAX_NOTIONAL:
        raise _invalid(
            f"quantity × {what} must be at most {MAX_NOTIONAL}, was {shown(amount)}",
            "quantity", shown(quantity))
    return amount


def _check_price(
    name: str, value: Decimal | None, required: bool, tick: Decimal, kind: str
) -> None:
    if value is None:
        if required:
            raise _invalid(f"{name} is required for a {kind} order", name)
        return
    if not required:
        raise _invalid(f"{name} must be omitted for a {kind} order, was {value}", name, value)
    _check_number(name, value, MAX_PRICE)
    if not is_multiple(value, tick):
        raise _invalid(
            f"{name} must be a multiple of the tick size {tick}, was {value}", name, value
        )


def validate_order(req: OrderRequest, instrument: Instrument | None,
                   now: datetime | None = None) -> None:
    """Raise InvalidOrder, naming the field, unless the request fits the instrument's rules.

    With `now`, a GTD order's expire_at must also lie after it.
    """
    if instrument is None:
        raise _invalid(f"unknown symbol {req.symbol}", "symbol", req.symbol)
    _check_number("quantity", req.quantity, MAX_QUANTITY)
    if not is_multiple(req.quantity, instrument.lot_size):
        raise _invalid(
            f"quantity must be a multiple of the lot size {instrument.lot_size}, "
            f"was {req.quantity}",
            "quantity",
            req.quantity,
        )
    kind = req.order_type.value
    tick = instrument.tick_size
    _check_price("price", req.price, req.order_type in PRICED_TYPES, tick, kind)
    _check_price("stop_price", req.stop_price, req.order_type in STOP_TYPES, tick, kind)
    _check_trail(req, tick)
    _check_expiry(req, now)
    for name in ("price", "stop_price", "trail_price"):
        if (unit := getattr(req, name)) is not None:
            _check_notional(unit, req.quantity, name)


def _check_trail(req: OrderRequest, tick: Decimal) -> None:
    trailing = req.order_type is OrderType.TRAILING_STOP
    if not trailing:
        for name in ("trail_price", "trail_percent"):
            if (value := getattr(req, name)) is not None:
                raise _invalid(f"{name} is only for a TRAILING_STOP order, was {value}", name,
                               value)
        return
    if (req.trail_price is None) == (req.trail_percent is None):
        raise _invalid("a TRAILING_STOP order needs exactly one of trail_price and "
                       "trail_percent", "trail_price")
    if req.trail_price is not None:
        _check_price("trail_price", req.trail_price, True, tick, "TRAILING_STOP")
    if req.trail_percent is not None:
        _check_number("trail_percent", req.trail_percent, MAX_TRAIL_PERCENT)


def _check_expiry(req: OrderRequest, now: datetime | None) -> None:
    if req.time_in_force is not TimeInForce.GTD:
        if req.expire_at is not None:
            raise _invalid(f"expire_at is only for a GTD order, was {req.expire_at.isoformat()}",
                           "expire_at", req.expire_at.isoformat())
        return
    if req.expire_at is None:
        raise _invalid("expire_at is required for a GTD order", "expire_at")
    if req.expire_at.tzinfo is None:
        raise _invalid("expire_at must name its time zone, as in 2026-12-31T21:00:00Z",
                       "expire_at", req.expire_at.isoformat())
    if now is not None and req.expire_at <= now:
        raise _invalid(f"expire_at must be in the future, was {req.expire_at.isoformat()}",
                       "expire_at", req.expire_at.isoformat())


def reservation(req: OrderRequest, reference_price: Decimal | None, cushion: Decimal,
                fees: FeeSchedule | None = None) -> Decimal:
    """Return the cash to reserve for an order (zero for a SELL), rounded up to MONEY_PLACES.

    LIMIT and STOP_LIMIT reserve price × quantity; MARKET reserves the reference price plus the
    cushion; STOP reserves the stop price plus the cushion; TRAILING_STOP the reference price
    plus its trail, plus the cushion. With `fees`, the most the order can pay in fees on top.
    """
    if cushion < 0:
        raise ValueError(f"cushion must not be negative, was {cushion}")
    if req.side is Side.SELL:
        return quantize_money(Decimal(0), MONEY_PLACES, ROUND_UP)
    if req.order_type in PRICED_TYPES:
        if req.price is None:
            raise _invalid(f"price is required for a {req.order_type.value} order", "price")
        unit, what = req.price, "price"
    elif req.order_type is OrderType.STOP:
        if req.stop_price is None:
            raise _invalid("stop_price is required for a STOP order", "stop_price")
        unit, what = _cushioned(req.stop_price, cushion), f"stop_price × {1 + cushion}"
    elif req.order_type is OrderType.TRAILING_STOP:
        if reference_price is None:
            raise _invalid(f"no quote for {req.symbol}", "symbol", req.symbol)
        # A BUY trailing stop triggers at most its trail above the lowest ask, which is no
        # higher than the ask now.
        unit, what = (_cushioned(_trailed(reference_price, req), cushion),
                      f"(ask + trail) × {1 + cushion}")
    else:
        if reference_price is None:
            raise _invalid(f"no quote for {req.symbol}", "symbol", req.symbol)
        unit, what = _cushioned(reference_price, cushion), f"ask × {1 + cushion}"
    notional = _check_notional(unit, req.quantity, what)
    if fees is not None:
        with localcontext(ARITHMETIC):
            notional += order_fee(fees, req.quantity, notional)
    return quantize_money(notional, MONEY_PLACES, ROUND_UP)


def _trailed(price: Decimal, req: OrderRequest) -> Decimal:
    with localcontext(ARITHMETIC):
        if req.trail_price is not None:
            return price + req.trail_price
        assert req.trail_percent is not None, "a trailing stop has a trail"
        return price * (1 + req.trail_percent / 100)


def _cushioned(price: Decimal, cushion: Decimal) -> Decimal:
    with localcontext(ARITHMETIC):
        return price * (1 + cushion)


def check_buying_power(required: Decimal, available: Decimal) -> None:
    """Raise InsufficientBuyingPower when `required` exceeds `available`."""
    if required > available:
        raise InsufficientBuyingPower(
            f"insufficient buying power: the order needs {required}, available is {available}",
            details={"field": "quantity", "required": str(required), "available": str(available)},
        )


def check_free_position(qty: Decimal, free: Decimal) -> None:
    """Raise InsufficientPosition when selling `qty` exceeds the `free` (unreserved) position."""
    if qty > free:
        raise InsufficientPosition(
            f"insufficient position: selling {qty} needs {qty} free, available is {free}",
            details={"field": "quantity", "required": str(qty), "available": str(free)},
        )
