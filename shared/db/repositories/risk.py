"""SQL the pre-trade checks and the account settings need: an account's rules and exposure."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.domain.limits import Exposure
from shared.domain.orders import OPEN_STATUSES

RULE_COLUMNS = "id, broker, currency, outside_session, risk_limits, halted_at"
_OPEN = sorted(status.value for status in OPEN_STATUSES)


async def rules_for(conn: AsyncConnection, user_id: uuid.UUID,
                    account_id: uuid.UUID | None) -> RowMapping | None:
    """Return the account's session policy, own limits and halt: the one named, else paper.

    None for an absent or foreign account.
    """
    return await _rules(conn, user_id, account_id, "")


async def rules_and_quote(conn: AsyncConnection, user_id: uuid.UUID,
                          account_id: uuid.UUID | None, symbol: str) -> RowMapping | None:
    """`rules_for`, plus the symbol's current `bid` and `ask` (None without a quote), in one
    round trip: a placement needs both, and each round trip is a good part of its cost."""
    return await _rules(conn, user_id, account_id, _QUOTE, {"symbol": symbol})


_QUOTE = (", (SELECT q.bid FROM quotes q WHERE q.symbol = :symbol) AS bid"
          ", (SELECT q.ask FROM quotes q WHERE q.symbol = :symbol) AS ask")


async def _rules(conn: AsyncConnection, user_id: uuid.UUID, account_id: uuid.UUID | None,
                 extra: str, params: Mapping[str, Any] | None = None) -> RowMapping | None:
    if account_id is None:
        sql = (f"SELECT {RULE_COLUMNS}{extra} FROM accounts"
               " WHERE user_id = :user_id AND broker = 'paper'")
    else:
        sql = f"SELECT {RULE_COLUMNS}{extra} FROM accounts WHERE id = :id AND user_id = :user_id"
    result = await conn.execute(text(sql), {"user_id": user_id, "id": account_id,
                                            **(params or {})})
    return result.mappings().first()


# One round trip; both subqueries start from the owner (ix_orders_user_created).
_EXPOSURE = text("""
SELECT
  (SELECT count(*) FROM orders
   WHERE user_id = :user_id AND account_id = :account_id AND status = ANY(:open)) AS open_orders,
  (SELECT coalesce(sum(quantity - filled_quantity), 0) FROM orders
   WHERE user_id = :user_id AND account_id = :account_id AND symbol = :symbol
     AND side = 'BUY' AND status = ANY(:open)) AS open_buy_quantity,
  coalesce((SELECT quantity FROM positions
            WHERE account_id = :account_id AND symbol = :symbol), 0) AS position_quantity""")


async def exposure(conn: AsyncConnection, user_id: uuid.UUID, account_id: uuid.UUID,
                   symbol: str) -> Exposure:
    """Return the account's open orders, and its shares and working buys in `symbol`."""
    row = (await conn.execute(_EXPOSURE, {"user_id": user_id, "account_id": account_id,
                                          "symbol": symbol, "open": _OPEN})).one()
    return Exposure(open_orders=row.open_orders, position_quantity=row.position_quantity,
                    open_buy_quantity=row.open_buy_quantity)


async def update_settings(conn: AsyncConnection, user_id: uuid.UUID, account_id: uuid.UUID, *,
                          outside_session: str | None, set_limits: Mapping[str, Any],
                          clear_limits: Sequence[str]) -> RowMapping | None:
    """Change an account's settings in one statement (so two changes never lose one).

    Limits in `set_limits` replace the account's own; those in `clear_limits` are removed
    (the settings' default applies again). None for an absent or foreign account.
    """
    result = await conn.execute(
        text("UPDATE accounts SET"
             " outside_session = coalesce(CAST(:outside_session AS text), outside_session),"
             " risk_limits = (risk_limits || CAST(:set_limits AS jsonb))"
             "   - CAST(:clear_limits AS text[]),"
             " updated_at = now()"
             f" WHERE id = :id AND user_id = :user_id RETURNING {RULE_COLUMNS}"),
        {"id": account_id, "user_id": user_id, "outside_session": outside_session,
         "set_limits": json.dumps(dict(set_limits)), "clear_limits": list(clear_limits)})
    return result.mappings().first()
