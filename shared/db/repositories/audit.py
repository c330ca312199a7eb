"""The audit log: entries are inserted in the transaction of the change they record, and read
newest first. Nothing here updates or deletes one; the database refuses it anyway (0016)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared import logs
from shared.db.repositories import pages
from shared.db.repositories.pages import Cursor
from shared.domain.audit import Action
from shared.messaging.order_view import json_value

COLUMNS = ("id, created_at, action, user_id, actor_user_id, api_key_id, target_type, target_id,"
           " details, host(ip) AS ip, request_id")


@dataclass(frozen=True, slots=True)
class Entry:
    """One audit entry: `user_id` is whose account it concerns, `actor_user_id` who acted."""

    action: Action
    user_id: uuid.UUID | None
    actor_user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    target_type: str | None = None
    target_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    ip: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Filters:
    """What a page of entries is limited to; None: anything."""

    user_id: uuid.UUID | None = None
    action: Action | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def _plain(details: Mapping[str, Any]) -> dict[str, Any]:
    # A safety net under every caller: a field named like a secret is never stored.
    return {key: logs.REDACTED if logs.is_secret_name(key) else
            [json_value(item) for item in value] if isinstance(value, list | tuple) else
            json_value(value) for key, value in details.items()}


async def record(conn: AsyncConnection, entry: Entry) -> None:
    """Append `entry` in the caller's transaction: it commits or rolls back with the change."""
    await conn.execute(
        text("INSERT INTO audit_log (id, action, user_id, actor_user_id, api_key_id,"
             " target_type, target_id, details, ip, request_id) VALUES (:id, :action, :user_id,"
             " :actor, :key, :target_type, :target_id, CAST(:details AS jsonb),"
             " CAST(:ip AS inet), :request_id)"),
        {"id": uuid.uuid4(), "action": entry.action.value, "user_id": entry.user_id,
         "actor": entry.actor_user_id, "key": entry.api_key_id,
         "target_type": entry.target_type, "target_id": entry.target_id,
         "details": json.dumps(_plain(entry.details)), "ip": entry.ip,
         "request_id": entry.request_id})


async def page(conn: AsyncConnection, filters: Filters, *, limit: int,
               after: Cursor | None) -> Sequence[RowMapping]:
    """Up to `limit` entries matching `filters`, newest first, after the cursor `after`."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if filters.user_id is not None:
        clauses.append("user_id = :user_id")
        params["user_id"] = filters.user_id
    if filters.action is not None:
        clauses.append("action = :action")
        params["action"] = filters.action.value
    if filters.since is not None:
        clauses.append("created_at >= :since")
        params["since"] = filters.since
    if filters.until is not None:
        clauses.append("created_at < :until")
        params["until"] = filters.until
    return await pages.keyset(conn, table="audit_log", columns=COLUMNS, where=clauses,
                              params=params, limit=limit, after=after)
