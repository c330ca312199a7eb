"""Every SQL statement about users and the accounts opened for them at sign-up."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.models import accounts, users
from shared.db.repositories import pages
from shared.db.repositories.pages import Cursor
from shared.domain.enums import Role


@dataclass(frozen=True)
class UserRow:
    """A user as stored, including the password hash (never leaves the API's auth service)."""

    id: uuid.UUID
    email: str
    username: str | None
    password_hash: str
    token_generation: int
    email_verified: bool = False


async def insert_user(
    conn: AsyncConnection, *, user_id: uuid.UUID, email: str, username: str | None,
    password_hash: str,
) -> bool:
    """Insert a user; False (and nothing written) when the email or username is taken.

    A username is taken whatever its case: `Demo` is taken once `demo` exists.
    """
    statement = (
        pg_insert(users)
        .values(id=user_id, email=email, username=username, password_hash=password_hash)
        .on_conflict_do_nothing()
        .returning(users.c.id)
    )
    result = await conn.execute(statement)
    return result.first() is not None


async def taken_fields(conn: AsyncConnection, *, email: str, username: str | None) -> list[str]:
    """Which of email and username already belong to someone, email first."""
    condition = users.c.email == email
    if username is not None:
        condition = or_(condition, func.lower(users.c.username) == username.lower())
    rows = (await conn.execute(select(users.c.email, users.c.username).where(condition))).all()
    fields = []
    if any(row.email == email for row in rows):
        fields.append("email")
    if username is not None and any((row.username or "").lower() == username.lower()
                                    for row in rows):
        fields.append("username")
    return fields


async def get_by_email(conn: AsyncConnection, email: str) -> UserRow | None:
    """The user with this (normalised) email, or None."""
    return await _one(conn, users.c.email == email)


async def get_by_username(conn: AsyncConnection, username: str) -> UserRow | None:
    """The user with this username, whatever its case, or None."""
    return await _one(conn, func.lower(users.c.username) == username.lower())


async def get_by_id(conn: AsyncConnection, user_id: uuid.UUID) -> UserRow | None:
    """The user with this id, or None."""
    return await _one(conn, users.c.id == user_id)


async def _one(conn: AsyncConnection, where: ColumnElement[bool]) -> UserRow | None:
    statement = select(users.c.id, users.c.email, users.c.username, users.c.password_hash,
                       users.c.token_generation, users.c.email_verified_at).where(where)
    row = (await conn.execute(statement)).first()
    if row is None:
        return None
    return UserRow(id=row.id, email=row.email, username=row.username,
                   password_hash=row.password_hash, token_generation=row.token_generation,
                   email_verified=row.email_verified_at is not None)


async def email_verified(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    """Whether the user's address was proven by a login with a mailed code."""
    verified_at = (await conn.execute(select(users.c.email_verified_at)
                                      .where(users.c.id == user_id))).scalar_one_or_none()
    return verified_at is not None


async def mark_email_verified(conn: AsyncConnection, user_id: uuid.UUID, now: datetime) -> bool:
    """Record that the address was proven now; False if it already was (nothing written)."""
    statement = (update(users)
                 .where(users.c.id == user_id, users.c.email_verified_at.is_(None))
                 .values(email_verified_at=now).returning(users.c.id))
    return (await conn.execute(statement)).first() is not None


async def email_of(conn: AsyncConnection, user_id: uuid.UUID) -> str | None:
    """The user's e-mail address; None if no such user."""
    email: str | None = (await conn.execute(
        select(users.c.email).where(users.c.id == user_id))).scalar_one_or_none()
    return email


async def created_at(conn: AsyncConnection, user_id: uuid.UUID) -> datetime | None:
    """When the user signed up; None if no such user."""
    at: datetime | None = (await conn.execute(
        select(users.c.created_at).where(users.c.id == user_id))).scalar_one_or_none()
    return at


async def rename(conn: AsyncConnection, user_id: uuid.UUID, username: str | None) -> bool:
    """Set the user's username (None: none); False (nothing written) when another user has
    it, whatever its case. `demo` may become `Demo`: the name is still its own."""
    try:
        # A savepoint: the unique violation of a concurrent rename aborts only this statement.
        async with conn.begin_nested():
            await conn.execute(update(users).where(users.c.id == user_id)
                               .values(username=username))
    except IntegrityError as exc:
        if "uq_users_username_lower" not in str(exc.orig):
            raise
        return False
    return True


async def token_generation(conn: AsyncConnection, user_id: uuid.UUID) -> int | None:
    """The generation a user's tokens must carry to be honoured; None if no such user."""
    statement = select(users.c.token_generation).where(users.c.id == user_id)
    generation: int | None = (await conn.execute(statement)).scalar_one_or_none()
    return generation


async def advance_token_generation(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    """Move the user's token generation on (locking the user's row); return the new one."""
    statement = (
        update(users)
        .where(users.c.id == user_id)
        .values(token_generation=users.c.token_generation + 1)
        .returning(users.c.token_generation)
    )
    generation: int = (await conn.execute(statement)).scalar_one()
    return generation


async def replace_password_hash(
    conn: AsyncConnection, *, user_id: uuid.UUID, old_hash: str, new_hash: str
) -> bool:
    """Swap the hash only if it is still the one verified, so a concurrent change wins."""
    statement = (
        update(users)
        .where(users.c.id == user_id, users.c.password_hash == old_hash)
        .values(password_hash=new_hash)
    )
    result = await conn.execute(statement)
    return result.rowcount == 1


async def insert_account(
    conn: AsyncConnection, *, account_id: uuid.UUID, user_id: uuid.UUID, broker: str,
    currency: str, cash: Decimal,
) -> None:
    """Open a cash account for a user at a broker (the paper account at sign-up)."""
    await conn.execute(
        insert(accounts).values(
            id=account_id, user_id=user_id, broker=broker, currency=currency, cash=cash
        )
    )


async def role_of(conn: AsyncConnection, user_id: uuid.UUID) -> Role | None:
    """The user's role; None if no such user."""
    role: str | None = (await conn.execute(
        select(users.c.role).where(users.c.id == user_id))).scalar_one_or_none()
    return Role(role) if role is not None else None


async def set_role(conn: AsyncConnection, user_id: uuid.UUID, role: Role) -> Role | None:
    """Give the user `role` (locking its row); return the role it had, None if no such user."""
    before: str | None = (await conn.execute(
        text("UPDATE users AS u SET role = :role FROM (SELECT id, role FROM users WHERE id = :id"
             " FOR UPDATE) AS old WHERE u.id = old.id RETURNING old.role"),
        {"id": user_id, "role": role.value})).scalar_one_or_none()
    return Role(before) if before is not None else None


async def lock_admins(conn: AsyncConnection) -> list[uuid.UUID]:
    """Lock every admin's row and return their ids: role changes then happen one at a time."""
    result = await conn.execute(
        text("SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE"))
    return list(result.scalars())


_PROFILE = "id, email, username, role, created_at"


async def search(conn: AsyncConnection, *, prefix: str | None, role: Role | None, limit: int,
                 after: Cursor | None) -> Sequence[RowMapping]:
    """Users whose e-mail or username starts with `prefix` (any case), newest first."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if prefix:
        clauses.append("(email LIKE :pattern OR lower(username) LIKE :pattern)")
        params["pattern"] = pages.escape_like(prefix.lower()) + "%"
    if role is not None:
        clauses.append("role = :role")
        params["role"] = role.value
    return await pages.keyset(conn, table="users", columns=_PROFILE, where=clauses,
                              params=params, limit=limit, after=after)


async def profile(conn: AsyncConnection, user_id: uuid.UUID) -> RowMapping | None:
    """The user as an admin sees it (no password hash); None if no such user."""
    result = await conn.execute(text(f"SELECT {_PROFILE} FROM users WHERE id = :id"),
                                {"id": user_id})
    return result.mappings().first()


async def accounts_of(conn: AsyncConnection, user_id: uuid.UUID) -> Sequence[RowMapping]:
    """Every account of the user, the paper account first, without credentials."""
    result = await conn.execute(
        text("SELECT id, broker, currency, cash, reserved_cash, label, broker_user_id, status,"
             " halted_at, created_at FROM accounts WHERE user_id = :id"
             " ORDER BY broker <> 'paper', created_at, id"), {"id": user_id})
    return result.mappings().all()
