"""Every SQL statement about broker connections: accounts rows whose broker is not paper.

User-facing reads start from the owner; a revoked connection is invisible to its user.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.brokers.catalog import CAPABILITIES, Broker
from shared.domain.orders import OPEN_STATUSES

COLUMNS = (
    "id, user_id, broker, label, broker_user_id, status, token_expires_at, last_error,"
    " currency, webhook_token, created_at, updated_at"
)
_VISIBLE = "broker <> 'paper' AND status <> 'revoked'"

# A reconnect of the same broker login (same user, broker, broker user id) revives and updates
# the existing row, so its account id, orders and webhook token stay what they were.
_UPSERT = text(f"""
    INSERT INTO accounts (id, user_id, broker, currency, cash, label, broker_user_id, status,
                          webhook_token)
    VALUES (:id, :user_id, :broker, :currency, 0, :label, :broker_user_id, 'active',
            :webhook_token)
    ON CONFLICT (user_id, broker, broker_user_id) WHERE broker_user_id IS NOT NULL
    DO UPDATE SET label = COALESCE(EXCLUDED.label, accounts.label),
                  webhook_token = COALESCE(accounts.webhook_token, EXCLUDED.webhook_token),
                  status = 'active', updated_at = now()
    RETURNING {COLUMNS}""")


async def upsert(conn: AsyncConnection, *, user_id: uuid.UUID, broker: Broker,
                 broker_user_id: str | None, label: str | None) -> RowMapping:
    """Create the connection of this broker login, or return the existing one (updated)."""
    result = await conn.execute(_UPSERT, {
        "id": uuid.uuid4(), "user_id": user_id, "broker": broker.value,
        "currency": CAPABILITIES[broker].currency, "label": label,
        "broker_user_id": broker_user_id or None, "webhook_token": secrets.token_urlsafe(32)})
    return result.mappings().one()


async def list_for_user(conn: AsyncConnection, user_id: uuid.UUID,
                        broker: Broker | None = None) -> Sequence[RowMapping]:
    """Return the user's live connections (all brokers, or one), oldest first."""
    sql = f"SELECT {COLUMNS} FROM accounts WHERE user_id = :user_id AND {_VISIBLE}"
    params: dict[str, object] = {"user_id": user_id}
    if broker is not None:
        sql += " AND broker = :broker"
        params["broker"] = broker.value
    result = await conn.execute(text(sql + " ORDER BY created_at, id"), params)
    return result.mappings().all()


async def get_for_user(conn: AsyncConnection, user_id: uuid.UUID, broker: Broker,
                       account_id: uuid.UUID, *, lock: bool = False) -> RowMapping | None:
    """Return one of the user's live connections with its ciphertext; None if absent or foreign.

    `lock` takes the row FOR UPDATE: order inserts lock the same row when they reserve cash.
    """
    result = await conn.execute(
        text(f"SELECT {COLUMNS}, credentials FROM accounts WHERE user_id = :user_id"
             f" AND id = :id AND broker = :broker AND {_VISIBLE}"
             + (" FOR UPDATE" if lock else "")),
        {"user_id": user_id, "id": account_id, "broker": broker.value})
    return result.mappings().first()


async def save_credentials(conn: AsyncConnection, account_id: uuid.UUID, *, credentials: str,
                           status: str, token_expires_at: datetime | None,
                           last_error: str | None) -> RowMapping | None:
    """Store new credentials and status of a live connection; None if it was revoked meanwhile."""
    result = await conn.execute(
        text("UPDATE accounts SET credentials = :credentials, status = :status,"
             " token_expires_at = :token_expires_at, last_error = :last_error,"
             f" updated_at = now() WHERE id = :id AND {_VISIBLE} RETURNING {COLUMNS}"),
        {"id": account_id, "credentials": credentials, "status": status,
         "token_expires_at": token_expires_at, "last_error": last_error})
    return result.mappings().first()


async def mark_status(conn: AsyncConnection, account_id: uuid.UUID, *, status: str,
                      last_error: str | None) -> None:
    """Record a live connection's status and why (e.g. expired: the broker wants a new login)."""
    await conn.execute(
        text("UPDATE accounts SET status = :status, last_error = :last_error, updated_at = now()"
             f" WHERE id = :id AND {_VISIBLE}"),
        {"id": account_id, "status": status, "last_error": last_error})


async def revoke(conn: AsyncConnection, account_id: uuid.UUID) -> None:
    """Disconnect: status revoked, credentials and webhook token wiped; the row stays."""
    await conn.execute(
        text("UPDATE accounts SET status = 'revoked', credentials = NULL, webhook_token = NULL,"
             " token_expires_at = NULL, updated_at = now()"
             " WHERE id = :id AND broker <> 'paper'"),
        {"id": account_id})


async def count_open_orders(conn: AsyncConnection, account_id: uuid.UUID) -> int:
    """How many orders on this account are not yet in a final state."""
    result = await conn.execute(
        text("SELECT count(*) FROM orders WHERE account_id = :id AND status = ANY(:open)"),
        {"id": account_id, "open": sorted(s.value for s in OPEN_STATUSES)})
    return int(result.scalar_one())


async def webhook_candidates(conn: AsyncConnection, broker: Broker, *,
                             broker_user_id: str | None = None,
                             webhook_token: str | None = None) -> Sequence[RowMapping]:
    """Connections a delivery to this broker may belong to (expired ones too: late postbacks)."""
    sql = ("SELECT id, user_id, broker, broker_user_id, credentials, webhook_token FROM accounts"
           " WHERE broker = :broker AND status <> 'revoked' AND credentials IS NOT NULL")
    params: dict[str, object] = {"broker": broker.value}
    if broker_user_id is not None:
        sql += " AND broker_user_id = :broker_user_id"
        params["broker_user_id"] = broker_user_id
    if webhook_token is not None:
        sql += " AND webhook_token = :webhook_token"
        params["webhook_token"] = webhook_token
    result = await conn.execute(text(sql), params)
    return result.mappings().all()


async def count_with_credentials(conn: AsyncConnection) -> int:
    """How many rows hold credentials (what a key rotation will go through)."""
    count: int = (await conn.execute(
        text("SELECT count(*) FROM accounts WHERE credentials IS NOT NULL"))).scalar_one()
    return count


async def lock_credentials_batch(conn: AsyncConnection, *, after: uuid.UUID | None,
                                 limit: int) -> Sequence[RowMapping]:
    """Lock the next `limit` rows holding credentials, by id after `after` (key rotation)."""
    sql = "SELECT id, user_id, broker, credentials FROM accounts WHERE credentials IS NOT NULL"
    params: dict[str, object] = {"limit": limit}
    if after is not None:
        sql += " AND id > :after"
        params["after"] = after
    result = await conn.execute(text(sql + " ORDER BY id LIMIT :limit FOR UPDATE"), params)
    return result.mappings().all()


async def replace_credentials(conn: AsyncConnection, account_id: uuid.UUID,
                              credentials: str) -> None:
    """Swap a row's ciphertext for an equivalent one (re-encrypted); nothing else changes."""
    await conn.execute(text("UPDATE accounts SET credentials = :credentials WHERE id = :id"),
                       {"id": account_id, "credentials": credentials})
