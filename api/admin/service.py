"""Admin use cases over users. Never commits: the router owns the transactions."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from api.audit import Who
from api.pages import keyset_cursor, read_keyset_cursor
from shared.db.repositories import users
from shared.domain.audit import Action
from shared.domain.enums import Role
from shared.domain.errors import Conflict, NotFound
from shared.messaging.order_view import json_value


def user_id(raw: str) -> uuid.UUID:
    """Parse a user id from the path; anything that is not a UUID is simply not found."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found(raw) from None


def not_found(raw: object) -> NotFound:
    """The 404 of a user id no user has."""
    return NotFound(f"user {raw} not found", details={"field": "user_id"})


def _user(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {name: json_value(row[name])
            for name in ("id", "email", "username", "role", "created_at")}


def _account(row: Mapping[Any, Any]) -> dict[str, Any]:
    shaped = {name: json_value(value) for name, value in row.items()}
    shaped["buying_power"] = json_value(row["cash"] - row["reserved_cash"])
    return shaped


async def list_users(conn: AsyncConnection, *, prefix: str | None, role: Role | None,
                     limit: int, cursor: str | None) -> dict[str, Any]:
    """A page of users, newest first, whose e-mail or username starts with `prefix`."""
    after = read_keyset_cursor(cursor) if cursor else None
    rows = await users.search(conn, prefix=prefix, role=role, limit=limit, after=after)
    last = rows[-1] if len(rows) == limit else None
    return {"items": [_user(row) for row in rows],
            "next_cursor": keyset_cursor(last["created_at"], last["id"]) if last else None}


async def user_detail(conn: AsyncConnection, raw_id: str) -> dict[str, Any]:
    """One user with its accounts; 404 for an unknown id."""
    uid = user_id(raw_id)
    row = await users.profile(conn, uid)
    if row is None:
        raise not_found(raw_id)
    return {**_user(row), "accounts": [_account(a) for a in await users.accounts_of(conn, uid)]}


async def change_role(conn: AsyncConnection, who: Who, raw_id: str,
                      role: Role) -> dict[str, Any]:
    """Give a user `role`, audited; 409 `last_admin` rather than leave nobody to administer.

    The admins' rows are locked first, so two demotions at once cannot both pass the check.
    """
    uid = user_id(raw_id)
    admins = await users.lock_admins(conn)
    if role is Role.USER and admins == [uid]:
        raise Conflict("this is the only admin; make another user an admin first",
                       code="last_admin", details={"field": "role"})
    before = await users.set_role(conn, uid, role)
    if before is None:
        raise not_found(raw_id)
    if before is not role:
        await who.record(conn, Action.ROLE_CHANGED, user_id=uid, target=("user", uid),
                         details={"from": before, "to": role})
    row = await users.profile(conn, uid)
    assert row is not None, "its row is locked"
    return {**_user(row), "previous_role": before.value}
