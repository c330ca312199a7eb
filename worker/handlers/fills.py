"""The one fill path: every execution, from any broker, is applied here."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import accounts, fills, orders
from shared.domain import orders as order_rules
from shared.domain import positions
from shared.domain.enums import OrderStatus, Side
from shared.domain.errors import NotFound
from shared.domain.values import LEDGER_PLACES
from worker.runtime import Change, Runtime


@dataclass(frozen=True, slots=True)
class BrokerExecution:
    """An execution report: the broker's id makes a repeated delivery harmless."""

    exec_id: str
    quantity: Decimal
    price: Decimal
    executed_at: datetime
    commission: Decimal = Decimal(0)


def _execution_state(row: Mapping[Any, Any]) -> order_rules.Execution:
    return order_rules.Execution(
        quantity=row["quantity"], filled_quantity=row["filled_quantity"],
        avg_fill_price=row["avg_fill_price"], status=OrderStatus(row["status"]))


def _cash_release(row: Mapping[Any, Any], qty: Decimal, done: bool) -> Decimal:
    """The share of the order's cash reservation this fill uses up (all of it once done)."""
    reserved: Decimal = row["reserved_cash"]
    if done or reserved == 0:
        return reserved
    leaves: Decimal = row["quantity"] - row["filled_quantity"]
    share: Decimal = (reserved * qty / leaves).quantize(LEDGER_PLACES, rounding=ROUND_HALF_EVEN)
    return min(share, reserved)


async def apply_execution(conn: AsyncConnection, order: RowMapping,
                          execution: BrokerExecution) -> RowMapping | None:
    """Apply one execution to a locked order: ledger, order, position, cash, reservations.

    Returns the updated order, or None when this execution id was already applied.
    Locks run order → position → account everywhere, so concurrent fills cannot deadlock.
    """
    state = order_rules.apply_fill(_execution_state(order), execution.quantity, execution.price)
    side = Side(order["side"])
    recorded = await fills.insert_fill(conn, {
        "id": uuid.uuid4(), "order_id": order["id"], "user_id": order["user_id"],
        "account_id": order["account_id"], "broker": order["broker"],
        "broker_exec_id": execution.exec_id, "symbol": order["symbol"], "side": side.value,
        "quantity": execution.quantity, "price": execution.price,
        "commission": execution.commission, "executed_at": execution.executed_at})
    if not recorded:
        return None
    done = order_rules.is_terminal(state.status)
    held = await accounts.lock_position(conn, order["account_id"], order["user_id"],
                                        order["symbol"])
    after = positions.apply_fill(
        positions.Position(held["quantity"], held["avg_price"], held["realized_pnl"]),
        side, execution.quantity, execution.price)
    release_qty = min(execution.quantity, order["reserved_quantity"])
    if done:
        release_qty = order["reserved_quantity"]
    await accounts.update_position(
        conn, order["account_id"], order["symbol"], quantity=after.quantity,
        avg_price=after.avg_price, realized_pnl=after.realized_pnl, release_quantity=release_qty)
    release_cash = _cash_release(order, execution.quantity, done)
    await accounts.apply_cash(
        conn, order["account_id"],
        delta=positions.cash_delta(side, execution.quantity, execution.price)
        - execution.commission, release=release_cash)
    return await orders.set_status(
        conn, order, state.status, filled_quantity=state.filled_quantity,
        avg_fill_price=state.avg_fill_price,
        reserved_cash=order["reserved_cash"] - release_cash,
        reserved_quantity=order["reserved_quantity"] - release_qty)


async def record_execution(runtime: Runtime, order_id: uuid.UUID,
                           execution: BrokerExecution) -> bool:
    """Apply a broker's execution report to an order; False if it was already applied."""

    async def work(conn: AsyncConnection) -> list[Change]:
        order = await orders.lock(conn, order_id)
        if order is None:
            raise NotFound(f"order {order_id} not found")
        updated = await apply_execution(conn, order, execution)
        if updated is None:
            return []
        changes: list[Change] = [(updated, order["status"])]
        await orders.log_events(conn, changes)
        return changes

    changes = await runtime.in_transaction(work)
    await runtime.publish(changes)
    return bool(changes)
