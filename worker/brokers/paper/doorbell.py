"""The paper exchange's doorbell: `paper.match` messages naming the symbols whose quotes moved.

A doorbell carries no state: the matcher reads the symbol's current quote and book from
PostgreSQL, so a repeated doorbell finds nothing new and a lost one only delays matching to the
next quote. While a symbol's doorbell waits in the queue, newer quotes of it do not ring again
(a short-lived pending flag per symbol, cleared by the matcher before it reads the quote): a
worker that falls behind the quotes matches each symbol at its newest quote instead of working
through a backlog of quotes that have been superseded. A lost message leaves its flag to expire.
A doorbell also expires: one that waited longer than DOORBELL_EXPIRES_SECONDS (workers down,
the flags long expired, a doorbell queued per symbol every few seconds) is discarded unrun, so
a worker coming back does not make the orders queued behind that backlog wait for it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.messaging import tasks
from shared.messaging.enqueue import send

log = logging.getLogger(__name__)
# Symbols per message. Measured with 100 symbols and 10,000 / 100,000 resting orders on two
# cores (bench/matching.py): one message per symbol spends most of the worker on Celery's
# per-message cost; a whole tick in one message serializes it in one process; ten is within
# 10-25% of the best of both and keeps every worker process busy.
PER_MESSAGE = 10
PENDING_MS = 5000  # how long a lost doorbell can keep its symbol from ringing again
DOORBELL_EXPIRES_SECONDS = 60.0


def pending_key(symbol: str) -> str:
    """The flag saying a doorbell for `symbol` is queued and not yet answered."""
    return f"ordergate:paper:ring:{symbol}"


async def ring(redis: Redis, symbols: Sequence[str], per_message: int = PER_MESSAGE, *,
               coalesce: bool = True) -> int:
    """Ask the paper exchange to match `symbols` (after their quotes committed); returns the
    messages sent. With `coalesce`, symbols whose doorbell is still queued are left out."""
    if coalesce and symbols:
        async with redis.pipeline(transaction=False) as pipe:
            for symbol in symbols:
                pipe.set(pending_key(symbol), "1", nx=True, px=PENDING_MS)
            flagged = await pipe.execute()
        symbols = [symbol for symbol, new in zip(symbols, flagged, strict=True) if new]
    chunks = [list(symbols[i:i + per_message]) for i in range(0, len(symbols), per_message)]
    for chunk in chunks:
        await send(redis, tasks.PAPER_MATCH, [chunk], tasks.ORDERS_QUEUE,
                   expires_in=DOORBELL_EXPIRES_SECONDS)
    return len(chunks)


async def answer(redis: Redis, symbols: Sequence[str]) -> None:
    """Clear the pending flags of `symbols`, before their quotes are read: a quote committed
    from now on rings again. Best effort: a flag left behind expires by itself."""
    if not symbols:
        return
    try:
        await redis.delete(*(pending_key(symbol) for symbol in symbols))
    except (RedisError, OSError) as exc:
        log.warning("could not clear %d doorbell flags (they expire): %s", len(symbols), exc)
