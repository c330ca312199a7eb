"""Pre-trade risk limits of an account: order value, position value, open orders, order rate.

Defaults come from settings; an account's own values (`accounts.risk_limits`, JSON) replace
them one by one. Every value is in the account's currency; None means no limit. Each rule
refused is a 422 with its own code (`<limit>_exceeded`) and details naming the limit, its
value and the order's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from decimal import Decimal, localcontext
from typing import Any, Final

from shared.domain.enums import OrderType, Side
from shared.domain.errors import Conflict, InvalidOrder
from shared.domain.risk import OrderRequest
from shared.domain.values import ARITHMETIC, MAX_NOTIONAL, check_amount

MAX_COUNT_LIMIT: Final = 1_000_000  # open orders or orders a second: beyond it, no limit at all
AMOUNT_LIMITS: Final = ("max_order_value", "max_position_value")
COUNT_LIMITS: Final = ("max_open_orders", "max_orders_per_second")


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """An account's limits; None: none."""

    max_order_value: Decimal | None = None
    max_position_value: Decimal | None = None
    max_open_orders: int | None = None
    max_orders_per_second: int | None = None

    def overridden_by(self, own: Mapping[str, Any]) -> RiskLimits:
        """Return these limits with an account's own values (stored JSON) in their place."""
        return replace(self, **parse_limits(own))

    def as_json(self) -> dict[str, str | int | None]:
        """The limits as JSON values: amounts as strings, counts as integers."""
        return {name: (plain(value) if isinstance(value, Decimal) else value)
                for name, value in asdict(self).items()}


LIMIT_NAMES: Final = tuple(item.name for item in fields(RiskLimits))


def plain(value: Decimal) -> str:
    """Write an amount without exponent or padding zeros (NUMERIC pads them): 2600, 600.2."""
    return format(value.normalize(), "f")


def parse_limits(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Read limits from JSON (amounts as strings or numbers); InvalidOrder naming the field.

    Returns name → Decimal (amounts), int (counts) or None (no limit of the account's own).
    """
    parsed: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in LIMIT_NAMES:
            raise _bad_limit(name, f"unknown risk limit {name}; known are "
                                   f"{', '.join(LIMIT_NAMES)}")
        parsed[name] = None if value is None else _parse_one(name, value)
    return parsed


def _parse_one(name: str, value: Any) -> Decimal | int:
    if name in COUNT_LIMITS:
        if isinstance(value, bool) or not isinstance(value, int) or not (
                1 <= value <= MAX_COUNT_LIMIT):
            raise _bad_limit(name, f"{name} must be a whole number from 1 to "
                                   f"{MAX_COUNT_LIMIT}, was {value!r}")
        return value
    try:
        amount = Decimal(str(value)) if isinstance(value, int | str | Decimal) else None
    except ArithmeticError:
        amount = None
    if isinstance(value, bool) or amount is None or not amount.is_finite() or amount <= 0:
        raise _bad_limit(name, f"{name} must be a positive amount, was {value!r}")
    try:
        check_amount(amount, field=name, maximum=MAX_NOTIONAL)
    except ValueError as exc:
        raise _bad_limit(name, str(exc)) from None
    return Decimal(format(amount, "f"))  # plain notation from here on: "5e4" is kept as 50000


def _bad_limit(name: str, message: str) -> InvalidOrder:
    return InvalidOrder(message, code="invalid_risk_limit",
                        details={"field": f"risk_limits.{name}"})


@dataclass(frozen=True, slots=True)
class Exposure:
    """What the account already has in play: open orders, and in the order's symbol the
    shares held and the unfilled quantity of its working BUY orders."""

    open_orders: int
    position_quantity: Decimal
    open_buy_quantity: Decimal


def needs_exposure(limits: RiskLimits, req: OrderRequest) -> bool:
    """Tell whether checking `req` against `limits` needs the account's exposure read."""
    return limits.max_open_orders is not None or (
        limits.max_position_value is not None and req.side is Side.BUY)


def needs_price(limits: RiskLimits, req: OrderRequest) -> bool:
    """Tell whether checking `req` needs the price it will trade at."""
    return limits.max_order_value is not None or (
        limits.max_position_value is not None and req.side is Side.BUY)


def unit_price(req: OrderRequest, touch: Decimal | None) -> Decimal | None:
    """The price an order's value is counted at: its limit, else its stop, else the touch
    (the ask for a BUY, the bid for a SELL) for MARKET and TRAILING_STOP orders."""
    if req.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        return req.price
    if req.order_type is OrderType.STOP:
        return req.stop_price
    return touch


def check_limits(req: OrderRequest, limits: RiskLimits, *, price: Decimal | None,
                 exposure: Exposure | None, currency: str) -> None:
    """Raise InvalidOrder (code `<limit>_exceeded`) for the first limit `req` would break."""
    if needs_price(limits, req) and price is None:
        raise InvalidOrder(f"no quote for {req.symbol} to count the order's value against the "
                           "account's risk limits", code="order_value_unknown",
                           details={"field": "symbol", "value": req.symbol})
    with localcontext(ARITHMETIC):
        if limits.max_order_value is not None:
            assert price is not None
            _at_most("max_order_value", req.quantity * price, limits.max_order_value,
                     currency, "quantity")
        if exposure is None:
            return
        if limits.max_position_value is not None and req.side is Side.BUY:
            assert price is not None
            shares = exposure.position_quantity + exposure.open_buy_quantity + req.quantity
            _at_most("max_position_value", shares * price, limits.max_position_value, currency,
                     "quantity")
        if limits.max_open_orders is not None:
            _at_most("max_open_orders", Decimal(exposure.open_orders + 1),
                     Decimal(limits.max_open_orders), None, "account_id")


def _at_most(limit: str, value: Decimal, maximum: Decimal, currency: str | None,
             field: str) -> None:
    if value <= maximum:
        return
    unit = f" {currency}" if currency else ""
    what = {"max_order_value": "the order's value",
            "max_position_value": "the position's value with this order and the working buys",
            "max_open_orders": "the open orders with this one"}[limit]
    details: dict[str, Any] = {"field": field, "limit": limit, "limit_value": plain(maximum),
                               "value": plain(value)}
    if currency:
        details["currency"] = currency
    raise InvalidOrder(f"{what} would be {plain(value)}{unit}, above the account's {limit} "
                       f"of {plain(maximum)}{unit}", code=f"{limit}_exceeded", details=details)


def order_rate_exceeded(limit: int, retry_after_seconds: float) -> InvalidOrder:
    """The refusal of an order past the account's max_orders_per_second."""
    return InvalidOrder(
        f"the account placed {limit} orders in the last second, its max_orders_per_second; "
        f"retry in {retry_after_seconds:.3f} s", code="max_orders_per_second_exceeded",
        details={"field": "account_id", "limit": "max_orders_per_second", "limit_value": limit,
                 "retry_after_seconds": retry_after_seconds})


def account_halted(account_id: str, since: str) -> Conflict:
    """The refusal of a new order while the account's kill switch is on."""
    return Conflict(f"account {account_id} is halted since {since}: it takes no new orders "
                    "until the halt is lifted", code="account_halted",
                    details={"field": "account_id", "value": account_id, "halted_at": since})
