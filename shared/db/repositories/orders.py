"""Every SQL statement about orders; user-facing reads always start from the owner."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import pages, pauses, triggers
from shared.domain import events as ev
from shared.domain.enums import (
    OrderClass,
    OrderStatus,
    OrderType,
    Placement,
    Side,
    TimeInForce,
)
from shared.domain.errors import StaleOrder
from shared.domain.orders import OPEN_STATUSES, Change, Order
from shared.domain.risk import OrderRequest
from shared.messaging.order_view import json_value

ORDER_COLUMNS = (
    "id, user_id, account_id, client_order_id, symbol, side, order_type, quantity, price,"
    " stop_price, time_in_force, broker, broker_order_id, status, filled_quantity,"
    " avg_fill_price, reserved_cash, reserved_quantity, reject_reason, version,"
    " request_hash, created_at, updated_at, product, broker_tag, broker_status, status_detail,"
    " placement, placement_attempts, dispatch_attempts, previous_status, trade_ids,"
    " filled_notional, trail_price, trail_percent, hwm, expire_at, order_class, parent_id,"
    " pending_terms, portfolio_id"
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
    order_class: OrderClass = OrderClass.SIMPLE
    # A bracket/oto entry's or an oco order's exits, stored until its fills (or accept) open them.
    exit_terms: Mapping[str, Any] | None = None
    portfolio_id: uuid.UUID | None = None  # checked to be the user's (and by its foreign key)


# One statement, so one round trip and atomic without BEGIN/COMMIT: reserve, insert, log the event.
# A BUY reserves cash on the account; a SELL reserves shares on the position. No row from the
# reservation (not enough of either, or the account halted since the checks) inserts nothing.
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
      AND halted_at IS NULL {_NOT_TAKEN}
    RETURNING id AS account_id"""
_RESERVE_POSITION = f"""
    UPDATE positions p SET reserved_quantity = p.reserved_quantity + :quantity
    FROM accounts a
    WHERE a.user_id = :user_id AND a.broker = :broker AND p.account_id = a.id
      AND p.symbol = :symbol AND p.quantity - p.reserved_quantity >= :quantity
      AND a.halted_at IS NULL {_NOT_TAKEN}
    RETURNING a.id AS account_id"""
# A broker runs its own margin checks on the account it holds: nothing is reserved here, but
# the connection must be the user's and active.
_AT_BROKER = f"""
    SELECT id AS account_id FROM accounts
    WHERE id = :account_id AND user_id = :user_id AND broker = :broker AND status = 'active'
      AND halted_at IS NULL {_NOT_TAKEN}"""
