"""Replay a recorded day of ticks into the paper exchange, as quotes, at a chosen speed.

Each tick becomes the symbol's next quote (bid = buyprice with buyqty, ask = sellprice with
sellqty, last = ltp; seq + 1), committed, then the `paper.match` doorbell rings for it as the
simulator's ticks do, so resting orders fill, trigger and trail on the recorded prices. Ticks
are spaced as recorded, divided by `speed` (60: a minute of the day a second). A tick without
both sides of the book (a zero bid, an ask below the bid) moves no quote. The matcher reads the
newest quote when a doorbell reaches it: replayed faster than a worker matches, it trades on
the newest prices, not on each one in between. Stop the simulator first, or its random walk
moves the same quotes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.repositories import market, ticks
from shared.db.repositories.market import NewQuote
from worker.brokers.paper.doorbell import ring

PAGE = 1000


@dataclass
class Replayed:
    """What a replay did: quotes published, ticks that could not be quotes."""

    published: int = 0
    one_sided: int = 0


def quote_of(symbol: str, tick: Any) -> NewQuote | None:
    """The quote a recorded tick stands for, or None without both sides of the book."""
    bid, ask = Decimal(tick["buyprice"]), Decimal(tick["sellprice"])
    if not 0 < bid <= ask:
        return None
    return NewQuote(symbol, bid=bid, ask=ask, last=Decimal(tick["ltp"]),
                    bid_size=Decimal(tick["buyqty"]), ask_size=Decimal(tick["sellqty"]))


async def replay(engine: AsyncEngine, redis: Redis, symbol: str, start: datetime,
                 end: datetime, speed: float, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 on_tick: Callable[[int], None] = lambda _: None) -> Replayed:
    """Publish the symbol's ticks in [start, end) as its quotes, `speed` times faster than
    recorded."""
    done = Replayed()
    began: tuple[float, datetime] | None = None
    after: ticks.TickCursor | None = None
    while True:
        async with engine.connect() as conn:
            page = await ticks.list_ticks(conn, symbol, start, end, PAGE, after)
        for row in page:
            if began is None:
                began = (time.monotonic(), row["ts"])
            due = began[0] + (row["ts"] - began[1]).total_seconds() / speed
            if (wait := due - time.monotonic()) > 0:
                await sleep(wait)
            await _publish(engine, redis, quote_of(symbol, row), done)
            on_tick(1)
        if len(page) < PAGE:
            return done
        after = tuple(page[-1][name] for name in ticks.TICK_KEY)


async def _publish(engine: AsyncEngine, redis: Redis, quote: NewQuote | None,
                   done: Replayed) -> None:
    if quote is None:
        done.one_sided += 1
        return
    async with engine.begin() as conn:
        await market.upsert_quote(conn, quote)
    await ring(redis, [quote.symbol])
    done.published += 1
