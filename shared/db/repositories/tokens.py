"""Every SQL statement about refresh tokens; tokens are looked up by their SHA-256 only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.models import refresh_tokens, users


@dataclass(frozen=True)
class RefreshTokenRow:
    """A stored refresh token: its family links every token rotated from one login.

    `generation` is the user's token generation it was issued in, `current_generation` the
    user's now: once they differ, the user logged out everywhere since.
    """

    id: uuid.UUID
    user_id: uuid.UUID
    family_id: uuid.UUID
    expires_at: datetime
    revoked_at: datetime | None
    generation: int
    current_generation: int


async def insert_token(
    conn: AsyncConnection, *, token_id: uuid.UUID, user_id: uuid.UUID, token_hash: str,
    family_id: uuid.UUID, expires_at: datetime, generation: int,
) -> None:
    """Store a new refresh token by its hash."""
    await conn.execute(
        insert(refresh_tokens).values(
            id=token_id, user_id=user_id, token_hash=token_hash, family_id=family_id,
            expires_at=expires_at, generation=generation,
        )
    )


async def lock_by_hash(conn: AsyncConnection, token_hash: str) -> RefreshTokenRow | None:
    """Fetch and row-lock a token, so two concurrent rotations of it serialise.

    The user's row is not locked: a logout-all racing this rotation moves the generation on,
    and the token this rotation issues then carries the older one and is refused.
    """
    statement = (
        select(
            refresh_tokens.c.id, refresh_tokens.c.user_id, refresh_tokens.c.family_id,
            refresh_tokens.c.expires_at, refresh_tokens.c.revoked_at,
            refresh_tokens.c.generation, users.c.token_generation,
        )
        .join(users, users.c.id == refresh_tokens.c.user_id)
        .where(refresh_tokens.c.token_hash == token_hash)
        .with_for_update(of=refresh_tokens)
    )
    row = (await conn.execute(statement)).first()
    if row is None:
        return None
    return RefreshTokenRow(id=row.id, user_id=row.user_id, family_id=row.family_id,
                           expires_at=row.expires_at, revoked_at=row.revoked_at,
                           generation=row.generation, current_generation=row.token_generation)


async def revoke(conn: AsyncConnection, token_id: uuid.UUID, now: datetime) -> None:
    """Mark one token revoked (kept, so a later reuse of it is recognised)."""
    await conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.id == token_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_family(conn: AsyncConnection, family_id: uuid.UUID, now: datetime) -> int:
    """Revoke every still-live token of a family; return how many were live."""
    result = await conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount


async def revoke_family_of(conn: AsyncConnection, token_hash: str, now: datetime) -> int:
    """Revoke the whole family of the token with this hash (nothing if it was never issued)."""
    family = (
        select(refresh_tokens.c.family_id)
        .where(refresh_tokens.c.token_hash == token_hash)
        .scalar_subquery()
    )
    result = await conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount


async def revoke_all_of_user(conn: AsyncConnection, user_id: uuid.UUID, now: datetime) -> int:
    """Revoke every still-live token of a user (every session); return how many were live."""
    result = await conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.user_id == user_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount
