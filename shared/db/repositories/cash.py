"""The cash journal: admin deposits and withdrawals of paper cash, each booked with the
account's new cash in one transaction. Append-only (migration 0016's trigger)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

ENTRY = ("id, account_id, user_id, amount, cash_after, reason, actor_user_id, idempotency_key,"
         " request_hash, created_at")


async def lock_account(conn: AsyncConnection, user_id: uuid.UUID,
                       account_id: uuid.UUID | None) -> RowMapping | None:
    """Lock one of the user's accounts (default: its paper account); None if it has none such.

    The row lock orders the adjustment with placements, whose reservation updates the row.
    """
    result = await conn.execute(
        text("SELECT id, broker, currency, cash, reserved_cash FROM accounts"
             " WHERE user_id = :user_id AND CASE WHEN CAST(:id AS uuid) IS NULL"
             " THEN broker = 'paper' ELSE id = :id END FOR UPDATE"),
        {"user_id": user_id, "id": account_id})
    return result.mappings().first()


async def entry_by_key(conn: AsyncConnection, account_id: uuid.UUID,
                       idempotency_key: str) -> RowMapping | None:
    """The entry booked on the account under this Idempotency-Key, if any."""
    result = await conn.execute(
        text(f"SELECT {ENTRY} FROM cash_journal WHERE account_id = :account"
             " AND idempotency_key = :key"), {"account": account_id, "key": idempotency_key})
    return result.mappings().first()


async def book(conn: AsyncConnection, *, account_id: uuid.UUID, user_id: uuid.UUID,
               amount: Decimal, cash_after: Decimal, reason: str, actor_user_id: uuid.UUID,
               idempotency_key: str, request_hash: str) -> RowMapping:
    """Set the (locked) account's cash to `cash_after` and journal the change."""
    await conn.execute(text("UPDATE accounts SET cash = :cash, updated_at = now()"
                            " WHERE id = :id"), {"id": account_id, "cash": cash_after})
    result = await conn.execute(
        text("INSERT INTO cash_journal (id, account_id, user_id, amount, cash_after, reason,"
             " actor_user_id, idempotency_key, request_hash) VALUES (:id, :account, :user,"
             f" :amount, :after, :reason, :actor, :key, :hash) RETURNING {ENTRY}"),
        {"id": uuid.uuid4(), "account": account_id, "user": user_id, "amount": amount,
         "after": cash_after, "reason": reason, "actor": actor_user_id, "key": idempotency_key,
         "hash": request_hash})
    return result.mappings().one()
