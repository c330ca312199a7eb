"""Brokerage on the paper exchange: a broker's fee profile, charged fill by fill.

A profile charges per order, per share and in basis points of the traded value, with a
minimum and optional maxima (an amount, and basis points of the value) per order. Fills of one order
are charged so that their sum is always the fee of everything filled so far: the per-order
part and the minimum fall on the first fill, later fills pay only what they add.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Final

from shared.domain.values import ARITHMETIC, MONEY_PLACES

_BPS: Final = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """One broker profile's brokerage, in the account's currency."""

    per_order: Decimal = Decimal(0)
    per_share: Decimal = Decimal(0)
    bps: Decimal = Decimal(0)
    minimum: Decimal = Decimal(0)
    maximum: Decimal | None = None  # a cap per order
    maximum_bps: Decimal | None = None  # a cap, in basis points of the order's traded value

    def __post_init__(self) -> None:
        for name in ("per_order", "per_share", "bps", "minimum", "maximum", "maximum_bps"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, Decimal) or value < 0):
                raise ValueError(f"fee {name} must be a Decimal of at least 0, was {value!r}")

    @property
    def is_free(self) -> bool:
        """True when nothing is ever charged."""
        return not (self.per_order or self.per_share or self.bps or self.minimum)


# Published brokerage schedules the paper exchange can imitate (PAPER_FEE_PROFILE): IBKR Pro
# Fixed, USD 0.005 a share, at least USD 1.00, at most 1% of the trade value; Zerodha equity
# intraday, 0.03% or INR 20 an executed order, whichever is lower (delivery is free there).
# Exchange and regulatory fees and taxes are not modelled.
PROFILES: Final[dict[str, FeeSchedule]] = {
    "none": FeeSchedule(),
    "ibkr_fixed": FeeSchedule(per_share=Decimal("0.005"), minimum=Decimal("1.00"),
                              maximum_bps=Decimal(100)),
    "zerodha_intraday": FeeSchedule(bps=Decimal(3), maximum=Decimal(20)),
}


def order_fee(schedule: FeeSchedule, quantity: Decimal, notional: Decimal) -> Decimal:
    """The fee of an order that has traded `quantity` for `notional` in all (0 for nothing)."""
    if quantity <= 0 or schedule.is_free:
        return Decimal(0)
    with localcontext(ARITHMETIC):
        fee = schedule.per_order + schedule.per_share * quantity + schedule.bps * notional / _BPS
        fee = max(fee, schedule.minimum)
        if schedule.maximum is not None:
            fee = min(fee, schedule.maximum)
        if schedule.maximum_bps is not None:
            fee = min(fee, schedule.maximum_bps * notional / _BPS)
    return fee.quantize(MONEY_PLACES, rounding=ROUND_HALF_EVEN)


def fill_fee(schedule: FeeSchedule, *, filled_before: Decimal, notional_before: Decimal,
             quantity: Decimal, price: Decimal) -> Decimal:
    """What one fill of an order pays: the order's fee after it less the fee before it."""
    with localcontext(ARITHMETIC):
        after = order_fee(schedule, filled_before + quantity, notional_before + quantity * price)
        before = order_fee(schedule, filled_before, notional_before)
        return max(after - before, Decimal(0))

