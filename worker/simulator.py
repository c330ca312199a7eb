"""The quote simulator of `make run`: a gentle random walk of every quote, on its tick grid."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.engine import make_engine
from shared.db.repositories import market
from shared.settings import Settings, get_settings

log = logging.getLogger(__name__)
MAX_STEP = Decimal("0.002")  # at most 0.2% per tick of the simulator
# Database (and, should a tick ever publish, Redis) failures: a restart or an outage, retried.
# OSError covers refused connections and asyncpg's client-side timeouts (TimeoutError).
RETRYABLE = (SQLAlchemyError, RedisError, OSError)
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class SimQuote:
    """Top of book for one symbol, on its tick grid."""

    bid: Decimal
    ask: Decimal
    last: Decimal


def next_quote(mid: Decimal, tick: Decimal, rng: random.Random) -> SimQuote:
    """Move the mid by a random step of at most MAX_STEP, snapped to the tick, spread one tick."""
    step = Decimal(str(round(rng.uniform(-1, 1), 6))) * MAX_STEP
    moved = (mid * (1 + step) / tick).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * tick
    last = max(moved, 2 * tick)  # never at or below zero
    return SimQuote(bid=last - tick, ask=last + tick, last=last)


def retry_delay(failures: int) -> float:
    """Seconds to wait after `failures` consecutive failures: doubling, capped."""
    return float(min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, failures - 1)))


async def _tick(engine: AsyncEngine, rng: random.Random) -> None:
    async with engine.begin() as conn:
        for row in await market.all_quotes(conn):
            quote = next_quote(row["last"], row["tick_size"], rng)
            await market.set_quote(conn, row["symbol"], quote.bid, quote.ask, quote.last)


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Move every quote each SIMULATOR_INTERVAL_SECONDS until `stop` is set (or cancelled).

    A database outage never ends the loop: each failed tick is logged and retried with a
    growing delay, and quoting resumes by itself once PostgreSQL answers again.
    """
    stop = stop or asyncio.Event()
    engine = make_engine(settings, pool_size=1)
    rng = random.Random()
    failures = 0
    try:
        while not stop.is_set():
            try:
                await _tick(engine, rng)
            except RETRYABLE as exc:
                failures += 1
                delay = retry_delay(failures)
                log.warning("quote tick failed (%d in a row), retrying in %.1fs: %s: %s",
                            failures, delay, type(exc).__name__, exc)
            else:
                if failures:
                    log.info("quotes are moving again after %d failed ticks", failures)
                failures, delay = 0, settings.simulator_interval_seconds
            # asyncio.timeout, not wait_for: it never swallows a cancellation (bpo-42130).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await stop.wait()
    finally:
        await engine.dispose()


async def _main() -> None:
    # SIGTERM (make run's stop) and Ctrl-C end the loop between ticks, never inside one.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await run(get_settings(), stop)


if __name__ == "__main__":
    logging.basicConfig(level=get_settings().log_level)
    asyncio.run(_main())
