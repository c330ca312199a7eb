"""The quote simulator of `make run`: a gentle random walk of every quote, on its tick grid."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from shared.db.engine import make_engine
from shared.db.repositories import market
from shared.settings import get_settings

log = logging.getLogger(__name__)
MAX_STEP = Decimal("0.002")  # at most 0.2% per tick of the simulator


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


async def run(interval: float) -> None:
    """Move every quote each `interval` seconds until cancelled."""
    engine = make_engine(get_settings(), pool_size=1)
    rng = random.Random()
    try:
        while True:
            async with engine.begin() as conn:
                for row in await market.all_quotes(conn):
                    quote = next_quote(row["last"], row["tick_size"], rng)
                    await market.set_quote(conn, row["symbol"], quote.bid, quote.ask, quote.last)
            await asyncio.sleep(interval)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    logging.basicConfig(level=get_settings().log_level)
    try:
        asyncio.run(run(get_settings().simulator_interval_seconds))
    except KeyboardInterrupt:
        pass
