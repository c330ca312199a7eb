"""Every SQL statement about one-time login codes (one `login_codes` row per account)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.models import login_codes
from shared.domain.login_codes import LoginCode


async def issue(
    conn: AsyncConnection, *, user_id: uuid.UUID, code_hash: str, now: datetime,
    ttl: timedelta, resend_after: timedelta,
) -> bool:
    """Store a new code for the account, replacing its old one, unless the old one was issued
    less than `resend_after` ago; False (nothing written) then.

    One statement, so that two concurrent requests never both mail a code.
    """
    new = pg_insert(login_codes).values(
        user_id=user_id, code_hash=code_hash, issued_at=now, expires_at=now + ttl,
        failed_attempts=0, used_at=None)
    statement = new.on_conflict_do_update(
        index_elements=[login_codes.c.user_id],
        set_={"code_hash": new.excluded.code_hash, "issued_at": new.excluded.issued_at,
              "expires_at": new.excluded.expires_at, "failed_attempts": 0, "used_at": None},
        where=login_codes.c.issued_at <= now - resend_after,
    ).returning(login_codes.c.user_id)
    return (await conn.execute(statement)).first() is not None


async def withdraw(conn: AsyncConnection, *, user_id: uuid.UUID, code_hash: str) -> None:
    """Drop this code if it is still the account's (it could not be delivered), so that the
    next request is not throttled by it."""
    await conn.execute(delete(login_codes).where(login_codes.c.user_id == user_id,
                                                 login_codes.c.code_hash == code_hash))


async def lock(conn: AsyncConnection, user_id: uuid.UUID) -> LoginCode | None:
    """The account's code, row-locked so that concurrent tries of it are counted one by one."""
    statement = (select(login_codes.c.user_id, login_codes.c.code_hash, login_codes.c.issued_at,
                        login_codes.c.expires_at, login_codes.c.failed_attempts,
                        login_codes.c.used_at)
                 .where(login_codes.c.user_id == user_id).with_for_update())
    row = (await conn.execute(statement)).first()
    if row is None:
        return None
    return LoginCode(user_id=row.user_id, code_hash=row.code_hash, issued_at=row.issued_at,
                     expires_at=row.expires_at, failed_attempts=row.failed_attempts,
                     used_at=row.used_at)


async def record_failure(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Count one wrong try of the account's code."""
    await conn.execute(update(login_codes).where(login_codes.c.user_id == user_id)
                       .values(failed_attempts=login_codes.c.failed_attempts + 1))


async def mark_used(conn: AsyncConnection, user_id: uuid.UUID, now: datetime) -> None:
    """Spend the account's code: it logs no one in again."""
    await conn.execute(update(login_codes).where(login_codes.c.user_id == user_id)
                       .values(used_at=now))
