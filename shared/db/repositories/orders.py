"""Every SQL statement about orders; user-facing reads always start from the owner."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import pages
from shared.domain.enums import OrderStatus, Side
from shared.domain.risk import OrderRequest

ORDER_COLUMNS = (
    "id, user_id, account_id, client_order_id, symbol, side, order_type, quantity, price,"
    " stop_price, time_in_force, broker, broker_order_id, status, filled_quantity,"
    " avg_fill_price, reserved_cash, reserved_quantity, reject_reason, version,"
    " request_hash, created_at, updated_at, product, broker_tag, broker_status, status_detail,"
    " placement, placement_attempts, dispatch_attempts"
)


@dataclass(frozen=True)
class NewOrder:
    """An order that passed validation, with what it must reserve."""

    id: uuid.UUID
    user_id: uuid.UUID
    broker: str
    # The broker connection's account; None routes to the user's paper account.
    account_id: uuid.UUID | None
    product: str | None
    broker_tag: str | None
    request: OrderRequest
    client_order_id: str | None
    idempotency_key: str | None
    request_hash: str | None
    reserve_cash: Decimal
    dispatch_grace_seconds: float


# One statement, so one round trip and atomic without BEGIN/COMMIT: reserve, insert, log the event.
# A BUY reserves cash on the account; a SELL reserves shares on the position. No row from the
# reservation (not enough of either) inserts nothing.
# An Idempotency-Key or client_order_id already used by a committed order also matches no row,
# so a replay locks nothing: taking the account row and then waiting on the unique key of an
# order the worker is filling (it waits for that account row) would deadlock.
_NOT_TAKEN = """
      AND NOT EXISTS (SELECT 1 FROM orders o
                      WHERE o.user_id = :user_id AND o.idempotency_key = :idempotency_key)
      AND NOT EXISTS (SELECT 1 FROM orders o
                      WHERE o.user_id = :user_id AND o.client_order_id = :client_order_id)"""
_RESERVE_CASH = f"""
    UPDATE accounts SET reserved_cash = reserved_cash + :reserve_cash
    WHERE user_id = :user_id AND broker = :broker AND cash - reserved_cash >= :reserve_cash
      {_NOT_TAKEN}
    RETURNING id AS account_id"""
_RESERVE_POSITION = f"""
    UPDATE positions p SET reserved_quantity = p.reserved_quantity + :quantity
    FROM accounts a
    WHERE a.user_id = :user_id AND a.broker = :broker AND p.account_id = a.id
      AND p.symbol = :symbol AND p.quantity - p.reserved_quantity >= :quantity
      {_NOT_TAKEN}
    RETURNING a.id AS account_id"""
# A broker runs its own margin checks on the account it holds: nothing is reserved here, but
# the connection must be the user's and active.
_AT_BROKER = f"""
    SELECT id AS account_id FROM accounts
    WHERE id = :account_id AND user_id = :user_id AND broker = :broker AND status = 'active'
      {_NOT_TAKEN}"""
_INSERT = f"""
WITH reserved AS ({{reserve}}),
inserted AS (
    INSERT INTO orders (id, user_id, account_id, client_order_id, idempotency_key, request_hash,
        symbol, side, order_type, quantity, price, stop_price, time_in_force, broker, status,
        reserved_cash, reserved_quantity, product, broker_tag, next_dispatch_at)
    SELECT :id, :user_id, account_id, :client_order_id, :idempotency_key, :request_hash,
        :symbol, :side, :order_type, :quantity, :price, :stop_price, :time_in_force, :broker,
        'PENDING_NEW', :reserve_cash, :reserve_quantity, :product, :broker_tag,
        now() + make_interval(secs => :grace)
    FROM reserved
    RETURNING {ORDER_COLUMNS}
), logged AS (
    INSERT INTO order_events (order_id, user_id, version, from_status, to_status)
    SELECT id, user_id, 1, NULL, 'PENDING_NEW' FROM inserted
)
SELECT * FROM inserted"""
INSERT_BUY = text(_INSERT.format(reserve=_RESERVE_CASH))
INSERT_SELL = text(_INSERT.format(reserve=_RESERVE_POSITION))
INSERT_AT_BROKER = text(_INSERT.format(reserve=_AT_BROKER))


async def insert_order(conn: AsyncConnection, order: NewOrder) -> RowMapping | None:
    """Reserve and insert a new order in one statement.

    None when the reservation failed or the order's Idempotency-Key or client_order_id is
    already taken by a committed order (nothing is locked then).
    """
    req = order.request
    is_buy = req.side is Side.BUY
    at_broker = order.account_id is not None
    params = {
        "id": order.id, "user_id": order.user_id, "client_order_id": order.client_order_id,
        "idempotency_key": order.idempotency_key, "request_hash": order.request_hash,
        "symbol": req.symbol, "side": req.side.value, "order_type": req.order_type.value,
        "quantity": req.quantity, "price": req.price, "stop_price": req.stop_price,
        "time_in_force": req.time_in_force.value, "broker": order.broker,
        "reserve_cash": order.reserve_cash if is_buy and not at_broker else Decimal(0),
        "reserve_quantity": req.quantity if not is_buy and not at_broker else Decimal(0),
        "grace": order.dispatch_grace_seconds, "account_id": order.account_id,
        "product": order.product, "broker_tag": order.broker_tag,
    }
    statement = INSERT_AT_BROKER if at_broker else INSERT_BUY if is_buy else INSERT_SELL
    result = await conn.execute(statement, params)
    return result.mappings().first()


async def get_for_user(conn: AsyncConnection, user_id: uuid.UUID, order_id: uuid.UUID,
                       *, for_update: bool = False) -> RowMapping | None:
    """Return this user's order, or None for an absent or foreign one."""
    lock = " FOR UPDATE" if for_update else ""
    result = await conn.execute(
        text(f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = :id AND user_id = :user_id{lock}"),
        {"id": order_id, "user_id": user_id},
    )
    return result.mappings().first()


async def get_by_idempotency_key(conn: AsyncConnection, user_id: uuid.UUID,
                                 key: str) -> RowMapping | None:
    """Return the order this user created with this Idempotency-Key."""
    result = await conn.execute(
        text(f"SELECT {ORDER_COLUMNS} FROM orders"
             " WHERE user_id = :user_id AND idempotency_key = :key"),
        {"user_id": user_id, "key": key},
    )
    return result.mappings().first()


async def client_order_id_taken(conn: AsyncConnection, user_id: uuid.UUID,
                                client_order_id: str) -> bool:
    """Whether this user already has an order with this client_order_id."""
    result = await conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM orders"
             " WHERE user_id = :user_id AND client_order_id = :client_order_id)"),
        {"user_id": user_id, "client_order_id": client_order_id},
    )
    taken: bool = result.scalar_one()
    return taken