_INSERT = f"""
WITH reserved AS ({{reserve}}),
inserted AS (
    INSERT INTO orders (id, user_id, account_id, client_order_id, idempotency_key, request_hash,
        symbol, side, order_type, quantity, price, stop_price, time_in_force, broker, status,
        reserved_cash, reserved_quantity, product, broker_tag, next_dispatch_at,
        trail_price, trail_percent, expire_at, order_class, exit_terms, portfolio_id)
    SELECT :id, :user_id, account_id, :client_order_id, :idempotency_key, :request_hash,
        :symbol, :side, :order_type, :quantity, :price, :stop_price, :time_in_force, :broker,
        'PENDING_NEW', :reserve_cash, :reserve_quantity, :product, :broker_tag,
        now() + make_interval(secs => :grace), :trail_price, :trail_percent, :expire_at,
        :order_class, CAST(:exit_terms AS jsonb), :portfolio_id
    FROM reserved
    RETURNING {ORDER_COLUMNS}
), logged AS (
    -- Only the API inserts orders, each on behalf of the user who placed it.
    INSERT INTO order_events (order_id, user_id, version, from_status, to_status, actor)
    SELECT id, user_id, 1, NULL, 'PENDING_NEW', 'user:' || user_id FROM inserted
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
        "trail_price": req.trail_price, "trail_percent": req.trail_percent,
        "expire_at": req.expire_at, "order_class": order.order_class.value,
        "exit_terms": None if order.exit_terms is None else json.dumps(order.exit_terms),
        "portfolio_id": order.portfolio_id,
    }
    statement = INSERT_AT_BROKER if at_broker else INSERT_BUY if is_buy else INSERT_SELL
    result = await conn.execute(statement, params)
    return result.mappings().first()


def to_order(row: Mapping[Any, Any]) -> Order:
    """Build the typed order from an orders row (every read below returns one)."""
    previous = row["previous_status"]
    placement = row["placement"]
    return Order(
        id=row["id"], user_id=row["user_id"], account_id=row["account_id"],
        broker=row["broker"], symbol=row["symbol"], side=Side(row["side"]),
        order_type=OrderType(row["order_type"]), quantity=row["quantity"], price=row["price"],
        stop_price=row["stop_price"], time_in_force=TimeInForce(row["time_in_force"]),
        status=OrderStatus(row["status"]), version=row["version"],
        created_at=row["created_at"], updated_at=row["updated_at"],
        filled_quantity=row["filled_quantity"], avg_fill_price=row["avg_fill_price"],
        filled_notional=row["filled_notional"],
        previous_status=OrderStatus(previous) if previous else None,
        reserved_cash=row["reserved_cash"], reserved_quantity=row["reserved_quantity"],
        trade_ids=frozenset(row["trade_ids"]), client_order_id=row["client_order_id"],
        product=row["product"], broker_order_id=row["broker_order_id"],
        broker_tag=row["broker_tag"], broker_status=row["broker_status"],
        status_detail=row["status_detail"], reject_reason=row["reject_reason"],
        placement=Placement(placement) if placement else None,
        placement_attempts=row["placement_attempts"],
        dispatch_attempts=row["dispatch_attempts"], request_hash=row["request_hash"],
        trail_price=row["trail_price"], trail_percent=row["trail_percent"], hwm=row["hwm"],
        expire_at=row["expire_at"], order_class=OrderClass(row["order_class"]),
        parent_id=row["parent_id"], pending_terms=_terms(row["pending_terms"]),
        portfolio_id=row["portfolio_id"])


def _terms(stored: Mapping[str, Any] | None) -> ev.Terms | None:
    if stored is None:
        return None

    def amount(name: str) -> Decimal | None:
        value = stored.get(name)
        return None if value is None else Decimal(value)

    quantity = amount("quantity")
    assert quantity is not None, "stored terms name a quantity"
    expire_at = stored.get("expire_at")
    return ev.Terms(quantity=quantity, price=amount("price"), stop_price=amount("stop_price"),
                    trail_price=amount("trail_price"), trail_percent=amount("trail_percent"),
                    time_in_force=TimeInForce(stored["time_in_force"]),
                    expire_at=datetime.fromisoformat(expire_at) if expire_at else None)


def _terms_dict(terms: ev.Terms | None) -> dict[str, Any] | None:
    if terms is None:
        return None
    return {item.name: json_value(getattr(terms, item.name)) for item in fields(terms)}


def _one(row: Mapping[Any, Any] | None) -> Order | None:
    return None if row is None else to_order(row)


async def get_for_user(conn: AsyncConnection, user_id: uuid.UUID, order_id: uuid.UUID,
                       *, for_update: bool = False) -> Order | None:
    """Return this user's order, or None for an absent or foreign one."""
    lock = " FOR UPDATE" if for_update else ""
    result = await conn.execute(
        text(f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = :id AND user_id = :user_id{lock}"),
        {"id": order_id, "user_id": user_id},
    )
    return _one(result.mappings().first())


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
                        after: tuple[datetime, uuid.UUID] | None,
                        client_order_id: str | None = None) -> list[Order]:
    """Return this user's orders, newest first, after the keyset cursor if given."""
    rows = await pages.newest_first(
        conn, table="orders", columns=ORDER_COLUMNS, user_id=user_id,
        filters={"status": status, "symbol": symbol, "client_order_id": client_order_id},
        limit=limit, after=after)
    return [to_order(row) for row in rows]


_OPEN = sorted(status.value for status in OPEN_STATUSES)


async def open_for_user(conn: AsyncConnection, user_id: uuid.UUID, *,
                        account_id: uuid.UUID | None = None,
                        symbol: str | None = None) -> list[uuid.UUID]:
    """The ids of this user's open orders, oldest first; one account's or symbol's if named."""
    result = await conn.execute(
        text("SELECT id FROM orders WHERE user_id = :user_id AND status = ANY(:open)"
             " AND (CAST(:account_id AS uuid) IS NULL OR account_id = :account_id)"
             " AND (CAST(:symbol AS text) IS NULL OR symbol = :symbol)"
             " ORDER BY created_at, id"),
        {"user_id": user_id, "open": _OPEN, "account_id": account_id, "symbol": symbol})
    return list(result.scalars())


