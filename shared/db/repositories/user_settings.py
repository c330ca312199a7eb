"""Every SQL statement about a user's profile and preferences (one `user_settings` row).

A user without a row has the columns' defaults: reads fall back to them, writes upsert.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

_COLUMNS = ("display_name, mobile, timezone, default_account_id, default_order_type,"
            " default_time_in_force, confirm_orders, updated_at")
# The defaults of the columns, as one row: what a user who never saved settings has.
_DEFAULTS = ("SELECT NULL::varchar AS display_name, NULL::varchar AS mobile,"
             " 'UTC'::varchar AS timezone, NULL::uuid AS default_account_id,"
             " 'LIMIT'::varchar AS default_order_type, 'DAY'::varchar AS default_time_in_force,"
             " true AS confirm_orders, NULL::timestamptz AS updated_at")
_WRITABLE = frozenset({"display_name", "mobile", "timezone", "default_account_id",
                       "default_order_type", "default_time_in_force", "confirm_orders"})


async def get(conn: AsyncConnection, user_id: uuid.UUID) -> RowMapping:
    """The user's settings, or the defaults if the user never saved any."""
    result = await conn.execute(
        text(f"SELECT {_COLUMNS} FROM user_settings WHERE user_id = :user_id"),
        {"user_id": user_id})
    row = result.mappings().first()
    if row is not None:
        return row
    return (await conn.execute(text(_DEFAULTS))).mappings().one()


async def put(conn: AsyncConnection, user_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
    """Set the given columns of the user's settings (the others keep their values, or their
    defaults on a first save); return every column as stored."""
    names = sorted(values)
    if not set(names) <= _WRITABLE:  # column names go into the SQL text
        raise ValueError(f"not settings columns: {sorted(set(names) - _WRITABLE)}")
    assignments = ", ".join(f"{name} = excluded.{name}" for name in names)
    result = await conn.execute(
        text(f"INSERT INTO user_settings (user_id, {', '.join(names)})"
             f" VALUES (:user_id, {', '.join(':' + name for name in names)})"
             f" ON CONFLICT (user_id) DO UPDATE SET {assignments}, updated_at = now()"
             f" RETURNING {_COLUMNS}"),
        {"user_id": user_id, **values})
    return result.mappings().one()


async def own_account(conn: AsyncConnection, user_id: uuid.UUID, account_id: uuid.UUID
                      ) -> bool:
    """Whether the account is the user's; if so it is held (FOR KEY SHARE) until commit, so
    that it cannot be deleted before the settings naming it are saved."""
    result = await conn.execute(
        text("SELECT 1 FROM accounts WHERE id = :id AND user_id = :user_id FOR KEY SHARE"),
        {"id": account_id, "user_id": user_id})
    return result.first() is not None
