"""One client's stream: its order events from PostgreSQL by seq, then live, and quote ticks.

Why the seq is safe to resume from: an `order_events.id` is taken at insert, so two
transactions can commit out of id order and a reader that has seen id 12 could later find id
11. We considered three ways out. Delivering only rows older than the oldest running
transaction (pg_snapshot_xmin and an xid column) orders rows by xid, not by one integer a
client can hold, and any long transaction on the server (another database's too: xids are
cluster-wide) stalls every stream. Re-reading a lookback window cannot help a client that was
away: it resumes from its own last seq, and a late row below it is gone. So the seq is numbered
at commit instead: migration 0011's deferred trigger numbers a transaction's events under the
row lock of the user's counter, held until the commit is visible. Per user the seq rises in
commit order without gaps, and "seq > cursor" at any moment reads the complete rest of the log.
The cost is one counter row update and one event row update per committing transaction.

Redis only rings a doorbell; the log is re-read every STREAM_POLL_SECONDS anyway, so a lost
publish (and the API's unpublished PENDING_NEW) costs latency, never an event. A caught-up
stream takes its reads from its user's one reader in the process (api/stream/reader.py).

Positions and accounts are not in the log: their tables hold only the present, and no row
says which seq it stood at. So after the events of each read, a stream sends the position of
each (account, symbol) filled and each account an event touched (reservations move with every
placement, cancel and expiry, not only with fills), read then: a snapshot that
includes every event up to its `as_of_seq` (a fill commits with its position and cash) and
perhaps later ones, whose own snapshots follow them. The last snapshot is always the present;
no snapshot is ever behind what was streamed. A snapshot is not replayed: a client resuming
after a fill whose snapshots it missed reads GET /positions and /account once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from api.apikeys import keys
from api.apikeys import service as api_keys
from api.errors import ApiError
from api.security import Principal, Scope, still_current, verify_access_token
from api.stream import messages
from api.stream.doorbell import Doorbell, QuoteFeed
from api.stream.reader import BATCH, Readers, read_log
from api.stream.shutdown import Drain
from shared.clock import clock_from
from shared.db.repositories import stream as stream_repo
from shared.settings import Settings

SLOW_CONSUMER = 4008  # a WebSocket close code of our own (4000-4999)


class SlowConsumer(Exception):
    """The client did not take its messages in time."""


class ServerClosing(Exception):
    """The process is shutting down: the client should reconnect, elsewhere."""


@dataclass(frozen=True)
class StreamServices:
    """What every stream of one API process shares (app.state.stream)."""

    settings: Settings
    engine: AsyncEngine
    autocommit_engine: AsyncEngine
    doorbell: Doorbell
    quotes: QuoteFeed
    drain: Drain
    readers: Readers


async def authenticate(services: StreamServices, token: str,
                       client_host: str | None) -> Principal | None:
    """The caller behind an access token or API key (any scope may read), or None."""
    if not keys.is_api_key(token):
        principal = verify_access_token(services.settings, token)
        current = principal and await still_current(services.autocommit_engine, principal)
        return principal if current else None
    try:
        key = await api_keys.authenticate(services.autocommit_engine, token, client_host,
                                          clock_from(services.settings).now())
    except ApiError:
        return None
    return Principal(user_id=key.user_id, key_id=key.id,
                     scopes=frozenset(Scope(scope) for scope in key.scopes))


class Session:
    """The messages waiting for one client, at most STREAM_MAX_QUEUED of them."""

    def __init__(self, services: StreamServices, user_id: uuid.UUID, after: int) -> None:
        self._services = services
        self.settings = services.settings
        self.user_id = user_id
        self.cursor = after  # the seq of the last event queued
        self.symbols: set[str] = set()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(
            services.settings.stream_max_queued)
        self._stopped = asyncio.Event()
        self._stop_reason: Exception | None = None
        self._pumping = True
        self._alone = asyncio.Event()  # set: leave the user's reader and read alone

    @classmethod
    async def open(cls, services: StreamServices, user_id: uuid.UUID,
                   last_seq: int | None) -> Session:
        """A session resuming after `last_seq`, or starting at the user's newest event."""
        if last_seq is None:
            async with services.engine.connect() as conn:
                last_seq = await stream_repo.last_seq(conn, user_id)
        session = cls(services, user_id, last_seq)
        services.drain.opened(session)
        return session

    @property
    def queued(self) -> int:
        """Messages waiting for the client."""
        return self._outbox.qsize()

    def offer(self, message: dict[str, Any]) -> None:
        """Queue a message that cannot wait (a quote, a reply); a full queue ends the stream."""
        try:
            self._outbox.put_nowait(message)
        except asyncio.QueueFull:
            self._stop(self._slow())

    def end(self, reason: str) -> None:
        """End the stream for a shutdown (watch raises ServerClosing)."""
        self._stop(ServerClosing(reason))
        # A reader waiting for a message wakes now, not at the next heartbeat.
        with suppress(asyncio.QueueFull):
            self._outbox.put_nowait(messages.heartbeat(self.cursor))

    def _stop(self, reason: Exception) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
            self._stopped.set()

    async def next_message(self) -> dict[str, Any]:
        """The next message to send, or a heartbeat when none came for a while."""
        try:
            async with asyncio.timeout(self.settings.stream_heartbeat_seconds):
                return await self._outbox.get()
        except TimeoutError:
            return messages.heartbeat(self.cursor)

    async def pump(self) -> None:
        """Queue the user's events after the cursor, the missed ones, then live, until stopped:
        alone until caught up, then from the user's reader (api/stream/reader.py)."""
        while True:
            await self._read_alone()
            if not self._pumping:
                return
            # From the check to the wait nothing awaits: no batch or stop can come between.
            reader = self._services.readers.join(self.user_id, self)
            if reader is None:
                continue  # the reader has read further meanwhile: catch up again
            self._alone.clear()
            try:
                await self._alone.wait()
            finally:
                reader.leave(self)

    async def _read_alone(self) -> None:
        """Read and queue the log after the cursor until a read comes back short of a batch."""
        while self._pumping:
            rows, books = await read_log(self._services.engine, self.user_id, self.cursor)
            for row in rows:
                await self._put(messages.event_message(row))
                self.cursor = row["seq"]
            for book in books:
                await self._put(book)
            if len(rows) < BATCH:
                return

    def take(self, rows: Sequence[RowMapping], books: list[dict[str, Any]]) -> None:
        """Queue a batch the reader read: the events after the cursor and, when there were
        any, the snapshots after them; with no room for them, go back to reading alone."""
        if self._alone.is_set():
            # Sent back to read alone (or stopped): a later batch taken now would leave a
            # gap where the one it had no room for was.
            return
        fresh = [row for row in rows if row["seq"] > self.cursor]
        if not fresh:
            return
        if self._outbox.maxsize - self._outbox.qsize() < len(fresh) + len(books):
            self._alone.set()  # its own reads wait for room, then cut it off if none comes
            return
        for row in fresh:
            self._outbox.put_nowait(messages.event_message(row))
            self.cursor = row["seq"]
        for book in books:
            self._outbox.put_nowait(book)

    def fail(self, error: Exception) -> None:
        """End the stream with the reader's error (its client reconnects)."""
        self._stop(error)
        self._alone.set()

    async def watch(self) -> None:
        """Raise SlowConsumer once a message found the queue full, ServerClosing at shutdown."""
        await self._stopped.wait()
        assert self._stop_reason is not None
        raise self._stop_reason

    async def _put(self, message: dict[str, Any]) -> None:
        try:
            async with asyncio.timeout(self.settings.stream_send_timeout_seconds):
                await self._outbox.put(message)
        except TimeoutError:
            raise self._slow() from None

    def _slow(self) -> SlowConsumer:
        return SlowConsumer(f"slow consumer: {self._outbox.qsize()} messages waited more than"
                            f" {self.settings.stream_send_timeout_seconds:g} s")

    async def subscribe(self, symbols: list[str]) -> dict[str, Any]:
        """Add quote ticks of these symbols (their current quotes first); the reply."""
        wanted = set(symbols) - self.symbols
        limit = self.settings.stream_max_symbols
        if len(self.symbols | wanted) > limit:
            return messages.error("too_many_symbols",
                                  f"a stream may follow at most {limit} symbols,"
                                  f" this would be {len(self.symbols | wanted)}")
        async with self._services.engine.connect() as conn:
            quoted = await stream_repo.quotes_of(conn, sorted(wanted))
        known = {row["symbol"] for row in quoted}
        if unknown := sorted(wanted - known):
            return messages.error("unknown_symbol", f"no quotes for {', '.join(unknown)}")
        self.symbols |= known
        for row in quoted:
            self.offer(messages.quote_message(row))
        self._services.quotes.subscribe(quoted, self.offer)  # changes after these
        return messages.subscribed(sorted(self.symbols))

    def unsubscribe(self, symbols: list[str]) -> dict[str, Any]:
        """Stop quote ticks of these symbols; the reply."""
        dropped = self.symbols & set(symbols)
        self._services.quotes.unsubscribe(dropped, self.offer)
        self.symbols -= dropped
        return messages.subscribed(sorted(self.symbols))

    def stop_pumping(self) -> None:
        """End pump() at its next turn, cancelled or not.

        A cancellation is not enough: redis-py finishes a command whose task is cancelled and
        drops the cancellation (SQLAlchemy can too, while giving a connection back), and a
        pump that missed it would read the log for ever and hold its stream open.
        """
        self._pumping = False
        self._alone.set()

    def close(self) -> None:
        """Stop pumping, leave the quote feed and the process's open streams."""
        self.stop_pumping()
        self._services.quotes.unsubscribe(self.symbols, self.offer)
        self._services.drain.closed(self)
