"""What the live stream reads: a user's order events by seq, and the quotes of symbols.

`order_events.seq` is numbered per user at commit, in commit order, with no gaps (migration
0011), so "every event with seq > cursor" read at any moment is the complete rest of the log up
to what has committed: a reader never needs to look back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

_EVENTS_AFTER = text(
    "SELECT e.seq, e.order_id, e.version, e.from_status, e.to_status, e.detail, e.actor,"
    " e.created_at, o.symbol, o.side, o.account_id, o.client_order_id"
    " FROM order_events e JOIN orders o ON o.id = e.order_id"
    " WHERE e.user_id = :user_id AND e.seq > :after ORDER BY e.seq LIMIT :limit")


async def events_after(conn: AsyncConnection, user_id: uuid.UUID, after: int,
                       limit: int) -> Sequence[RowMapping]:
    """This user's committed order events with seq above `after`, oldest first."""
    result = await conn.execute(_EVENTS_AFTER, {"user_id": user_id, "after": after,
                                                "limit": limit})
    return result.mappings().all()


async def last_seq(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    """The seq of this user's newest committed event (0 for none yet)."""
    result = await conn.execute(text("SELECT seq FROM stream_seqs WHERE user_id = :user_id"),
                                {"user_id": user_id})
    seq: int | None = result.scalar()
    return seq or 0


async def quotes_of(conn: AsyncConnection, symbols: Sequence[str]) -> Sequence[RowMapping]:
    """The current quote of each of these symbols that has one."""
    result = await conn.execute(
        text("SELECT symbol, bid, ask, last, bid_size, ask_size, seq, ts FROM quotes"
             " WHERE symbol = ANY(:symbols)"), {"symbols": list(symbols)})
    return result.mappings().all()


_POSITIONS_OF = text(
    "SELECT p.account_id, a.broker, a.currency, p.symbol, p.quantity, p.avg_price,"
    " p.realized_pnl, p.reserved_quantity, q.last AS mark"
    " FROM positions p JOIN accounts a ON a.id = p.account_id"
    " LEFT JOIN quotes q ON q.symbol = p.symbol"
    " WHERE p.user_id = :user_id AND (p.account_id, p.symbol) IN"
    " (SELECT * FROM unnest(CAST(:accounts AS uuid[]), CAST(:symbols AS text[])))"
    " ORDER BY p.account_id, p.symbol")


async def positions_of(conn: AsyncConnection, user_id: uuid.UUID,
                       keys: Sequence[tuple[uuid.UUID, str]]) -> Sequence[RowMapping]:
    """This user's positions of these (account, symbol) pairs as they stand, flat ones too."""
    result = await conn.execute(_POSITIONS_OF, {
        "user_id": user_id, "accounts": [account for account, _ in keys],
        "symbols": [symbol for _, symbol in keys]})
    return result.mappings().all()
