"""SQL for `order_triggers`: the paper book's price levels and the orders' expiry times."""

from __future__ import annotations

import functools
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

# A module import: orders imports this module too, so its names are read at call time only.
from shared.db.repositories import orders as order_rows
from shared.domain.orders import Order
from shared.domain.triggers import trigger_of

# A new level loses its time priority (as at a venue when an order is replaced); a moved water
# mark or a new expiry keeps it.
_UPSERT = text("""
INSERT INTO order_triggers (order_id, symbol, side, direction, level, mark, queued_at, expire_at)
VALUES (:order_id, :symbol, :side, :direction, :level, :mark, now(), :expire_at)
ON CONFLICT (order_id) DO UPDATE SET
    direction = EXCLUDED.direction, level = EXCLUDED.level, mark = EXCLUDED.mark,
    expire_at = EXCLUDED.expire_at,
    queued_at = CASE WHEN order_triggers.level IS NOT DISTINCT FROM EXCLUDED.level
                      AND order_triggers.direction IS NOT DISTINCT FROM EXCLUDED.direction
                     THEN order_triggers.queued_at ELSE now() END""")
_DELETE = text("DELETE FROM order_triggers WHERE order_id = :order_id")


async def keep_in_step(conn: AsyncConnection, before: Order, after: Order) -> None:
    """Make the order's trigger row what `after` needs (no statement when nothing changed)."""
    wanted = trigger_of(after)
    if wanted == trigger_of(before):
        return  # the row is what `before` needed: every save keeps it so
    if wanted is None:
        await conn.execute(_DELETE, {"order_id": after.id})
        return
    await conn.execute(_UPSERT, {
        "order_id": after.id, "symbol": after.symbol, "side": after.side.value,
        "direction": wanted.direction.value if wanted.direction else None,
        "level": wanted.level, "mark": wanted.mark, "expire_at": wanted.expire_at})


# The orders a symbol's current quote acts on, each branch a range scan of one index
# (ix_order_triggers_book for the levels and 'any', ix_order_triggers_mark for trailing marks),
# best first and capped, so no quote ever reads the whole book. The touch is the ask for a BUY,
# the bid for a SELL. Then the orders themselves, locked in id order (the global lock order).
_BRANCHES = {
    "buy_stop": "side = 'BUY' AND direction = 'ge' AND level <= (SELECT ask FROM q)"
                " ORDER BY level, queued_at",
    "sell_stop": "side = 'SELL' AND direction = 'le' AND level >= (SELECT bid FROM q)"
                 " ORDER BY level DESC, queued_at",
    "buy_mark": "side = 'BUY' AND mark > (SELECT ask FROM q) ORDER BY mark DESC",
    "sell_mark": "side = 'SELL' AND mark < (SELECT bid FROM q) ORDER BY mark",
}
# Marketable limits and waiting MARKET orders only act by filling, so their branches stop
# where the size at the touch is used up by the unfilled quantity ahead in price-time priority:
# a book the market ran through is read and locked only as deep as the quote can fill, not
# whole on every quote. (A trailing stop still without a water mark waits as 'any' too, and
# is always taken: the quote sets its mark whatever the size.)
_BY_SIZE = {  # side, where beyond symbol and side, priority, the touch
    "buy_limit": ("BUY", "t.direction = 'le' AND t.level >= (SELECT ask FROM q)",
                  "t.level DESC,", "ask"),
    "sell_limit": ("SELL", "t.direction = 'ge' AND t.level <= (SELECT bid FROM q)",
                   "t.level,", "bid"),
    "buy_any": ("BUY", "t.direction = 'any'", "", "ask"),
    "sell_any": ("SELL", "t.direction = 'any'", "", "bid"),
}
_BY_SIZE_SQL = """(SELECT order_id, queued_at, '{name}' AS branch FROM (
    SELECT t.order_id, t.queued_at, o.hwm IS NULL AND o.order_type = 'TRAILING_STOP' AS unmarked,
           sum(o.quantity - o.filled_quantity) OVER (ORDER BY {priority} t.queued_at, t.order_id)
           - (o.quantity - o.filled_quantity) AS ahead
    FROM order_triggers t JOIN orders o ON o.id = t.order_id
    WHERE t.symbol = :symbol AND t.side = '{side}' AND {where}
    ORDER BY {priority} t.queued_at, t.order_id LIMIT :cap) AS deep
  WHERE ahead < (SELECT {touch}_size FROM q) OR unmarked)"""
_BRANCH_SQL = " UNION ALL ".join([
    *(f"(SELECT order_id, queued_at, '{name}' AS branch FROM order_triggers"
      f" WHERE symbol = :symbol AND {where} LIMIT :cap)" for name, where in _BRANCHES.items()),
    *(_BY_SIZE_SQL.format(name=name, side=side, where=where, priority=priority, touch=touch)
      for name, (side, where, priority, touch) in _BY_SIZE.items())])


@functools.cache
def _lock_book() -> TextClause:
    return text(f"""
WITH q AS (SELECT bid, ask, bid_size, ask_size FROM quotes WHERE symbol = :symbol),
     reached AS ({_BRANCH_SQL})
SELECT {order_rows.ORDER_COLUMNS}, reached.queued_at, reached.branch
FROM reached JOIN orders ON orders.id = reached.order_id
ORDER BY orders.id
FOR UPDATE OF orders""")


@dataclass(frozen=True, slots=True)
class Reached:
    """The resting orders a quote reaches, locked, each with its time priority."""

    book: list[tuple[Order, datetime]]
    # A branch hit its cap: more orders may be reached than were taken this round.
    capped: bool


async def lock_reached(conn: AsyncConnection, symbol: str, *, cap: int) -> Reached:
    """Lock the open orders on `symbol`'s book that its current quote may act on."""
    result = await conn.execute(_lock_book(), {"symbol": symbol, "cap": cap})
    book: dict[uuid.UUID, tuple[Order, datetime]] = {}
    per_branch: Counter[str] = Counter()
    for row in result.mappings():
        per_branch[row["branch"]] += 1
        book.setdefault(row["id"], (order_rows.to_order(row), row["queued_at"]))
    return Reached(list(book.values()), capped=any(n >= cap for n in per_branch.values()))
