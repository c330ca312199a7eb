"""Market index levels: a base-weighted average of constituents' price relatives.

An index is defined by a base level and, for each constituent, a weight and a base price (its
price when the index stood at the base level). Its level at a set of prices is

    base_level × Σ weight × price / base_price  ÷  Σ weight

so a constituent moving 1% moves the index by its weight's share of 1%. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

LEVEL_PLACES = Decimal("0.01")
PERCENT_PLACES = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Constituent:
    """A symbol's place in an index: its weight and its price at the base level."""

    symbol: str
    weight: Decimal
    base_price: Decimal


@dataclass(frozen=True, slots=True)
class Move:
    """An index's level now and at the previous close, and the change between them."""

    level: Decimal | None
    previous_close: Decimal | None
    change: Decimal | None
    change_pct: Decimal | None


def level(base_level: Decimal, constituents: Sequence[Constituent],
          prices: Mapping[str, Decimal | None]) -> Decimal | None:
    """The index level at `prices`, to 2 places (half even); None if a constituent has no
    price (a level without it would be a different index) or the index has none."""
    total_weight = sum((c.weight for c in constituents), Decimal(0))
    if not constituents or total_weight <= 0:
        return None
    relatives = Decimal(0)
    with localcontext() as context:
        context.prec = 34
        for constituent in constituents:
            price = prices.get(constituent.symbol)
            if price is None:
                return None
            relatives += constituent.weight * price / constituent.base_price
        raw = base_level * relatives / total_weight
    return raw.quantize(LEVEL_PLACES, rounding=ROUND_HALF_EVEN)


def move(base_level: Decimal, constituents: Sequence[Constituent],
         prices: Mapping[str, Decimal | None],
         previous_closes: Mapping[str, Decimal | None]) -> Move:
    """The level at `prices`, at `previous_closes`, and the change and change % (2 places)
    from the previous close; a part that cannot be known is None."""
    now = level(base_level, constituents, prices)
    before = level(base_level, constituents, previous_closes)
    if now is None or before is None or before == 0:
        return Move(now, before, None, None)
    change = now - before
    percent = (change * 100 / before).quantize(PERCENT_PLACES, rounding=ROUND_HALF_EVEN)
    return Move(now, before, change, percent)
