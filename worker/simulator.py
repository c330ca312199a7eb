"""The quote simulator of `make run`: a seeded random walk of every quote, with sizes.

Each tick moves every symbol's mid by a small random step on its tick grid, quotes a spread of
a few ticks around it (wider for cheap instruments) and fresh sizes at the bid and the ask
(100 to 5,000 shares, whole lots; fewer for cheap ones), as the next quote (seq + 1). After the
tick commits it rings the paper exchange's doorbell (`paper.match`) for the symbols it moved.
With SIMULATOR_SEED set the walk is reproducible: each symbol draws from its own generator,
seeded by the seed and the symbol, so the same seed and starting quotes give the same quotes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import logs
from shared.db.engine import make_engine
from shared.db.repositories import market
from shared.settings import Settings, get_settings
from worker.brokers.paper.doorbell import ring

log = logging.getLogger(__name__)
MAX_STEP = Decimal("0.002")  # at most 0.2% per tick of the simulator
# Below this many ticks of price (under $10 at a cent tick) an instrument is "cheap": wider
# spreads in ticks and smaller sizes, as thinly traded low-priced stocks show.
CHEAP_TICKS = 1000
ROUND_LOT = 100
# Database (and, should a tick ever publish, Redis) failures: a restart or an outage, retried.
# OSError covers refused connections and asyncpg's client-side timeouts (TimeoutError).
RETRYABLE = (SQLAlchemyError, RedisError, OSError)
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0
RING_TIMEOUT_SECONDS = 1.0  # a hung Redis must not stall the quotes


@dataclass(frozen=True, slots=True)
class SimQuote:
    """Top of book for one symbol, on its tick grid, with the size at each side."""

    bid: Decimal
    ask: Decimal
    last: Decimal
    bid_size: Decimal
    ask_size: Decimal


def next_quote(mid: Decimal, tick: Decimal, rng: random.Random,
               lot: Decimal = Decimal(1)) -> SimQuote:
    """Move the mid by a random step of at most MAX_STEP on the tick grid; quote around it."""
    step = Decimal(str(round(rng.uniform(-1, 1), 6))) * MAX_STEP
    moved = (mid * (1 + step) / tick).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * tick
    cheap = moved / tick < CHEAP_TICKS
    below, above = (_half_spread(cheap, rng) for _ in range(2))
    last = max(moved, (below + 1) * tick)  # the bid stays above zero
    return SimQuote(bid=last - below * tick, ask=last + above * tick, last=last,
                    bid_size=_size(cheap, lot, rng), ask_size=_size(cheap, lot, rng))


def _half_spread(cheap: bool, rng: random.Random) -> int:
    """Ticks between the last price and one side of the quote."""
    return rng.randint(2, 4) if cheap else rng.randint(1, 2)


def _size(cheap: bool, lot: Decimal, rng: random.Random) -> Decimal:
    """Shares at one side: round lots of 100, up to 5,000 (1,000 if cheap), whole lots."""
    shares = Decimal(rng.randint(1, 10 if cheap else 50) * ROUND_LOT)
    return (shares / lot).to_integral_value(ROUND_CEILING) * lot


class Walk:
    """One random generator per symbol: seeded by (seed, symbol), or random without a seed."""

    def __init__(self, seed: int | None) -> None:
        self._seed = seed
        self._rngs: dict[str, random.Random] = {}

    def next(self, row: Mapping[Any, Any]) -> SimQuote:
        """The next quote of a quotes row (market.all_quotes)."""
        symbol = row["symbol"]
        if symbol not in self._rngs:
            self._rngs[symbol] = (random.Random() if self._seed is None
                                  else random.Random(f"{self._seed}:{symbol}"))
        return next_quote(row["last"], row["tick_size"], self._rngs[symbol], row["lot_size"])


def retry_delay(failures: int) -> float:
    """Seconds to wait after `failures` consecutive failures: doubling, capped."""
    return float(min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, failures - 1)))


async def tick(engine: AsyncEngine, walk: Walk) -> list[str]:
    """Commit the next quote of every symbol; returns the symbols moved."""
    async with engine.begin() as conn:
        rows = await market.all_quotes(conn)
        quotes = {row["symbol"]: walk.next(row) for row in rows}
        await market.set_quotes(conn, [
            market.NewQuote(symbol, q.bid, q.ask, q.last, q.bid_size, q.ask_size)
            for symbol, q in quotes.items()])
    return list(quotes)


async def _ring_quietly(redis: Redis, symbols: Sequence[str]) -> None:
    try:
        # asyncio.timeout, not wait_for: it never swallows a cancellation (bpo-42130).
        async with asyncio.timeout(RING_TIMEOUT_SECONDS):
            await ring(redis, symbols)
    except (RedisError, OSError) as exc:  # OSError covers TimeoutError
        log.warning("could not ring the matching doorbell for %d symbols (the next tick"
                    " will): %s", len(symbols), exc)


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Move every quote each SIMULATOR_INTERVAL_SECONDS until `stop` is set (or cancelled).

    A database outage never ends the loop: each failed tick is logged and retried with a
    growing delay, and quoting resumes by itself once PostgreSQL answers again.
    """
    stop = stop or asyncio.Event()
    engine = make_engine(settings, pool_size=1)
    redis = Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    walk = Walk(settings.simulator_seed)
    failures = 0
    try:
        while not stop.is_set():
            try:
                moved = await tick(engine, walk)
            except RETRYABLE as exc:
                failures += 1
                delay = retry_delay(failures)
                log.warning("quote tick failed (%d in a row), retrying in %.1fs: %s: %s",
                            failures, delay, type(exc).__name__, exc)
            else:
                if failures:
                    log.info("quotes are moving again after %d failed ticks", failures)
                failures, delay = 0, settings.simulator_interval_seconds
                await _ring_quietly(redis, moved)
            # asyncio.timeout, not wait_for: it never swallows a cancellation (bpo-42130).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await stop.wait()
    finally:
        await engine.dispose()
        await redis.aclose()


async def _main() -> None:
    # SIGTERM (make run's stop) and Ctrl-C end the loop between ticks, never inside one.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await run(get_settings(), stop)


if __name__ == "__main__":
    logs.configure(get_settings().log_level)
    asyncio.run(_main())
