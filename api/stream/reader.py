"""One reader of the log per (API process, user): a doorbell's ring is one query per user,
fanned out to every stream of that user the process serves, not one query per stream.

A stream starts on its own: it reads the log after its own cursor (the events it missed) until
a read comes back short of a batch, and joins its user's reader only once it holds everything
the reader has read. From then on every batch the reader reads reaches it, in order, and it
keeps the events after its own cursor, so it has no gap and no duplicate. A batch it has no
room for sends it back on its own (its blocking, timed reads and the slow-consumer rule, as
before it joined), so a slow stream never holds the reader up for the others.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from contextlib import suppress
from typing import Any, Protocol

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.stream import messages
from api.stream.doorbell import Doorbell
from shared.db.repositories import accounts
from shared.db.repositories import stream as stream_repo

BATCH = 200  # events read per query


class Follower(Protocol):
    """A stream that takes its user's reader's batches."""

    cursor: int

    def take(self, rows: Sequence[RowMapping], books: list[dict[str, Any]]) -> None:
        """Queue the events after the cursor (and their snapshots), or go back to reading
        alone when there is no room for them."""

    def fail(self, error: Exception) -> None:
        """End the stream: the reader could not read."""


async def books_after(conn: AsyncConnection, user_id: uuid.UUID,
                      rows: Sequence[RowMapping]) -> list[dict[str, Any]]:
    """The positions the fills among these events changed, and the accounts any of them
    changed (a placement reserves, a cancel or an expiry releases), as they stand now."""
    if not rows:
        return []
    filled = sorted({(row["account_id"], row["symbol"]) for row in rows if messages.is_fill(row)})
    as_of = rows[-1]["seq"]
    books = [messages.position_message(row, as_of)
             for row in await stream_repo.positions_of(conn, user_id, filled)] if filled else []
    for account_id in sorted({row["account_id"] for row in rows}):
        account = await accounts.get_owned(conn, user_id, account_id)
        if account is not None:
            held = await accounts.positions_for_user(conn, user_id, account_id)
            books.append(messages.account_message(account, held, as_of))
    return books


async def read_log(engine: AsyncEngine, user_id: uuid.UUID,
                   after: int) -> tuple[Sequence[RowMapping], list[dict[str, Any]]]:
    """A batch of the user's events after this seq, and the snapshots that follow them."""
    async with engine.connect() as conn:
        rows = await stream_repo.events_after(conn, user_id, after, BATCH)
        return rows, await books_after(conn, user_id, rows)


class UserReader:
    """Reads one user's log on each ring of the doorbell (or each poll) for its followers."""

    def __init__(self, engine: AsyncEngine, doorbell: Doorbell, user_id: uuid.UUID,
                 cursor: int, poll_seconds: float) -> None:
        self._engine = engine
        self._doorbell = doorbell
        self.user_id = user_id
        self.cursor = cursor  # the seq of the last event read
        self._poll_seconds = poll_seconds
        self._followers: set[Follower] = set()
        self._wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def join(self, follower: Follower) -> None:
        self._followers.add(follower)

    def leave(self, follower: Follower) -> None:
        """Stop handing batches to this follower; the reader ends with its last one."""
        self._followers.discard(follower)
        if not self._followers:
            self._wake.set()  # end at once, not at the next ring or poll

    @property
    def followers(self) -> int:
        return len(self._followers)

    async def run(self) -> None:
        """Read and hand out until no follower is left (or a read fails: each is told)."""
        bell = await self._doorbell.join(self.user_id)
        self._wake = bell
        try:
            while self._followers:
                bell.clear()  # before reading: a ring during the read means read again
                try:
                    rows, books = await read_log(self._engine, self.user_id, self.cursor)
                except Exception as error:  # each stream ends with it, and reconnects
                    for follower in tuple(self._followers):
                        follower.fail(error)
                    return
                if rows:
                    self.cursor = rows[-1]["seq"]
                for follower in tuple(self._followers):
                    follower.take(rows, books)
                if len(rows) < BATCH and self._followers:
                    with suppress(TimeoutError):
                        async with asyncio.timeout(self._poll_seconds):
                            await bell.wait()
        finally:
            self._doorbell.leave(self.user_id, bell)


class Readers:
    """This process's user readers, each started by its first follower."""

    def __init__(self, engine: AsyncEngine, doorbell: Doorbell, poll_seconds: float) -> None:
        self._engine = engine
        self._doorbell = doorbell
        self._poll_seconds = poll_seconds
        self._by_user: dict[uuid.UUID, UserReader] = {}

    def following(self, user_id: uuid.UUID) -> int:
        """How many streams take this user's reads from its reader now."""
        reader = self._by_user.get(user_id)
        return reader.followers if reader is not None else 0

    def join(self, user_id: uuid.UUID, follower: Follower) -> UserReader | None:
        """Make the follower one of its user's reader's, if it holds everything the reader
        has read (else None: read alone again). No await here: nothing moves meanwhile."""
        reader = self._by_user.get(user_id)
        if reader is None or reader.task is None or reader.task.done():
            reader = UserReader(self._engine, self._doorbell, user_id, follower.cursor,
                                self._poll_seconds)
            self._by_user[user_id] = reader
            reader.join(follower)
            reader.task = asyncio.create_task(self._run(reader))
            return reader
        if reader.cursor > follower.cursor:
            return None
        reader.join(follower)
        return reader

    async def _run(self, reader: UserReader) -> None:
        try:
            await reader.run()
        finally:
            if self._by_user.get(reader.user_id) is reader:
                del self._by_user[reader.user_id]
