"""The quote simulator keeps quotes sane: on the tick grid, one tick wide, never non-positive."""

import random
from decimal import Decimal

from worker.simulator import MAX_STEP, next_quote


def test_simulated_quotes_stay_on_tick_one_tick_wide_and_close_to_the_mid() -> None:
    rng = random.Random(7)
    mid, tick = Decimal("228.50"), Decimal("0.01")
    for _ in range(500):
        quote = next_quote(mid, tick, rng)
        assert quote.ask - quote.bid == 2 * tick
        assert quote.bid < quote.last < quote.ask
        assert quote.last % tick == 0
        assert abs(quote.last - mid) <= mid * MAX_STEP + tick
        mid = quote.last


def test_a_penny_stock_never_walks_to_zero() -> None:
    rng = random.Random(1)
    mid, tick = Decimal("0.02"), Decimal("0.01")
    for _ in range(200):
        quote = next_quote(mid, tick, rng)
        assert quote.bid > 0
        mid = quote.last
