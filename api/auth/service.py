"""Sign-up, login, refresh-token rotation and logout. Never commits: the router owns transactions.

Password hashing (~0.1 s) happens outside any transaction, so a burst of logins never holds
database connections while the CPU works.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection

from api.audit import Who
from api.auth import generations, passwords
from api.errors import AuthCode, email_unverified, unauthenticated
from api.security import issue_access_token
from shared.db.repositories import tokens, users
from shared.db.repositories.users import UserRow
from shared.domain.audit import Action
from shared.domain.errors import Conflict
from shared.settings import Settings

log = logging.getLogger(__name__)

PAPER_BROKER = "paper"
# One message for an unknown email and a wrong password: nothing tells them apart.
BAD_CREDENTIALS = "email or password is incorrect"
ACCOUNT_GONE = "this account no longer exists"
BAD_REFRESH_TOKEN = "refresh token is invalid, expired or revoked; log in again"


@dataclass(frozen=True)
class NewUser:
    """A sign-up whose password is already hashed."""

    email: str
    username: str | None
    password_hash: str


@dataclass(frozen=True)
class Authenticated:
    """A user whose password checked out; `new_hash` replaces an outdated stored hash."""

    user: UserRow
    new_hash: str | None


@dataclass(frozen=True)
class TokenPair:
    """What a login or a refresh hands back to the client."""

    access_token: str
    refresh_token: str
    expires_in: int


def hash_refresh_token(token: str) -> str:
    """The only form in which a refresh token is stored: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def prepare_user(email: str, username: str | None, password: str) -> NewUser:
    """Hash the password (off the event loop) before any transaction opens."""
    return NewUser(email=email, username=username,
                   password_hash=await passwords.hash_password(password))


async def register(conn: AsyncConnection, settings: Settings, new_user: NewUser) -> UserRow:
    """Create the user and its funded paper account; 409 if the email or username is taken."""
    user_id = uuid.uuid4()
    inserted = await users.insert_user(
        conn, user_id=user_id, email=new_user.email, username=new_user.username,
        password_hash=new_user.password_hash,
    )
    if not inserted:
        taken = await users.taken_fields(conn, email=new_user.email, username=new_user.username)
        field = taken[0] if taken else "email"
        raise Conflict(f"a user with this {field} already exists", code="already_registered",
                       details={"field": field})
    await users.insert_account(
        conn, account_id=uuid.uuid4(), user_id=user_id, broker=PAPER_BROKER,
        currency=settings.paper_currency, cash=settings.paper_starting_cash,
    )
    return UserRow(id=user_id, email=new_user.email, username=new_user.username,
                   password_hash=new_user.password_hash, token_generation=0)


async def find_user(conn: AsyncConnection, email: str) -> UserRow | None:
    """Look up the user who is trying to log in."""
    return await users.get_by_email(conn, email)


async def authenticate(user: UserRow | None, password: str) -> Authenticated:
    """Check the password; unknown users cost the same hash check and get the same 401."""
    verification = await passwords.verify_password(
        password, user.password_hash if user is not None else None
    )
    if user is None or not verification.ok:
        raise unauthenticated(BAD_CREDENTIALS, AuthCode.INVALID_CREDENTIALS)
    return Authenticated(user=user, new_hash=verification.new_hash)


def require_verified(settings: Settings, user: UserRow) -> None:
    """403 `email_unverified` when REQUIRE_EMAIL_VERIFICATION holds and `user` has not yet
    proven its address (by a login with a mailed code)."""
    if settings.require_email_verification and not user.email_verified:
        raise email_unverified()


async def start_session(
    conn: AsyncConnection, settings: Settings, login: Authenticated
) -> TokenPair:
    """Store an upgraded password hash if any, and issue tokens in a new refresh family."""
    if login.new_hash is not None:
        await users.replace_password_hash(
            conn, user_id=login.user.id, old_hash=login.user.password_hash,
            new_hash=login.new_hash,
        )
    return await _issue_pair(conn, settings, login.user.id, family_id=uuid.uuid4(),
                             generation=login.user.token_generation)


async def rotate(conn: AsyncConnection, settings: Settings, refresh_token: str,
                 who: Who) -> TokenPair | None:
    """Swap a live refresh token for a new pair; None if it is unknown, expired or revoked.

    Presenting an already-rotated token means it leaked (RFC 9700 §4.14.2): the whole family is
    revoked, and audited. The caller must commit even when this returns None, so that
    revocation sticks.
    A token from before the user's last logout everywhere never rotates.
    """
    now = datetime.now(UTC)
    row = await tokens.lock_by_hash(conn, hash_refresh_token(refresh_token))
    if row is None:
        return None
    if row.revoked_at is not None:
        revoked = await tokens.revoke_family(conn, row.family_id, now)
        log.warning(
            "security: revoked refresh token reused; family %s of user %s revoked (%d live)",
            row.family_id, row.user_id, revoked,
        )
        await who.record(conn, Action.REFRESH_TOKEN_REUSED, user_id=row.user_id,
                         details={"family_id": str(row.family_id),
                                  "sessions_ended": revoked})
        return None
    if row.expires_at <= now or row.generation != row.current_generation:
        return None
    await tokens.revoke(conn, row.id, now)
    return await _issue_pair(conn, settings, row.user_id, family_id=row.family_id,
                             generation=row.generation)


async def logout(conn: AsyncConnection, refresh_token: str) -> None:
    """End the session this refresh token belongs to: its whole family is revoked."""
    await tokens.revoke_family_of(conn, hash_refresh_token(refresh_token), datetime.now(UTC))


async def revoke_all_sessions(conn: AsyncConnection, mirror: Redis, user_id: uuid.UUID) -> int:
    """End every session of the user: refresh tokens revoked, access tokens refused at once.

    For logout-all, and for a password change (which must also end the sessions of whoever
    knew the old password). The new generation is mirrored in `mirror` (api/auth/generations)
    before the caller commits; 503 if it cannot be. Returns how many refresh tokens were
    still live.
    """
    generation = await users.advance_token_generation(conn, user_id)
    await generations.raise_mirror(mirror, user_id, generation)
    revoked = await tokens.revoke_all_of_user(conn, user_id, datetime.now(UTC))
    log.info("security: every session of user %s ended (%d live refresh tokens)",
             user_id, revoked)
    return revoked


async def restart_sessions(conn: AsyncConnection, settings: Settings, mirror: Redis,
                           user_id: uuid.UUID) -> TokenPair:
    """End every session of the user and start a new one (after a password change)."""
    await revoke_all_sessions(conn, mirror, user_id)
    generation = await users.token_generation(conn, user_id)
    if generation is None:  # deleted meanwhile
        raise unauthenticated(ACCOUNT_GONE)
    return await _issue_pair(conn, settings, user_id, family_id=uuid.uuid4(),
                             generation=generation)


async def _issue_pair(
    conn: AsyncConnection, settings: Settings, user_id: uuid.UUID, *, family_id: uuid.UUID,
    generation: int,
) -> TokenPair:
    refresh_token = secrets.token_urlsafe(32)
    await tokens.insert_token(
        conn, token_id=uuid.uuid4(), user_id=user_id,
        token_hash=hash_refresh_token(refresh_token), family_id=family_id,
        expires_at=datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl_seconds),
        generation=generation,
    )
    return TokenPair(
        access_token=issue_access_token(settings, user_id, generation),
        refresh_token=refresh_token,
        expires_in=settings.access_token_ttl_seconds,
    )
