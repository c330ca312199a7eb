"""Create, list and delete a user's API keys, and authenticate a call made with one.

Never commits: the router owns the transactions. Every call with a key reads its row (one
primary-key lookup), so a deleted key stops working at once in every API process.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.apikeys import keys
from api.apikeys.schemas import ApiKeyOut, CreateApiKey, CreatedApiKey
from api.errors import ApiError, AuthCode, forbidden, unauthenticated
from shared.db.repositories import api_keys
from shared.db.repositories.api_keys import ApiKeyRow
from shared.domain.errors import NotFound
from shared.settings import Settings

# One answer for an unknown key, a wrong secret, an expired or a deleted key.
BAD_KEY = "the API key is invalid, expired or revoked"


async def create(conn: AsyncConnection, settings: Settings, user_id: uuid.UUID,
                 body: CreateApiKey, now: datetime) -> CreatedApiKey:
    """Store a new key for the user; 422 past the per-user cap or for an expiry not ahead."""
    if body.expires_at is not None and body.expires_at <= now:
        raise ApiError(422, f"expires_at must be in the future, was {body.expires_at.isoformat()}",
                       code="invalid_request", details={"field": "expires_at"})
    await api_keys.lock_owner(conn, user_id)
    limit = settings.max_api_keys_per_user
    if await api_keys.count_for_user(conn, user_id) >= limit:
        raise ApiError(422, f"a user may hold at most {limit} API keys; delete one first",
                       code="too_many_api_keys", details={"field": None, "limit": limit})
    issued = keys.issue()
    row = await api_keys.insert_key(
        conn, key_id=issued.key_id, user_id=user_id, name=body.name,
        secret_hash=issued.secret_hash, scopes=[scope.value for scope in body.scopes],
        allowed_ips=body.allowed_ips, expires_at=body.expires_at)
    return CreatedApiKey(**shape(row).model_dump(), key=issued.token)


async def list_for(conn: AsyncConnection, user_id: uuid.UUID) -> list[ApiKeyOut]:
    """The user's keys, newest first."""
    return [shape(row) for row in await api_keys.list_for_user(conn, user_id)]


async def get(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> ApiKeyOut:
    """One of the user's keys; 404 for another user's key as for an unknown one."""
    row = await api_keys.get_for_user(conn, user_id, key_id(raw_id))
    if row is None:
        raise not_found(raw_id)
    return shape(row)


async def delete(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> None:
    """Delete one of the user's keys: its next call is refused; 404 as for `get`."""
    if not await api_keys.delete_for_user(conn, user_id, key_id(raw_id)):
        raise not_found(raw_id)


async def authenticate(engine: AsyncEngine, token: str, client_host: str | None,
                       now: datetime) -> ApiKeyRow:
    """The key a call presents; 401 when it is not a live key, 403 from outside its allow-list.

    `engine` runs in autocommit: the recorded last use is one statement, at most once a
    minute per key.
    """
    key_id = keys.key_id_of(token)
    async with engine.connect() as conn:
        stored = await api_keys.get_for_call(conn, key_id) if key_id is not None else None
        # Hashed and compared even for an unknown id: both cost the same.
        same = keys.matches(token, stored.secret_hash if stored else None)
        if stored is None or not same:
            raise unauthenticated(BAD_KEY)
        key = stored.key
        if keys.is_expired(key.expires_at, now):
            raise unauthenticated(BAD_KEY)
        # Only a caller holding the key learns that its address is the problem.
        if not keys.address_allowed(key.allowed_ips, client_host):
            raise forbidden(f"this API key may not be used from {client_host}",
                            AuthCode.IP_NOT_ALLOWED)
        if keys.last_used_due(key.last_used_at, now):
            await api_keys.touch(conn, key.id, now, keys.LAST_USED_RESOLUTION)
    return key


def shape(row: ApiKeyRow) -> ApiKeyOut:
    """A stored key as its owner sees it."""
    return ApiKeyOut.model_validate({
        "id": row.id, "name": row.name, "prefix": keys.display_prefix(row.id),
        "scopes": list(row.scopes), "allowed_ips": row.allowed_ips and list(row.allowed_ips),
        "expires_at": row.expires_at, "last_used_at": row.last_used_at,
        "created_at": row.created_at})


def key_id(raw: str) -> uuid.UUID:
    """Parse a key id from the path; anything that is not a UUID is simply not found."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found(raw) from None


def not_found(raw: str) -> NotFound:
    """The 404 of a key the caller does not own, or that does not exist."""
    return NotFound(f"API key {raw} not found", details={"field": "key_id"})
