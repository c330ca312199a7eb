"""SQL for the orders an order class links (a bracket's exits, an oco pair): legs and families."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories.orders import ORDER_COLUMNS, to_order
from shared.domain.orders import OPEN_STATUSES, Order

_OPEN = sorted(status.value for status in OPEN_STATUSES)


_INSERT_LEG = text(f"""
WITH inserted AS (
    INSERT INTO orders (id, user_id, account_id, symbol, side, order_type, quantity, price,
        stop_price, time_in_force, expire_at, broker, status, reserved_quantity, order_class,
        parent_id, product, broker_tag, next_dispatch_at, portfolio_id)
    VALUES (:id, :user_id, :account_id, :symbol, :side, :order_type, :quantity, :price,
        :stop_price, :time_in_force, :expire_at, :broker, 'PENDING_NEW', :reserved_quantity,
        :order_class, :parent_id, :product, :broker_tag,
        now() + make_interval(secs => CAST(:dispatch_in AS double precision)), :portfolio_id)
    RETURNING {ORDER_COLUMNS}
), logged AS (
    INSERT INTO order_events (order_id, user_id, version, from_status, to_status, actor)
    SELECT id, user_id, 1, NULL, 'PENDING_NEW', :actor FROM inserted
)
SELECT * FROM inserted""")


async def insert_leg(conn: AsyncConnection, leg: Order, *, actor: str,
                     dispatch_in: float | None = None) -> Order:
    """Insert an exit leg an entry's fill (or an oco's accept) opens, PENDING_NEW, logged.

    Its reservation is the caller's to take (in the same transaction). With `dispatch_in`,
    the sweeper re-drives it after that many seconds unless a worker took it meanwhile.
    The legs one transaction inserts share its created_at: that is what makes them a pair.
    """
    row = (await conn.execute(_INSERT_LEG, {
        "id": leg.id, "user_id": leg.user_id, "account_id": leg.account_id,
        "symbol": leg.symbol, "side": leg.side.value, "order_type": leg.order_type.value,
        "quantity": leg.quantity, "price": leg.price, "stop_price": leg.stop_price,
        "time_in_force": leg.time_in_force.value, "expire_at": leg.expire_at,
        "broker": leg.broker, "reserved_quantity": leg.reserved_quantity,
        "order_class": leg.order_class.value, "parent_id": leg.parent_id, "actor": actor,
        "product": leg.product, "broker_tag": leg.broker_tag, "dispatch_in": dispatch_in,
        "portfolio_id": leg.portfolio_id,
    })).mappings().one()
    return to_order(row)


async def exit_terms_of(conn: AsyncConnection, order_id: uuid.UUID) -> Mapping[str, Any] | None:
    """The exit terms stored on an entry or an oco order."""
    result = await conn.execute(text("SELECT exit_terms FROM orders WHERE id = :id"),
                                {"id": order_id})
    stored: Mapping[str, Any] | None = result.scalar()
    return stored


async def legs_of(conn: AsyncConnection, parent_ids: Sequence[uuid.UUID]) -> list[Order]:
    """The legs (children) of these orders, oldest first, unlocked: what a response shows."""
    result = await conn.execute(
        text(f"SELECT {ORDER_COLUMNS} FROM orders WHERE parent_id = ANY(:ids)"
             " ORDER BY created_at, id"), {"ids": list(parent_ids)})
    return [to_order(row) for row in result.mappings()]


async def family_of(conn: AsyncConnection, root: uuid.UUID) -> list[Order]:
    """Every order of a family (the root and its legs), in any status, unlocked."""
    result = await conn.execute(
        text(f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = :root OR parent_id = :root"
             " ORDER BY created_at, id"), {"root": root})
    return [to_order(row) for row in result.mappings()]


async def first_quantity(conn: AsyncConnection, order_id: uuid.UUID) -> Decimal | None:
    """The quantity an order was placed with, from its log (None if it was never changed)."""
    result = await conn.execute(
        text("SELECT detail -> 'changed' -> 'quantity' ->> 0 FROM order_events"
             " WHERE order_id = :id AND detail -> 'changed' -> 'quantity' IS NOT NULL"
             " ORDER BY version LIMIT 1"), {"id": order_id})
    first: str | None = result.scalar()
    return None if first is None else Decimal(first)


_FAMILY = ("FROM orders WHERE (id = ANY(:roots) OR parent_id = ANY(:roots))"
           " AND status = ANY(:open)")


async def lock_families(conn: AsyncConnection, roots: Sequence[uuid.UUID], *,
                        skip_locked: bool = False) -> tuple[list[Order], set[uuid.UUID]]:
    """Lock the open orders of these families (a root and its legs) in id order.

    With `skip_locked`, rows another transaction holds are left out and their ids returned
    apart, so the caller never waits (the paper matcher already holds other orders' locks).
    """
    params = {"roots": sorted(set(roots)), "open": _OPEN}
    skip = " SKIP LOCKED" if skip_locked else ""
    locked = [to_order(row) for row in (await conn.execute(
        text(f"SELECT {ORDER_COLUMNS} {_FAMILY} ORDER BY id FOR UPDATE{skip}"),
        params)).mappings()]
    if not skip_locked:
        return locked, set()
    every = set((await conn.execute(text(f"SELECT id {_FAMILY}"), params)).scalars())
    return locked, every - {order.id for order in locked}
