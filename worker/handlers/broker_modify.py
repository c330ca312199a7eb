"""Carry a requested replace to the order's broker. The broker's answer decides.

The order waits in PENDING_REPLACE, working on its old terms (fills meanwhile are booked as
they come), until the broker accepts the new terms (Replaced: back to the status it had) or
refuses them (ReplaceRejected: the old terms stand, with the broker's reason shown). A cancel
asked for meanwhile supersedes the replace: a modify not yet sent is never sent, and the answer
to one already sent still settles the terms the order has while its cancel waits. A modify
is absolute (these terms, not "ten more"), so sending it again is harmless: a failure that
certainly changed nothing waits and the sweeper re-drives it, and one whose outcome is unknown
is looked up first: terms the broker already shows need no second call.
"""

from __future__ import annotations

import functools
import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerError, BrokerOrder, Modify, Rejected, Unknown
from shared.db.repositories import orders
from shared.domain import events as ev
from shared.domain.enums import OrderStatus
from shared.domain.errors import DomainError
from shared.domain.orders import Change, Order
from worker.handlers import broker_calls as calls
from worker.handlers.broker_sync import refresh
from worker.runtime import Runtime


async def modify_at_broker(runtime: Runtime, order_id: str) -> bool:
    """Carry a requested replace to the broker; False if the order is not PENDING_REPLACE."""
    order = await calls.read_order(runtime, uuid.UUID(order_id))
    if order is None or order.is_paper or order.status is not OrderStatus.PENDING_REPLACE:
        return False
    if not order.broker_order_id:  # the table allows no replace before the broker has it
        await _settle(runtime, order, ev.ReplaceRejected("the order is not at the broker yet"))
        return True
    waiting = await calls.gate(runtime, order)
    if waiting is not None:
        await calls.wait_and_explain(runtime, order, *waiting)
        return True
    try:
        adapter = await calls.adapter_for(runtime, order)
        await adapter.modify(order.broker_order_id, modification(order))
    except Rejected as exc:
        await calls.note_outcome(runtime, Broker(order.broker), order, exc)
        await _refused(runtime, order, exc.message)
        return True
    except Unknown as exc:
        await calls.after_failure(runtime, order, exc)  # the sweeper comes back meanwhile
        await _look_up(runtime, order)
        return True
    except BrokerError as exc:
        await calls.after_failure(runtime, order, exc)
        return True
    await calls.note_outcome(runtime, Broker(order.broker), order, None)
    await _confirmed(runtime, order)
    return True


def modification(order: Order) -> Modify:
    """The broker's modify for the order's pending terms: only what they change.

    A trail is an amount or a percentage: the one the new terms name is sent, which replaces
    the other at the broker. A time in force never changes at a broker (the API refuses it),
    so a new expire_at is a GTD order's new expiry.
    """
    terms = order.pending_terms
    assert terms is not None, "a PENDING_REPLACE knows its new terms"
    return Modify(
        quantity=terms.quantity if terms.quantity != order.quantity else None,
        price=terms.price if terms.price != order.price else None,
        stop_price=terms.stop_price if terms.stop_price != order.stop_price else None,
        trail_price=terms.trail_price if terms.trail_price != order.trail_price else None,
        trail_percent=(terms.trail_percent if terms.trail_percent != order.trail_percent
                       else None),
        expire_at=terms.expire_at if terms.expire_at != order.expire_at else None)


def shows_terms(report: BrokerOrder, order: Order) -> bool:
    """Whether the broker's report already carries the pending quantity and price."""
    change = modification(order)
    if any(value is not None for value in (change.stop_price, change.trail_price,
                                           change.trail_percent, change.expire_at)):
        # Reports carry no trigger, trail or expiry: only the broker's answer can confirm them.
        return False
    return ((change.quantity is None or report.quantity == change.quantity)
            and (change.price is None or report.price == change.price))


async def _look_up(runtime: Runtime, order: Order) -> None:
    # The modify may have reached the broker: its report says (and books fills meanwhile).
    report = await refresh(runtime, order)
    current = await calls.read_order(runtime, order.id)
    if current is None or current.pending_terms is None:
        return  # filled or ended while the answer was lost: nothing waits on it any more
    if report is not None and shows_terms(report, current):
        await _confirmed(runtime, current)


async def _confirmed(runtime: Runtime, order: Order) -> None:
    await _settle(runtime, order, ev.Replaced())
    await refresh(runtime, order)  # the order as the broker now has it: fills, status


async def _refused(runtime: Runtime, order: Order, reason: str) -> None:
    # "Too late" comes with a fill, which the refresh books first; the old terms then stand,
    # in exactly the status the order had before the replace was asked for.
    await refresh(runtime, order)
    await _settle(runtime, order, ev.ReplaceRejected(f"the broker refused the replace: {reason}"))


async def _settle(runtime: Runtime, order: Order,
                  event: ev.Replaced | ev.ReplaceRejected) -> None:
    change = await runtime.in_transaction(functools.partial(
        _settle_locked, order_id=order.id, event=event))
    await runtime.publish([change] if change else [])


async def _settle_locked(conn: AsyncConnection, *, order_id: uuid.UUID,
                         event: ev.Replaced | ev.ReplaceRejected) -> Change | None:
    order = await orders.lock(conn, order_id)
    if order is None or order.pending_terms is None:
        return None  # filled (too late) or ended meanwhile: nothing left to settle
    # A cancel may have superseded the replace meanwhile (PENDING_CANCEL): the broker's answer
    # still says which terms the order has until the cancel is done.
    actor = f"broker:{order.broker}"
    try:
        change = Change(order).then(event)
    except DomainError as exc:
        # The broker took terms our books cannot (filled past them meanwhile): a person looks.
        await calls.note_discrepancy(conn, order, "replace_refused", f"the broker accepted "
                                     f"the replace but it was refused here: {exc.message}")
        change = Change(order).then(ev.ReplaceRejected(exc.message))
    await orders.release_reservation(conn, order, change.after)
    return await orders.save(conn, change, dispatch=orders.Dispatch.done(), actor=actor)
