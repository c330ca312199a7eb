"""Bring an order up to date with what its broker reports: fills first, then the status.

Fills go through the one fill path (deduplicated by the broker's execution id), so a report
seen twice — from a webhook, the reconciler and a cancel at once — books each fill once.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerError, BrokerFill, BrokerOrder
from shared.db.repositories import orders
from shared.domain import events as ev
from shared.domain.enums import OrderStatus
from shared.domain.errors import DomainError
from shared.domain.orders import Change, Order, is_terminal
from shared.domain.reconcile import decide_status, event_for
from worker.handlers import broker_calls as calls
from worker.handlers import broker_legs
from worker.handlers.closing import close_order
from worker.handlers.fills import book_fill
from worker.runtime import Runtime

log = logging.getLogger(__name__)
# A broker that reports more filled than the trades it lists is asked again this soon.
MISSING_FILLS_RETRY_SECONDS = 5.0


async def refresh(runtime: Runtime, order: Order) -> BrokerOrder | None:
    """Fetch the order and its trades from the broker and apply them; the report, or None."""
    waiting = await calls.gate(runtime, order)
    if waiting is not None:
        await calls.wait_and_explain(runtime, order, *waiting)
        return None
    assert order.broker_order_id is not None, "only an order the broker has can be refreshed"
    try:
        adapter = await calls.adapter_for(runtime, order)
        report = await adapter.order(order.broker_order_id)
        fills = await adapter.fills(order.broker_order_id)
    except BrokerError as exc:
        await calls.after_failure(runtime, order, exc)
        return None
    await calls.note_outcome(runtime, Broker(order.broker), order, None)
    changes = await runtime.in_transaction(functools.partial(
        _apply, order_id=order.id, report=report, fills=fills,
        grace=runtime.settings.dispatch_grace_seconds))
    await runtime.publish(changes)
    await broker_legs.send_requests(runtime, changes)
    return report


async def _apply(conn: AsyncConnection, *, order_id: uuid.UUID, report: BrokerOrder,
                 fills: Sequence[BrokerFill], grace: float) -> list[Change]:
    order = await orders.lock(conn, order_id)
    if order is None:
        return []
    change, recheck_in = await apply_report(conn, Change(order), report, fills)
    saved = await save_report(conn, change, recheck_in)
    return [saved, *await broker_legs.follow(conn, saved, grace)]  # an order class's legs


async def save_report(conn: AsyncConnection, change: Change, recheck_in: float | None,
                      *, placed: bool = False) -> Change:
    """Save what a report changed; a report missing trades is asked again soon."""
    saved = await orders.save(conn, change, dispatch=orders.Dispatch.done() if placed else None,
                              actor=f"broker:{change.before.broker}")
    if recheck_in is not None:
        await orders.reschedule(conn, change.before.id, recheck_in)
    return saved


async def apply_report(conn: AsyncConnection, change: Change, report: BrokerOrder,
                       fills: Sequence[BrokerFill]) -> tuple[Change, float | None]:
    """Apply a broker's fills and status to a locked order.

    Returns the change and, when the broker reports more filled than the trades it lists,
    how soon to ask again.
    """
    if change.after.broker_status != report.raw_status:
        change = change.then(ev.BrokerStatusNoted(report.raw_status))
    for fill in sorted(fills, key=lambda f: (f.executed_at, f.exec_id)):
        change = await _book(conn, change, fill)
    order = change.after
    decision = decide_status(order.status, report.status)
    if decision.discrepancy:
        await calls.note_discrepancy(conn, order, "status_mismatch", decision.discrepancy)
    if decision.target is not None:
        event = event_for(decision.target, report.message)
        if isinstance(event, ev.Rejected | ev.Canceled | ev.Expired):
            change = await close_order(conn, change, event)
        else:
            change = change.then(event)
    return change, await _missing_fills(conn, change.after, report)


async def _book(conn: AsyncConnection, change: Change, fill: BrokerFill) -> Change:
    try:
        return await book_fill(conn, change, ev.Filled(
            trade_id=fill.exec_id, quantity=fill.quantity, price=fill.price,
            at=fill.executed_at, commission=fill.commission))
    except DomainError as exc:
        await calls.note_discrepancy(conn, change.after, "fill_refused", f"fill {fill.exec_id} "
                                     f"of {fill.quantity} @ {fill.price} was refused: "
                                     f"{exc.message}")
        return change


async def _missing_fills(conn: AsyncConnection, order: Order,
                         report: BrokerOrder) -> float | None:
    # Brokers update an order's filled quantity before its trades are listed; ask again soon,
    # and if it persists a person sees it.
    if report.filled_quantity <= order.filled_quantity:
        return None
    if is_terminal(order.status) or report.status is OrderStatus.FILLED:
        await calls.note_discrepancy(conn, order, "missing_fills",
                                     f"the broker reports {report.filled_quantity} filled but "
                                     f"lists trades for {order.filled_quantity}")
    return MISSING_FILLS_RETRY_SECONDS