async def list_for_user(conn: AsyncConnection, user_id: uuid.UUID, *, status: str | None,
                        symbol: str | None, limit: int,
                        after: tuple[datetime, uuid.UUID] | None) -> Sequence[RowMapping]:
    """Return this user's orders, newest first, after the keyset cursor if given."""
    return await pages.newest_first(
        conn, table="orders", columns=ORDER_COLUMNS, user_id=user_id,
        filters={"status": status, "symbol": symbol}, limit=limit, after=after)


async def set_status(conn: AsyncConnection, row: Mapping[Any, Any], status: OrderStatus,
                     **changes: Any) -> RowMapping:
    """Move a locked order to `status` (already checked by the domain); the caller logs it."""
    assignments = "".join(f", {column} = :{column}" for column in changes)
    result = await conn.execute(
        text(f"UPDATE orders SET status = :status, version = version + 1, updated_at = now()"
             f"{assignments} WHERE id = :id RETURNING {ORDER_COLUMNS}"),
        {"status": status.value, "id": row["id"], **changes},
    )
    return result.mappings().one()


async def log_events(conn: AsyncConnection,
                     changes: Sequence[tuple[Mapping[Any, Any], str | None]]) -> None:
    """Append (order row after the change, status before it) pairs to the order event log."""
    if not changes:
        return
    await conn.execute(
        text("INSERT INTO order_events (order_id, user_id, version, from_status, to_status)"
             " VALUES (:order_id, :user_id, :version, :from_status, :to_status)"),
        [{"order_id": row["id"], "user_id": row["user_id"], "version": row["version"],
          "from_status": before, "to_status": row["status"]} for row, before in changes],
    )


async def release_reservation(conn: AsyncConnection, row: Mapping[Any, Any]) -> None:
    """Give back what an order still holds of the account's cash or the position's shares."""
    if row["reserved_cash"] > 0:
        await conn.execute(
            text("UPDATE accounts SET reserved_cash = reserved_cash - :amount WHERE id = :id"),
            {"amount": row["reserved_cash"], "id": row["account_id"]},
        )
    if row["reserved_quantity"] > 0:
        await conn.execute(
            text("UPDATE positions SET reserved_quantity = reserved_quantity - :qty"
                 " WHERE account_id = :account_id AND symbol = :symbol"),
            {"qty": row["reserved_quantity"], "account_id": row["account_id"],
             "symbol": row["symbol"]},
        )


async def claim_for_submit(conn: AsyncConnection,
                           order_ids: Sequence[uuid.UUID]) -> Sequence[RowMapping]:
    """Compare-and-set PENDING_NEW → SUBMITTED; orders another delivery moved are skipped.

    The paper broker's order id is derived from ours, so a replay names the same order.
    """
    result = await conn.execute(
        text(f"UPDATE orders SET status = 'SUBMITTED', version = version + 1,"
             f" broker_order_id = 'PAPER-' || left(replace(id::text, '-', ''), 16),"
             f" next_dispatch_at = NULL, updated_at = now()"
             f" WHERE id = ANY(:ids) AND status = 'PENDING_NEW' RETURNING {ORDER_COLUMNS}"),
        {"ids": list(order_ids)})
    return sorted(result.mappings().all(), key=lambda row: row["id"])


