"""Decimal values: conversion that refuses floats, and rounding at named boundaries only.

Every database column for prices, quantities and amounts is NUMERIC(24,8), so anything we store is
quantized to 8 decimal places with an explicit rounding mode; arithmetic runs in `ARITHMETIC`, a
context wide enough that no intermediate product is rounded before that boundary.
"""

from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Final

PRICE_PLACES: Final = Decimal("0.00000001")
QTY_PLACES: Final = Decimal("0.00000001")
# Scale of the NUMERIC(24,8) ledger columns: cash, realized P&L, average prices.
LEDGER_PLACES: Final = Decimal("0.00000001")
# Default scale for money shown to users and reserved for orders.
MONEY_PLACES: Final = Decimal("0.0001")

ZERO: Final = Decimal(0)

# Inputs are bounded well inside NUMERIC(24,8) (16 integer digits), so that what the ledger
# computes from them (a reservation, cash after a fill, sums of those) fits as well.
AMOUNT_DECIMALS: Final = 8
MAX_QUANTITY: Final = Decimal("1000000000")  # 1e9 shares or units in one order
MAX_PRICE: Final = Decimal("1000000000")  # 1e9 per unit, in the instrument's currency
MAX_NOTIONAL: Final = Decimal("1000000000000")  # 1e12: price × quantity, or a reservation

# 24 digits stored; 50 digits of working precision keep products of two stored values exact.
ARITHMETIC: Final = Context(
    prec=50, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)


def to_decimal(value: Decimal | str | int, *, field: str = "value") -> Decimal:
    """Convert a Decimal, string or integer to a finite Decimal; refuse floats and booleans."""
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        kind = type(value).__name__
        raise TypeError(
            f"{field} must be a Decimal, a decimal string or an integer, was {kind} {value!r}"
        )
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{field} must be a number, was {value!r}") from None
    else:
        result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"{field} must be a finite number, was {value}")
    return result


def require_decimal(value: object, *, field: str) -> Decimal:
    """Return `value` if it is a finite Decimal; raise TypeError or ValueError otherwise."""
    if not isinstance(value, Decimal):
        kind = type(value).__name__
        raise TypeError(f"{field} must be a Decimal, was {kind} {value!r}")
    if not value.is_finite():
        raise ValueError(f"{field} must be a finite number, was {value}")
    return value


def check_amount(value: Decimal, *, field: str, maximum: Decimal) -> Decimal:
    """Return `value` if it is finite, within ±`maximum` and has at most 8 decimal places.

    Raise ValueError naming `field` otherwise; more places are refused, never rounded away.
    The sign is the caller's rule (a quantity must be positive, a P&L need not be).
    """
    if not value.is_finite():
        raise ValueError(f"{field} must be a finite number, was {value}")
    if value > maximum:
        raise ValueError(f"{field} must be at most {maximum}, was {shown(value)}")
    if value < -maximum:
        raise ValueError(f"{field} must be at least -{maximum}, was {shown(value)}")
    # Most amounts have 8 places or fewer, and the exponent says so without quantizing.
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked above
    if exponent < -AMOUNT_DECIMALS and value != to_ledger(value):
        raise ValueError(
            f"{field} must have at most {AMOUNT_DECIMALS} decimal places, was {shown(value)}"
        )
    return value


def decimal_str(value: Decimal) -> str:
    """Render an amount without exponent or padding zeros: Decimal('100.00000000') → '100'."""
    return format(value.normalize(), "f")


def shown(value: Decimal) -> str:
    """Write a Decimal for an error message: in full, or in 6 significant digits if long."""
    text = str(value)
    return text if len(text) <= 32 else f"{value:.5E}"


def quantize_price(price: Decimal, tick: Decimal, *, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """Round a price to the nearest multiple of the tick size with the given rounding mode."""
    if tick <= 0:
        raise ValueError(f"tick size must be positive, was {tick}")
    with localcontext(ARITHMETIC):
        return (price / tick).to_integral_value(rounding=rounding) * tick


def quantize_money(
    amount: Decimal, places: Decimal = MONEY_PLACES, rounding: str = ROUND_HALF_EVEN
) -> Decimal:
    """Round an amount to `places` (a power of ten, e.g. Decimal("0.01")) with `rounding`."""
    return amount.quantize(places, rounding=rounding, context=ARITHMETIC)


def to_ledger(amount: Decimal) -> Decimal:
    """Round an amount or average price to the stored scale of 8 places, half to even."""
    return amount.quantize(LEDGER_PLACES, rounding=ROUND_HALF_EVEN, context=ARITHMETIC)


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """Tell whether `value` is an exact multiple of `step` (a tick or lot size)."""
    if step <= 0:
        raise ValueError(f"step must be positive, was {step}")
    with localcontext(ARITHMETIC):
        return value % step == 0
