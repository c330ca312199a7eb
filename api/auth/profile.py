"""Your account as you see and change it: /me. Never commits: the router owns transactions.

`full_name` is the settings profile's name (user_settings.display_name): one name, whichever
route sets it.
"""

from __future__ import annotations

import uuid
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.audit import Who
from api.auth import passwords, service
from api.auth.schemas import Me, PasswordChange
from api.errors import AuthCode, forbidden, unauthenticated
from shared.db.repositories import user_settings, users
from shared.db.repositories.users import UserRow
from shared.domain.audit import Action
from shared.domain.errors import Conflict
from shared.settings import Settings

WRONG_PASSWORD = "the current password is incorrect"


async def get_me(conn: AsyncConnection, user_id: uuid.UUID) -> Me:
    """Return the caller's account; 401 if it was deleted since the token was issued."""
    user = await users.get_by_id(conn, user_id)
    signed_up = await users.created_at(conn, user_id)
    if user is None or signed_up is None:
        raise unauthenticated(service.ACCOUNT_GONE)
    settings_row = await user_settings.get(conn, user_id)
    return Me(id=user.id, email=user.email, username=user.username,
              full_name=settings_row["display_name"], created_at=signed_up)


async def update_me(conn: AsyncConnection, user_id: uuid.UUID, changes: dict[str, Any]) -> Me:
    """Apply the given fields; 409 `username_taken` if another user has the name, any case."""
    if "username" in changes and not await users.rename(conn, user_id, changes["username"]):
        raise Conflict("this username is taken", code="username_taken",
                       details={"field": "username"})
    if "full_name" in changes:
        await user_settings.put(conn, user_id, {"display_name": changes["full_name"]})
    return await get_me(conn, user_id)


async def current_user(engine: AsyncEngine, user_id: uuid.UUID) -> UserRow:
    """The caller's login row, for a password check outside any transaction."""
    async with engine.connect() as conn:
        user = await users.get_by_id(conn, user_id)
    if user is None:
        raise unauthenticated(service.ACCOUNT_GONE)
    return user


async def change_password(engine: AsyncEngine, settings: Settings, mirror: Redis,
                          user: UserRow, body: PasswordChange, who: Who) -> service.TokenPair:
    """Check the current password, store the new one, end every session, start a new one.

    403 `invalid_credentials` for a wrong current password (audited as a failed login: a
    stolen token guessing the password): the caller is authenticated, so a 401 would wrongly
    tell the client its token is bad. Hashing runs before the transaction.
    """
    verification = await passwords.verify_password(body.current_password, user.password_hash)
    if not verification.ok:
        async with engine.begin() as conn:
            await who.record(conn, Action.LOGIN_FAILED,
                             details={"method": "current_password", "email": user.email})
        raise forbidden(WRONG_PASSWORD, AuthCode.INVALID_CREDENTIALS,
                        details={"field": "current_password"})
    new_hash = await passwords.hash_password(body.new_password)
    async with engine.begin() as conn:
        if not await users.replace_password_hash(conn, user_id=user.id,
                                                 old_hash=user.password_hash, new_hash=new_hash):
            raise Conflict("the password changed while this request was checked; try again",
                           code="password_changed_meanwhile")
        pair = await service.restart_sessions(conn, settings, mirror, user.id)
        await who.record(conn, Action.PASSWORD_CHANGED)
        return pair