async def lock(conn: AsyncConnection, order_id: uuid.UUID) -> RowMapping | None:
    """Return the order locked FOR UPDATE (worker side: no owner filter, ids come from us)."""
    result = await conn.execute(
        text(f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = :id FOR UPDATE"), {"id": order_id})
    return result.mappings().first()


async def claim_due(conn: AsyncConnection, limit: int,
                    max_backoff_seconds: int) -> Sequence[RowMapping]:
    """Take orders whose dispatch deadline passed, and push their next deadline back.

    SKIP LOCKED lets several sweepers run at once without taking the same orders.
    """
    result = await conn.execute(
        text("UPDATE orders SET dispatch_attempts = dispatch_attempts + 1,"
             " next_dispatch_at = now() + make_interval(secs =>"
             "   least(power(2, dispatch_attempts), :max_backoff))"
             " WHERE id IN (SELECT id FROM orders WHERE next_dispatch_at <= now()"
             "   ORDER BY next_dispatch_at LIMIT :limit FOR UPDATE SKIP LOCKED)"
             " RETURNING id, status, broker, placement, dispatch_attempts"),
        {"limit": limit, "max_backoff": max_backoff_seconds})
    return result.mappings().all()


async def get(conn: AsyncConnection, order_id: uuid.UUID) -> RowMapping | None:
    """One order without a lock (worker side: read before calling a broker)."""
    result = await conn.execute(
        text(f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = :id"), {"id": order_id})
    return result.mappings().first()


async def claim_for_placement(conn: AsyncConnection, order_id: uuid.UUID,
                              lease_seconds: float) -> RowMapping | None:
    """Compare-and-set a new (or certainly-not-sent) order to SUBMITTED / in_flight.

    Only one delivery wins. The lease makes the sweeper look the order up at the broker if the
    worker dies before it records the outcome.
    """
    result = await conn.execute(
        text(f"UPDATE orders SET status = 'SUBMITTED', placement = 'in_flight',"
             f" placement_attempts = placement_attempts + 1, dispatch_attempts = 0,"
             f" version = version + 1, status_detail = NULL, updated_at = now(),"
             f" next_dispatch_at = now() + make_interval(secs => :lease)"
             f" WHERE id = :id AND broker <> 'paper' AND (status = 'PENDING_NEW'"
             f"   OR (status = 'SUBMITTED' AND placement = 'not_sent'))"
             f" RETURNING {ORDER_COLUMNS}"),
        {"id": order_id, "lease": lease_seconds})
    return result.mappings().first()


async def find_at_broker(conn: AsyncConnection, broker: str, *, broker_order_id: str | None,
                         tag: str | None) -> uuid.UUID | None:
    """Our order behind a broker's order id or our tag."""
    result = await conn.execute(
        text("SELECT id FROM orders WHERE broker = :broker AND ("
             " (CAST(:boid AS text) IS NOT NULL AND broker_order_id = :boid)"
             " OR (CAST(:tag AS text) IS NOT NULL AND broker_tag = :tag)) LIMIT 1"),
        {"broker": broker, "boid": broker_order_id, "tag": tag})
    found: uuid.UUID | None = result.scalar()
    return found


async def open_at_brokers(conn: AsyncConnection, *, older_than_seconds: float,
                          limit: int) -> list[tuple[uuid.UUID, str]]:
    """Open broker orders not updated for a while: the reconciler checks them at the broker."""
    result = await conn.execute(
        text("SELECT id, broker FROM orders WHERE broker <> 'paper'"
             " AND status IN ('SUBMITTED', 'ACCEPTED', 'PARTIALLY_FILLED', 'PENDING_CANCEL')"
             " AND updated_at < now() - make_interval(secs => :age)"
             " ORDER BY created_at LIMIT :limit"),
        {"age": older_than_seconds, "limit": limit})
    return [(row.id, row.broker) for row in result]


async def reschedule(conn: AsyncConnection, order_id: uuid.UUID, seconds: float) -> None:
    """Set when the sweeper next re-drives an order (no visible change, no new version)."""
    await conn.execute(
        text("UPDATE orders SET next_dispatch_at = now() + make_interval(secs => :secs)"
             " WHERE id = :id"), {"id": order_id, "secs": seconds})


async def note_broker_status(conn: AsyncConnection, order_id: uuid.UUID,
                             raw_status: str) -> RowMapping:
    """Store the broker's raw status on a locked order (the caller versions the change)."""
    result = await conn.execute(
        text(f"UPDATE orders SET broker_status = :raw WHERE id = :id RETURNING {ORDER_COLUMNS}"),
        {"id": order_id, "raw": raw_status})
    return result.mappings().one()
