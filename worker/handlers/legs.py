"""What a fill (or an oco order's acceptance) does to the orders linked to it, on paper.

A bracket or oto entry's first fill opens its exits for the quantity filled (later fills grow
them); an oco order's acceptance opens its stop-loss beside it; a fill on one leg of a pair
takes as much off the other, and a filled leg cancels its sibling. All in the transaction of
the fill, through the domain, each leg saved like any order (so `save` keeps it on the book).
Legs are never locked while the caller might wait: the matcher locks a family up front with
SKIP LOCKED and leaves an order whose family another transaction holds for the next round.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import legs as families
from shared.db.repositories import orders, reservations
from shared.domain import events as ev
from shared.domain.classes import (
    Exits,
    after_sibling_fill,
    grow,
    is_leg,
    is_working,
    new_legs,
    pair_of,
    pair_to_grow,
)
from shared.domain.enums import OrderClass, OrderStatus
from shared.domain.orders import Change, Order, is_terminal
from shared.messaging import tasks
from shared.messaging.enqueue import send
from worker.brokers.paper.matching import paper_order_id
from worker.handlers.closing import close_order

log = logging.getLogger(__name__)
ACTOR = "paper"
_ENTRIES = frozenset({OrderClass.BRACKET, OrderClass.OTO})


def root_of(order: Order) -> uuid.UUID:
    """The family an order belongs to: its entry's (or oco order's) id."""
    return order.parent_id or order.id


async def lock_book_families(conn: AsyncConnection, book: Sequence[Order]) -> set[uuid.UUID]:
    """Lock the families of the class orders on this round's book without waiting.

    Returns the ids of the book's orders to leave out this round: another transaction holds
    one of their family, and filling them now could not update it.
    """
    linked = {order.id: root_of(order) for order in book
              if order.order_class is not OrderClass.SIMPLE}
    held = set()
    for root in sorted(set(linked.values())):
        _, busy = await families.lock_families(conn, [root], skip_locked=True)
        if busy:
            held.add(root)
    return {order_id for order_id, root in linked.items() if root in held}


async def follow(conn: AsyncConnection, saved: Change, now: datetime) -> list[Change]:
    """Apply to an order's family what its saved change did; returns their saved changes."""
    before, after = saved.before, saved.after
    if after.order_class is OrderClass.SIMPLE:
        return []
    if after.order_class is OrderClass.OCO and after.parent_id is None and (
            before.status is OrderStatus.PENDING_NEW and not is_terminal(after.status)):
        return await _open(conn, after, after.leaves, now, oco=True)
    filled = after.filled_quantity - before.filled_quantity
    if filled <= 0:
        return []
    if after.parent_id is None and after.order_class in _ENTRIES:
        return await _open_or_grow(conn, after, filled, now)
    return await _share(conn, after, filled)


async def _open_or_grow(conn: AsyncConnection, entry: Order, filled: Decimal,
                        now: datetime) -> list[Change]:
    family, _ = await families.lock_families(conn, [entry.id])
    pair = pair_to_grow(family, entry, is_working)
    if pair is not None:
        return [await _grow(conn, leg, filled) for leg in pair]
    # No exit is open (or one is being canceled): the new shares get exits of their own.
    return await _open(conn, entry, filled, now, oco=False)


async def _grow(conn: AsyncConnection, leg: Order, more: Decimal) -> Change:
    change = Change(leg)
    for event in grow(leg, more):
        change = change.then(event)
    if leg.reserved_quantity > 0 and not await reservations.take_shares(
            conn, leg.account_id, leg.symbol, more):
        # The shares were bought in this transaction, so they are free; never sell unheld.
        raise AssertionError(f"the {more} shares just bought are not free for exit {leg.id}")
    return await orders.save(conn, change, actor=ACTOR)


async def _open(conn: AsyncConnection, entry: Order, quantity: Decimal, now: datetime, *,
                oco: bool) -> list[Change]:
    """Insert and accept the exits for `quantity`; the first one holds the shares."""
    exits = Exits.from_json(await families.exit_terms_of(conn, entry.id))
    legs = new_legs(entry, exits, quantity, oco=oco, ids=[uuid.uuid4(), uuid.uuid4()], now=now)
    changes = []
    for leg in legs:
        inserted = await families.insert_leg(conn, leg, actor=ACTOR)
        change = Change(inserted)
        if leg.reserved_quantity > 0 and not await reservations.take_shares(
                conn, leg.account_id, leg.symbol, leg.reserved_quantity):
            change = change.then(ev.Rejected(
                f"the {leg.quantity} {leg.symbol} shares it would sell are held by other "
                "orders"))
        else:
            change = change.then(ev.Submitted(paper_order_id(leg.id))).then(ev.Accepted())
        changes.append(await orders.save(conn, change, dispatch=orders.Dispatch.done(),
                                         actor=ACTOR))
    return changes


async def end_siblings(conn: AsyncConnection, leg: Order, why: str) -> list[Change]:
    """A leg that ended unfilled (canceled, expired) takes its open siblings (its own pair's
    legs, never another pair's) with it, in the same transaction: they share one quantity, and
    on paper the take-profit alone holds the shares, so a stop-loss left working could sell
    shares nothing holds any more."""
    if not is_leg(leg):
        return []
    family, _ = await families.lock_families(conn, [root_of(leg)])
    changes = []
    for sibling in pair_of(family, leg):
        if is_terminal(sibling.status):
            continue  # filled or ended already
        closed = await close_order(conn, Change(sibling), ev.Canceled(why))
        changes.append(await orders.save(conn, closed, dispatch=orders.Dispatch.done(),
                                         actor=ACTOR))
    return changes


async def _share(conn: AsyncConnection, leg: Order, filled: Decimal) -> list[Change]:
    family, _ = await families.lock_families(conn, [root_of(leg)])
    siblings = pair_of(family, leg)
    done = leg.status is OrderStatus.FILLED
    changes = []
    for sibling in siblings:
        change = Change(sibling)
        for event in after_sibling_fill(sibling, filled, leg_done=done):
            change = change.then(event)
        await orders.release_reservation(conn, sibling, change.after)
        changes.append(await orders.save(conn, change, dispatch=orders.Dispatch.done(),
                                         actor=ACTOR))
    return changes


async def ring(redis: Redis, changes: Sequence[Change]) -> None:
    """After commit: ring the paper matcher for the symbols whose legs opened or changed, so a
    marketable exit fills on the next match rather than the next quote."""
    symbols = sorted({c.after.symbol for c in changes if c.steps
                      and c.after.parent_id is not None and not is_terminal(c.after.status)})
    if not symbols:
        return
    try:
        await send(redis, tasks.PAPER_MATCH, [symbols], tasks.ORDERS_QUEUE)
    except Exception as exc:  # noqa: BLE001 - best effort: the next quote matches them
        log.warning("could not ring the paper matcher for %s: %s", symbols, exc)
