"""Taking more of an account's cash or a position's shares for an order, only if it is free.

Releases go through `orders.release_reservation`; a take is a compare-and-set in one UPDATE,
so two orders (or an order and a fill) can never spend the same cash or sell the same share.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def take_cash(conn: AsyncConnection, account_id: uuid.UUID, amount: Decimal) -> bool:
    """Reserve `amount` more of the account's cash; False (nothing taken) if not that free."""
    result = await conn.execute(
        text("UPDATE accounts SET reserved_cash = reserved_cash + :amount"
             " WHERE id = :id AND cash - reserved_cash >= :amount RETURNING id"),
        {"id": account_id, "amount": amount})
    return result.first() is not None


async def free_cash(conn: AsyncConnection, account_id: uuid.UUID) -> Decimal:
    """The account's cash not reserved by an order."""
    result = await conn.execute(
        text("SELECT cash - reserved_cash FROM accounts WHERE id = :id"), {"id": account_id})
    free: Decimal | None = result.scalar()
    return free if free is not None else Decimal(0)


async def take_shares(conn: AsyncConnection, account_id: uuid.UUID, symbol: str,
                      quantity: Decimal) -> bool:
    """Reserve `quantity` more shares of the position; False (nothing taken) if not that free."""
    result = await conn.execute(
        text("UPDATE positions SET reserved_quantity = reserved_quantity + :qty"
             " WHERE account_id = :account_id AND symbol = :symbol"
             " AND quantity - reserved_quantity >= :qty RETURNING symbol"),
        {"account_id": account_id, "symbol": symbol, "qty": quantity})
    return result.first() is not None


async def free_shares(conn: AsyncConnection, account_id: uuid.UUID, symbol: str) -> Decimal:
    """The position's shares not reserved by a SELL order."""
    result = await conn.execute(
        text("SELECT quantity - reserved_quantity FROM positions"
             " WHERE account_id = :account_id AND symbol = :symbol"),
        {"account_id": account_id, "symbol": symbol})
    free: Decimal | None = result.scalar()
    return free if free is not None else Decimal(0)
