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
