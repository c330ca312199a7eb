"""Keyset pagination over (created_at, id), or another timestamp and id, latest first; LIKE
patterns."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

Cursor = tuple[datetime, uuid.UUID]


async def newest_first(conn: AsyncConnection, *, table: str, columns: str, user_id: uuid.UUID,
                       filters: dict[str, Any], limit: int,
                       after: Cursor | None) -> Sequence[RowMapping]:
    """Return up to `limit` of the user's rows whose columns equal `filters`, after `after`."""
    clauses = ["user_id = :user_id"]
    params: dict[str, Any] = {"user_id": user_id}
    for column, value in filters.items():
        if value is not None:
            clauses.append(f"{column} = :{column}")
            params[column] = value
    return await keyset(conn, table=table, columns=columns, where=clauses, params=params,
                        limit=limit, after=after)


async def keyset(conn: AsyncConnection, *, table: str, columns: str, where: list[str],
                 params: dict[str, Any], limit: int, after: Cursor | None,
                 by: str = "created_at") -> Sequence[RowMapping]:
    """Up to `limit` rows meeting every clause of `where` (bound by `params`), the latest by
    the timestamp column `by` first, after the row `after`."""
    clauses = [*where]
    params = {**params, "limit": limit}
    if after is not None:
        clauses.append(f"({by}, id) < (:after_ts, :after_id)")
        params["after_ts"], params["after_id"] = after
    result = await conn.execute(
        text(f"SELECT {columns} FROM {table} WHERE {' AND '.join(clauses) or 'TRUE'}"
             f" ORDER BY {by} DESC, id DESC LIMIT :limit"), params)
    return result.mappings().all()


def escape_like(value: str) -> str:
    """`value` with LIKE's wildcards (and its escape character) taken literally."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
