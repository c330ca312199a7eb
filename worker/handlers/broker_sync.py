"""Bring an order up to date with what its broker reports: fills first, then the status.

Fills go through the one fill path (deduplicated by the broker's execution id), so a report
seen twice — from a webhook, the reconciler and a cancel at once — books each fill once.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerError, BrokerFill, BrokerOrder
from shared.db.repositories import orders
from shared.domain.enums import OrderStatus
from shared.domain.errors import DomainError
from shared.domain.orders import is_terminal
from shared.domain.reconcile import decide_status, is_ending
from worker.handlers import broker_calls as calls
from worker.handlers.closing import close_order
from worker.handlers.fills import BrokerExecution, apply_execution
from worker.runtime import Change, Runtime

log = logging.getLogger(__name__)
# A broker that reports more filled than the trades it lists is asked again this soon.
MISSING_FILLS_RETRY_SECONDS = 5.0


async def refresh(runtime: Runtime, order: Mapping[Any, Any]) -> BrokerOrder | None:
    """Fetch the order and its trades from the broker and apply them; the report, or None."""
    waiting = await calls.gate(runtime, order)
    if waiting is not None:
        await calls.wait_and_explain(runtime, order, *waiting)
        return None
    try:
        adapter = await calls.adapter_for(runtime, order)
        report = await adapter.order(order["broker_order_id"])
        fills = await adapter.fills(order["broker_order_id"])
    except BrokerError as exc:
        await calls.after_failure(runtime, order, exc)
        return None
    await calls.note_outcome(runtime, Broker(order["broker"]), order, None)
    changes = await runtime.in_transaction(functools.partial(
        _apply, order_id=order["id"], report=report, fills=fills))
    await runtime.publish(changes)
    return report


async def _apply(conn: AsyncConnection, *, order_id: uuid.UUID, report: BrokerOrder,
                 fills: Sequence[BrokerFill]) -> list[Change]:
    row = await orders.lock(conn, order_id)
    if row is None:
        return []
    changes = await apply_report(conn, row, report, fills)
    await orders.log_events(conn, changes)
    return changes


async def apply_report(conn: AsyncConnection, row: RowMapping, report: BrokerOrder,
                       fills: Sequence[BrokerFill]) -> list[Change]:
    """Apply a broker's fills and status to a locked order; the changes, for the event log."""
    changes: list[Change] = []
    broker_status_changed = row["broker_status"] != report.raw_status
    if broker_status_changed:
        # Noted first, so the change a fill or status move makes carries it (one event).
        row = await orders.note_broker_status(conn, row["id"], report.raw_status)
    for fill in sorted(fills, key=lambda f: (f.executed_at, f.exec_id)):
        try:
            filled = await apply_execution(conn, row, BrokerExecution(
                exec_id=fill.exec_id, quantity=fill.quantity, price=fill.price,
                executed_at=fill.executed_at, commission=fill.commission))
        except DomainError as exc:
            await calls.note_discrepancy(conn, row, "fill_refused", f"fill {fill.exec_id} of "
                               f"{fill.quantity} @ {fill.price} was refused: {exc.message}")
            continue
        if filled is not None:
            changes.append((filled, row["status"]))
            row = filled
    decision = decide_status(OrderStatus(row["status"]), report.status)
    if decision.discrepancy:
        await calls.note_discrepancy(conn, row, "status_mismatch", decision.discrepancy)
    if decision.target is not None and is_ending(decision.target):
        changes.append(await close_order(conn, row, decision.target, report.message))
        row = changes[-1][0]
    elif decision.target is not None:
        moved = await orders.set_status(conn, row, decision.target, status_detail=report.message)
        changes.append((moved, row["status"]))
        row = moved
    if broker_status_changed and not changes:
        noted = await orders.set_status(conn, row, OrderStatus(row["status"]))
        changes.append((noted, row["status"]))
        row = noted
    if report.filled_quantity > row["filled_quantity"]:
        await _missing_fills(conn, row, report)
    return changes


async def _missing_fills(conn: AsyncConnection, row: RowMapping, report: BrokerOrder) -> None:
    # Brokers update an order's filled quantity before its trades are listed; ask again soon,
    # and if it persists a person sees it.
    await orders.reschedule(conn, row["id"], MISSING_FILLS_RETRY_SECONDS)
    if is_terminal(OrderStatus(row["status"])) or report.status is OrderStatus.FILLED:
        await calls.note_discrepancy(conn, row, "missing_fills",
                           f"the broker reports {report.filled_quantity} filled but lists trades"
                           f" for {row['filled_quantity']}")
