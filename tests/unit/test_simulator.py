"""The quote simulator: sane quotes (on the grid, a few ticks wide, never non-positive, sizes
in whole lots) and a reproducible walk for a given seed."""

import random
from decimal import Decimal
from typing import Any

from worker.simulator import CHEAP_TICKS, MAX_STEP, Walk, next_quote

D = Decimal


def _walk(walk: Walk, symbol: str, mid: str, tick: str = "0.01", lot: str = "1",
          ticks: int = 200) -> list[Any]:
    row = {"symbol": symbol, "last": D(mid), "tick_size": D(tick), "lot_size": D(lot)}
    quotes = []
    for _ in range(ticks):
        quote = walk.next(row)
        quotes.append(quote)
        row = {**row, "last": quote.last}
    return quotes


def test_simulated_quotes_stay_on_tick_a_few_ticks_wide_and_close_to_the_mid() -> None:
    rng = random.Random(7)
    mid, tick = D("228.50"), D("0.01")
    for _ in range(500):
        quote = next_quote(mid, tick, rng)
        assert 2 * tick <= quote.ask - quote.bid <= 4 * tick
        assert quote.bid < quote.last < quote.ask
        assert quote.last % tick == quote.bid % tick == quote.ask % tick == 0
        assert abs(quote.last - mid) <= mid * MAX_STEP + tick
        assert 100 <= quote.bid_size <= 5000
        assert 100 <= quote.ask_size <= 5000
        mid = quote.last


def test_cheap_instruments_quote_wider_and_smaller() -> None:
    rng = random.Random(3)
    tick = D("0.01")
    cheap = [next_quote(D("4.00"), tick, rng) for _ in range(300)]
    dear = [next_quote(D("400.00"), tick, rng) for _ in range(300)]
    assert D("4.00") / tick < CHEAP_TICKS <= D("400.00") / tick
    assert min(q.ask - q.bid for q in cheap) >= 4 * tick >= max(q.ask - q.bid for q in dear)
    assert sum(q.ask - q.bid for q in cheap) > sum(q.ask - q.bid for q in dear)
    assert max(q.ask_size for q in cheap) <= 1000
    assert max(q.ask_size for q in dear) > 1000


def test_sizes_are_whole_lots() -> None:
    rng = random.Random(5)
    for _ in range(200):
        quote = next_quote(D("2950.00"), D("0.05"), rng, lot=D(75))
        assert quote.bid_size % 75 == quote.ask_size % 75 == 0
        assert quote.bid_size >= 75


def test_a_penny_stock_never_walks_to_zero() -> None:
    rng = random.Random(1)
    mid, tick = D("0.02"), D("0.01")
    for _ in range(200):
        quote = next_quote(mid, tick, rng)
        assert quote.bid > 0
        mid = quote.last


def test_the_same_seed_walks_the_same_quotes() -> None:
    first = _walk(Walk(42), "AAPL", "228.50")
    assert _walk(Walk(42), "AAPL", "228.50") == first
    assert _walk(Walk(43), "AAPL", "228.50") != first
    assert len({q.last for q in first}) > 20  # it does walk


def test_a_symbols_walk_does_not_depend_on_the_other_symbols() -> None:
    alone = Walk(42)
    crowded = Walk(42)
    _walk(crowded, "MSFT", "415.20")
    assert _walk(crowded, "AAPL", "228.50") == _walk(alone, "AAPL", "228.50")


def test_without_a_seed_walks_differ() -> None:
    assert _walk(Walk(None), "AAPL", "228.50") != _walk(Walk(None), "AAPL", "228.50")
