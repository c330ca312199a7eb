"""Every SQL statement about API keys; a key's owner reads it by (user, id), a call by id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.models import api_keys, users


@dataclass(frozen=True)
class ApiKeyRow:
    """A stored key, without its hash: what its owner may see."""

    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    scopes: tuple[str, ...]
    allowed_ips: tuple[str, ...] | None
    expires_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class StoredKey:
    """A key with the hash a call's key is checked against."""

    key: ApiKeyRow
    secret_hash: str


_COLUMNS = (api_keys.c.id, api_keys.c.user_id, api_keys.c.name, api_keys.c.scopes,
            api_keys.c.allowed_ips, api_keys.c.expires_at, api_keys.c.last_used_at,
            api_keys.c.created_at)


def _row(row: Row[*tuple[Any, ...]]) -> ApiKeyRow:
    return ApiKeyRow(
        id=row.id, user_id=row.user_id, name=row.name, scopes=tuple(row.scopes),
        allowed_ips=None if row.allowed_ips is None else tuple(row.allowed_ips),
        expires_at=row.expires_at, last_used_at=row.last_used_at, created_at=row.created_at)


async def lock_owner(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Row-lock the user, so that two concurrent creations count each other's key."""
    await conn.execute(select(users.c.id).where(users.c.id == user_id).with_for_update())


async def count_for_user(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    """How many keys the user has (expired ones count until deleted)."""
    statement = select(func.count()).select_from(api_keys).where(api_keys.c.user_id == user_id)
    return int((await conn.execute(statement)).scalar_one())


async def insert_key(
    conn: AsyncConnection, *, key_id: uuid.UUID, user_id: uuid.UUID, name: str,
    secret_hash: str, scopes: list[str], allowed_ips: list[str] | None,
    expires_at: datetime | None,
) -> ApiKeyRow:
    """Store a new key by its hash; return it as stored."""
    statement = (
        insert(api_keys)
        .values(id=key_id, user_id=user_id, name=name, secret_hash=secret_hash, scopes=scopes,
                allowed_ips=allowed_ips, expires_at=expires_at)
        .returning(*_COLUMNS)
    )
    return _row((await conn.execute(statement)).one())


async def list_for_user(conn: AsyncConnection, user_id: uuid.UUID) -> list[ApiKeyRow]:
    """The user's keys, newest first."""
    statement = (select(*_COLUMNS).where(api_keys.c.user_id == user_id)
                 .order_by(api_keys.c.created_at.desc(), api_keys.c.id))
    return [_row(row) for row in (await conn.execute(statement)).all()]


async def get_for_user(conn: AsyncConnection, user_id: uuid.UUID, key_id: uuid.UUID
                       ) -> ApiKeyRow | None:
    """One of the user's keys; None for an unknown id and another user's key alike."""
    statement = select(*_COLUMNS).where(api_keys.c.user_id == user_id, api_keys.c.id == key_id)
    row = (await conn.execute(statement)).first()
    return None if row is None else _row(row)


async def delete_for_user(conn: AsyncConnection, user_id: uuid.UUID, key_id: uuid.UUID
                          ) -> bool:
    """Delete one of the user's keys; False when the user has no such key."""
    statement = (delete(api_keys)
                 .where(api_keys.c.user_id == user_id, api_keys.c.id == key_id)
                 .returning(api_keys.c.id))
    return (await conn.execute(statement)).first() is not None


async def get_for_call(conn: AsyncConnection, key_id: uuid.UUID) -> StoredKey | None:
    """The key a call names, with its hash."""
    statement = select(*_COLUMNS, api_keys.c.secret_hash).where(api_keys.c.id == key_id)
    row = (await conn.execute(statement)).first()
    return None if row is None else StoredKey(key=_row(row), secret_hash=row.secret_hash)


async def touch(conn: AsyncConnection, key_id: uuid.UUID, now: datetime,
                resolution: timedelta) -> None:
    """Record a use at `now`, unless one within `resolution` is already recorded."""
    await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id,
               or_(api_keys.c.last_used_at.is_(None),
                   api_keys.c.last_used_at <= now - resolution))
        .values(last_used_at=now)
    )
