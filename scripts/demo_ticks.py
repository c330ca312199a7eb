"""A day of demo ticks for the demo universe, generated deterministically: the same symbol,
price and session give the same ticks on every machine, so a re-run adds nothing.

Each symbol opens its session up to 3% away from its reference price (by a draw seeded with
its symbol and day) and walks back to it by the close in steps of its tick size, a tick every
`STEP`: the day's gainers and losers are the symbols that opened below or above.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from shared.domain.sessions import Calendar, Session
from shared.market.tick_files import TickRow

STEP = timedelta(seconds=5)
_MAX_OPEN_GAP = 0.03
_NOISE_TICKS = 6  # how far, in ticks, the walk strays from its line back to the reference


def last_session(calendar: Calendar, exchange: str, now: datetime) -> Session | None:
    """The exchange's latest session before `now`'s day there (its ticks are the previous
    close of today's prices), or None for an exchange without hours."""
    if not calendar.knows(exchange):
        return None
    zone = ZoneInfo(calendar.hours[exchange.upper()].zone)
    today = now.astimezone(zone).date()
    for back in range(1, 15):
        session = calendar.session_on(exchange, today - timedelta(days=back))
        if session is not None:
            return session
    return None


def day_of_ticks(symbol: str, reference: Decimal, tick_size: Decimal,
                 session: Session) -> Iterator[TickRow]:
    """The symbol's ticks over `session`, oldest first, ending at `reference`."""
    draw = random.Random(f"ordergate-demo:{symbol}:{session.day.isoformat()}")
    count = int((session.closes_at - session.opens_at) / STEP)
    gap = Decimal(str(round(draw.uniform(-_MAX_OPEN_GAP, _MAX_OPEN_GAP), 4)))
    start = reference * (1 + gap)
    stray = 0
    for n in range(count + 1):
        line = start + (reference - start) * n / count
        stray = max(-_NOISE_TICKS, min(_NOISE_TICKS, stray + draw.choice((-1, 0, 0, 1))))
        noise = 0 if n == count else stray
        ltp = max(tick_size, _on_tick(line, tick_size) + noise * tick_size)
        yield TickRow(source="demo", line=n + 1, symbol=symbol,
                      ts=session.opens_at + n * STEP, ltp=ltp,
                      ltq=draw.randint(1, 50) * 10, buyprice=max(tick_size, ltp - tick_size),
                      buyqty=draw.randint(1, 100) * 10, sellprice=ltp + tick_size,
                      sellqty=draw.randint(1, 100) * 10, openinterest=0)


def _on_tick(price: Decimal, tick_size: Decimal) -> Decimal:
    return (price / tick_size).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * tick_size