async def statuses_for_user(conn: AsyncConnection, user_id: uuid.UUID,
                            order_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, OrderStatus]:
    """The status of each of these orders of this user (foreign ids are left out)."""
    result = await conn.execute(
        text("SELECT id, status FROM orders WHERE user_id = :user_id AND id = ANY(:ids)"),
        {"user_id": user_id, "ids": list(order_ids)})
    return {row.id: OrderStatus(row.status) for row in result}


# The operator's view across users (the command line), each order with its owner's e-mail.
# An occasional read: it may scan the table (no index serves a status across users).
_ACROSS_USERS = text(
    f"SELECT {ORDER_COLUMNS}, (SELECT u.email FROM users u WHERE u.id = orders.user_id) AS email"
    " FROM orders"
    " WHERE (CAST(:status AS text) IS NULL OR status = :status)"
    " AND (CAST(:user_id AS uuid) IS NULL OR user_id = :user_id)"
    " ORDER BY created_at DESC, id DESC LIMIT :limit")


async def list_across_users(conn: AsyncConnection, *, status: OrderStatus | None,
                            user_id: uuid.UUID | None, limit: int) -> list[tuple[Order, str]]:
    """Orders of every user, or of one, newest first, each with its owner's e-mail.

    Operators only: a user's reads start from the owner (list_for_user).
    """
    result = await conn.execute(_ACROSS_USERS, {
        "status": None if status is None else status.value, "user_id": user_id, "limit": limit})
    return [(to_order(row), row["email"]) for row in result.mappings()]


