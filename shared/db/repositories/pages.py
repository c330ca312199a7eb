"""Keyset pagination over (created_at, id), newest first, always scoped to one user."""

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
    params: dict[str, Any] = {"user_id": user_id, "limit": limit}
    for column, value in filters.items():
        if value is not None:
            clauses.append(f"{column} = :{column}")
            params[column] = value
    if after is not None:
        clauses.append("(created_at, id) < (:after_ts, :after_id)")
        params["after_ts"], params["after_id"] = after
    result = await conn.execute(
        text(f"SELECT {columns} FROM {table} WHERE {' AND '.join(clauses)}"
             " ORDER BY created_at DESC, id DESC LIMIT :limit"), params)
    return result.mappings().all()
