"""Process-wide wake-ups of streams: Redis for order events, a poll of quotes for ticks.

Neither holds anything another API process needs: each process reads the same Redis streams
(XREAD does not consume) and the same quotes table, for the users and symbols it serves.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import RowMapping
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.stream.messages import quote_message
from shared.db.repositories import stream as stream_repo
from shared.messaging.publish import user_stream_key

log = logging.getLogger(__name__)

BLOCK_MS = 1000
RETRY_SECONDS = 1.0
Deliver = Callable[[dict[str, Any]], None]


class Doorbell:
    """Rings the bells of a user's streams when their Redis event stream gets an entry.

    A missed ring costs only latency: every stream re-reads PostgreSQL on its own schedule.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._bells: dict[str, set[asyncio.Event]] = {}  # by stream key
        self._after: dict[str, bytes | str] = {}  # the last entry id seen per stream key
        self._running = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Listen in the background until `stop`."""
        self._running = True
        self._task = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        """Stop listening; returns within one blocking read."""
        self._running = False
        if self._task is not None:
            with suppress(TimeoutError):
                async with asyncio.timeout(BLOCK_MS / 1000 + 2):
                    await asyncio.shield(self._task)

    async def join(self, user_id: uuid.UUID) -> asyncio.Event:
        """A bell that rings on this user's next event (read the log after taking it)."""
        key = user_stream_key(str(user_id))
        bell = asyncio.Event()
        if key not in self._bells:
            self._bells[key] = set()
            self._after.setdefault(key, await self._newest(key))
        self._bells[key].add(bell)
        return bell

    def leave(self, user_id: uuid.UUID, bell: asyncio.Event) -> None:
        """Stop ringing this bell."""
        key = user_stream_key(str(user_id))
        bells = self._bells.get(key, set())
        bells.discard(bell)
        if not bells:
            self._bells.pop(key, None)
            self._after.pop(key, None)

    async def _newest(self, key: str) -> bytes | str:
        try:
            newest: Any = await self._redis.xrevrange(key, count=1)
        except RedisError:
            return "$"
        return newest[0][0] if newest else "0-0"

    async def _listen(self) -> None:
        while self._running:
            if not self._after:
                await asyncio.sleep(BLOCK_MS / 1000)
                continue
            try:
                streams: Any = dict(self._after)
                found: Any = await self._redis.xread(streams, block=BLOCK_MS, count=100)
            except RedisError as error:
                log.warning("stream doorbell: Redis read failed (%s); streams poll meanwhile",
                            error)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            for raw_key, entries in found or ():
                self._ring(raw_key.decode() if isinstance(raw_key, bytes) else raw_key,
                           entries[-1][0])

    def _ring(self, key: str, last_id: bytes | str) -> None:
        if key in self._after:
            self._after[key] = last_id
        for bell in self._bells.get(key, ()):
            bell.set()


class QuoteFeed:
    """Reads the quotes of every subscribed symbol once per interval and hands out changes.

    Each subscriber's last quote is kept apart: a subscriber starts at the quote its
    subscribe read (not at what the feed last read), so it gets neither that quote again nor
    a change the feed read before it came.
    """

    def __init__(self, engine: AsyncEngine, interval: float) -> None:
        self._engine = engine
        self._interval = interval
        # Per symbol, each subscriber and the seq of the last quote it was given.
        self._subscribers: dict[str, dict[Deliver, int]] = {}
        self._running = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Poll in the background until `stop`."""
        self._running = True
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        """Stop polling; returns within one interval."""
        self._running = False
        if self._task is not None:
            with suppress(TimeoutError):
                async with asyncio.timeout(self._interval + 5):
                    await asyncio.shield(self._task)

    def subscribe(self, quotes: Iterable[RowMapping], deliver: Deliver) -> None:
        """Hand `deliver` each later change of these symbols' quotes (it has these)."""
        for quote in quotes:
            self._subscribers.setdefault(quote["symbol"], {})[deliver] = quote["seq"]

    def unsubscribe(self, symbols: set[str], deliver: Deliver) -> None:
        """Stop handing these symbols' quotes to `deliver`."""
        for symbol in symbols:
            delivers = self._subscribers.get(symbol, {})
            delivers.pop(deliver, None)
            if not delivers:
                self._subscribers.pop(symbol, None)

    async def _poll(self) -> None:
        while self._running:
            await asyncio.sleep(self._interval)
            await self.tick()

    async def tick(self) -> None:
        """Read the subscribed symbols' quotes once and hand out what changed."""
        if not self._subscribers:
            return
        try:
            async with self._engine.connect() as conn:
                rows = await stream_repo.quotes_of(conn, sorted(self._subscribers))
        except (SQLAlchemyError, OSError) as error:
            log.warning("quote feed: read failed (%s)", error)
            return
        self._hand_out(rows)

    def _hand_out(self, rows: Any) -> None:
        for row in rows:
            quote: Mapping[str, Any] = row
            delivers = self._subscribers.get(quote["symbol"], {})
            # Not "later than": a simulator restarted numbers its quotes from 0 again.
            behind = [deliver for deliver, seen in delivers.items() if seen != quote["seq"]]
            if not behind:
                continue
            message = quote_message(quote)
            for deliver in behind:
                delivers[deliver] = quote["seq"]
                deliver(message)