async def get(conn: AsyncConnection, order_id: uuid.UUID) -> Order | None:
    """One order without a lock (worker side: read before calling a broker)."""
    result = await conn.execute(
        text(f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = :id"), {"id": order_id})
    return _one(result.mappings().first())


async def lock(conn: AsyncConnection, order_id: uuid.UUID) -> Order | None:
    """Return the order locked FOR UPDATE (worker side: no owner filter, ids come from us)."""
    result = await conn.execute(
        text(f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = :id FOR UPDATE"), {"id": order_id})
    return _one(result.mappings().first())


# SKIP LOCKED: an order another transaction holds is that transaction's to move (another
# delivery, the sweeper's batch, a cancel); waiting for it would only find it moved. Should the
# holder roll back instead, the order is still due and the sweeper re-drives it.
_LOCK_NEW = text(f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = ANY(:ids)"
                 f" AND status = 'PENDING_NEW' AND broker NOT IN ({pauses.PAUSED_BROKERS})"
                 " ORDER BY id FOR UPDATE SKIP LOCKED")


async def lock_new(conn: AsyncConnection, order_ids: Sequence[uuid.UUID]) -> list[Order]:
    """Lock the orders among `order_ids` still PENDING_NEW, in id order (the global lock order).

    A delivery of orders another delivery already moved finds nothing to do, nor one of a
    paused broker's orders: they wait, and the sweeper takes them once it is resumed. Orders
    another transaction holds locked are left out at once, never waited for (see _LOCK_NEW).
    """
    result = await conn.execute(_LOCK_NEW, {"ids": sorted(order_ids)})
    return [to_order(row) for row in result.mappings()]


class Guard(Enum):
    """Extra conditions a claim keeps in SQL, beside the version check."""

    NOT_AT_BROKER = "broker_order_id IS NULL"


@dataclass(frozen=True, slots=True)
class Dispatch:
    """When the sweeper next re-drives the order (the row is its own outbox)."""

    in_seconds: float | None  # None: nothing left to re-drive
    reset_attempts: bool = False

    @classmethod
    def done(cls) -> Dispatch:
        """Nothing for the sweeper to do."""
        return cls(None)


# The one save, for one order or a whole batch: each row of :rows is an order's new state with
# the version it was read at (compare-and-set), its dispatch ('keep', 'done' or 'in' seconds)
# and its guard; :events are the order_events rows, inserted in the order given (their ids,
# and so the stream's seq, follow it). Only the orders still at their version get events.
_SAVE = """
WITH v AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(
        id uuid, expected integer, version integer, status text, previous_status text,
        filled_quantity numeric, avg_fill_price numeric, filled_notional numeric,
        reserved_cash numeric, reserved_quantity numeric, trade_ids text[],
        broker_order_id text, broker_status text, status_detail text, reject_reason text,
        placement text, placement_attempts integer, quantity numeric, price numeric,
        stop_price numeric, trail_price numeric, trail_percent numeric, time_in_force text,
        expire_at timestamptz, hwm numeric, pending_terms jsonb, dispatch text,
        dispatch_in double precision, reset_attempts boolean, not_at_broker boolean)
), saved AS (
    UPDATE orders o SET status = v.status, previous_status = v.previous_status,
        filled_quantity = v.filled_quantity, avg_fill_price = v.avg_fill_price,
        filled_notional = v.filled_notional,
        reserved_cash = v.reserved_cash, reserved_quantity = v.reserved_quantity,
        trade_ids = v.trade_ids, broker_order_id = v.broker_order_id,
        broker_status = v.broker_status, status_detail = v.status_detail,
        reject_reason = v.reject_reason, placement = v.placement,
        placement_attempts = v.placement_attempts, quantity = v.quantity, price = v.price,
        stop_price = v.stop_price, trail_price = v.trail_price,
        trail_percent = v.trail_percent, time_in_force = v.time_in_force,
        expire_at = v.expire_at, hwm = v.hwm, pending_terms = v.pending_terms,
        version = v.version, updated_at = now(),
        next_dispatch_at = CASE v.dispatch WHEN 'keep' THEN o.next_dispatch_at
            WHEN 'done' THEN NULL ELSE now() + make_interval(secs => v.dispatch_in) END,
        dispatch_attempts = CASE WHEN v.reset_attempts THEN 0 ELSE o.dispatch_attempts END
    FROM v
    WHERE o.id = v.id AND o.version = v.expected
      AND (NOT v.not_at_broker OR o.broker_order_id IS NULL)
    RETURNING o.id, o.user_id
)
INSERT INTO order_events (order_id, user_id, version, from_status, to_status, detail, actor)
SELECT saved.id, saved.user_id, e.version, e.from_status, e.to_status, e.detail, :actor
FROM ROWS FROM (jsonb_to_recordset(CAST(:events AS jsonb))
         AS (order_id uuid, version integer, from_status text, to_status text, detail jsonb))
     WITH ORDINALITY AS e(order_id, version, from_status, to_status, detail, n)
JOIN saved ON saved.id = e.order_id
ORDER BY e.n
RETURNING order_id, created_at"""
SAVE = text(_SAVE)


async def save(conn: AsyncConnection, change: Change, *, actor: str,
               dispatch: Dispatch | None = None) -> Change:
    """Write a change to an order read in this transaction; StaleOrder if it moved meanwhile.

    `actor` says who or what caused it in the audit trail ("user:<id>", "paper", ...).
    """
    return (await save_all(conn, [change], actor=actor, dispatch=dispatch))[0]


async def save_all(conn: AsyncConnection, changes: Sequence[Change], *, actor: str,
                   dispatch: Dispatch | None = None) -> list[Change]:
    """Write the changes of orders locked in this transaction in one statement (one order
    each); StaleOrder, with nothing kept, if any of them moved meanwhile."""
    saved = await _write(conn, changes, actor=actor, dispatch=dispatch, guard=None)
    stale = [change.before.id for change, done in zip(changes, saved, strict=True) if done is None]
    if stale:
        raise StaleOrder(f"order {stale[0]} changed while it was being updated",
                         details={"order_id": str(stale[0])})
    return [done for done in saved if done is not None]


async def claim(conn: AsyncConnection, change: Change, *, actor: str,
                guard: Guard | None = None,
                dispatch: Dispatch | None = None) -> Change | None:
    """Write a change only if the order is still at the version read (and `guard` holds).

    The only statement that changes an order: its row (compare-and-set on the version) and one
    order_events row per step, in one statement. None when another writer got there first.
    """
    return (await _write(conn, [change], actor=actor, dispatch=dispatch, guard=guard))[0]


async def _write(conn: AsyncConnection, changes: Sequence[Change], *, actor: str,
                 dispatch: Dispatch | None, guard: Guard | None) -> list[Change | None]:
    moving = [change for change in changes if change.steps]
    if len({change.before.id for change in moving}) < len(moving):
        raise ValueError("a save writes each order once; merge its changes first")
    stamps: dict[uuid.UUID, datetime] = {}
    if moving:
        rows = [_row(change, dispatch, guard) for change in moving]
        events = [event for change in moving for event in _events(change)]
        result = await conn.execute(SAVE, {"rows": json.dumps(rows),
                                           "events": json.dumps(events), "actor": actor})
        stamps = {row.order_id: row.created_at for row in result}
    saved: list[Change | None] = []
    for change in changes:
        if not change.steps:
            saved.append(change)
            continue
        stamped = stamps.get(change.before.id)
        if stamped is None:
            saved.append(None)
            continue
        await triggers.keep_in_step(conn, change.before, change.after)
        saved.append(Change(change.before, tuple(
            replace(step, order=replace(step.order, updated_at=stamped))
            for step in change.steps)))
    return saved


def _row(change: Change, dispatch: Dispatch | None, guard: Guard | None) -> dict[str, Any]:
    before, after = change.before, change.after
    row = {name: json_value(getattr(after, name)) for name in _SAVED}
    row.update(
        id=str(before.id), expected=before.version, trade_ids=sorted(after.trade_ids),
        pending_terms=_terms_dict(after.pending_terms),
        dispatch="keep" if dispatch is None else "done" if dispatch.in_seconds is None else "in",
        dispatch_in=None if dispatch is None else dispatch.in_seconds,
        reset_attempts=(dispatch is not None and dispatch.in_seconds is not None
                        and dispatch.reset_attempts),
        not_at_broker=guard is Guard.NOT_AT_BROKER)
    return row


# The order's fields the save writes as they are (beside id, version check, trade ids, terms).
_SAVED = ("version", "status", "previous_status", "filled_quantity", "avg_fill_price",
          "filled_notional", "reserved_cash", "reserved_quantity", "broker_order_id",
          "broker_status", "status_detail", "reject_reason", "placement", "placement_attempts",
          "quantity", "price", "stop_price", "trail_price", "trail_percent", "time_in_force",
          "expire_at", "hwm")


def _events(change: Change) -> list[dict[str, Any]]:
    priors = (change.before, *(step.order for step in change.steps))
    return [{"order_id": str(change.before.id), "version": step.order.version,
             "from_status": step.from_status.value, "to_status": step.order.status.value,
             "detail": describe(step.event, _changed(prior, step.order))}
            for prior, step in zip(priors, change.steps, strict=False)]


# What the audit trail shows changing, old and new, beside the status.
AUDITED = ("quantity", "price", "stop_price", "trail_price", "trail_percent", "hwm",
           "time_in_force", "expire_at", "filled_quantity", "avg_fill_price", "reserved_cash",
           "reserved_quantity", "broker_order_id", "status_detail", "reject_reason")


def _changed(old: Order, new: Order) -> dict[str, list[Any]]:
    return {name: [json_value(getattr(old, name)), json_value(getattr(new, name))]
            for name in AUDITED if getattr(old, name) != getattr(new, name)}


def describe(event: ev.OrderEvent,
             changed: Mapping[str, list[Any]] | None = None) -> dict[str, Any]:
    """The event log's detail: the event's name and fields (amounts as plain strings), and
    the order's values it changed, as [old, new]."""
    detail: dict[str, Any] = {"event": type(event).__name__}
    for item in fields(event):
        value = getattr(event, item.name)
        if isinstance(value, ev.Terms):
            detail[item.name] = {t.name: json_value(getattr(value, t.name)) for t in fields(value)}
        elif value is not None:
            detail[item.name] = json_value(value)
    if changed:
        detail["changed"] = dict(changed)
    return detail


async def release_reservation(conn: AsyncConnection, before: Order, after: Order) -> None:
    """Give back to the account and the position what the order stopped holding."""
    cash = before.reserved_cash - after.reserved_cash
    shares = before.reserved_quantity - after.reserved_quantity
    if cash > 0:
        await conn.execute(
            text("UPDATE accounts SET reserved_cash = reserved_cash - :amount WHERE id = :id"),
            {"amount": cash, "id": before.account_id})
    if shares > 0:
        await conn.execute(
            text("UPDATE positions SET reserved_quantity = reserved_quantity - :qty"
                 " WHERE account_id = :account_id AND symbol = :symbol"),
            {"qty": shares, "account_id": before.account_id, "symbol": before.symbol})


async def claim_due(conn: AsyncConnection, limit: int,
                    max_backoff_seconds: int) -> Sequence[RowMapping]:
    """Take orders whose dispatch deadline passed, and push their next deadline back.

    SKIP LOCKED lets several sweepers run at once without taking the same orders. A paused
    broker's unplaced orders are left alone: waiting, they use up no dispatch attempts.
    """
    result = await conn.execute(
        text("UPDATE orders SET dispatch_attempts = dispatch_attempts + 1,"
             " next_dispatch_at = now() + make_interval(secs =>"
             "   least(power(2, dispatch_attempts), :max_backoff))"
             " WHERE id IN (SELECT id FROM orders WHERE next_dispatch_at <= now()"
             f"   AND NOT (broker IN ({pauses.PAUSED_BROKERS}) AND {pauses.HELD})"
             "   ORDER BY next_dispatch_at LIMIT :limit FOR UPDATE SKIP LOCKED)"
             " RETURNING id, status, broker, placement, dispatch_attempts"),
        {"limit": limit, "max_backoff": max_backoff_seconds})
    return result.mappings().all()


async def find_at_broker(conn: AsyncConnection, broker: str, *, account_id: uuid.UUID | None,
                         broker_order_id: str | None, tag: str | None) -> uuid.UUID | None:
    """Our order behind a broker's order id or our tag, in `account_id` when it is known.

    A broker's order ids are unique only within what it says they are (an account, a day), so
    the account a delivery was verified for bounds the search, and our own tag, unique by
    construction, wins over an order id another of our orders may share.
    """
    result = await conn.execute(
        text("SELECT id FROM orders WHERE broker = :broker"
             " AND (CAST(:account AS uuid) IS NULL OR account_id = :account) AND ("
             " (CAST(:boid AS text) IS NOT NULL AND broker_order_id = :boid)"
             " OR (CAST(:tag AS text) IS NOT NULL AND broker_tag = :tag))"
             " ORDER BY coalesce(broker_tag = :tag, false) DESC, created_at DESC LIMIT 1"),
        {"broker": broker, "account": account_id, "boid": broker_order_id, "tag": tag})
    found: uuid.UUID | None = result.scalar()
    return found


# Every status an order sent to a broker can be open in (PENDING_NEW has not been sent yet).
_AT_A_BROKER = sorted(s.value for s in OPEN_STATUSES - {OrderStatus.PENDING_NEW})


async def open_at_brokers(conn: AsyncConnection, *, older_than_seconds: float,
                          limit: int) -> list[tuple[uuid.UUID, str]]:
    """Open broker orders not updated for a while: the reconciler checks them at the broker."""
    result = await conn.execute(
        text("SELECT id, broker FROM orders WHERE broker <> 'paper'"
             " AND status = ANY(:working) AND updated_at < now() - make_interval(secs => :age)"
             " ORDER BY created_at LIMIT :limit"),
        {"age": older_than_seconds, "limit": limit, "working": _AT_A_BROKER})
    return [(row.id, row.broker) for row in result]


async def reschedule(conn: AsyncConnection, order_id: uuid.UUID, seconds: float) -> None:
    """Set when the sweeper next re-drives an order (no visible change, no new version)."""
    await conn.execute(
        text("UPDATE orders SET next_dispatch_at = now() + make_interval(secs => :secs)"
             " WHERE id = :id"), {"id": order_id, "secs": seconds})


async def count_waiting_for_dispatch(conn: AsyncConnection) -> int:
    """Orders of every user whose submit or cancel no worker has completed yet (operators)."""
    count: int = (await conn.execute(text(
        "SELECT count(*) FROM orders WHERE status IN ('PENDING_NEW', 'PENDING_CANCEL')"
    ))).scalar_one()
    return count
