"""Order classes at real brokers, emulated by ordergate: what a broker's report does to the
orders linked to the one it reported.

The Indian brokers discontinued bracket orders, so ordergate keeps the legs itself. A bracket
or oto entry's fill opens its exits at the same broker for the quantity filled (new orders,
placed through broker.place after commit); later fills grow the live exits through the
broker's modify; an oco order the broker holds gets its stop-loss placed beside it; a fill on
one leg shrinks its sibling (or cancels it once the leg is filled), and a leg that ends
unfilled ends its pair. The domain says what (shared.domain.classes); here each change is a
request to the broker, saved in the report's own transaction with a dispatch deadline, so the
sweeper re-drives whatever message is lost. Between one leg's fill and its sibling's cancel
both may fill at the broker: every fill is booked, and a discrepancy is recorded.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.brokers.catalog import Broker, order_tag, queue_for
from shared.db.repositories import legs as families
from shared.db.repositories import orders
from shared.domain import events as ev
from shared.domain.classes import (
    EXITS_PER_PAIR,
    Exits,
    after_sibling_fill_at_broker,
    end_at_broker,
    exits_oversold,
    grow_at_broker,
    is_live_at_broker,
    new_legs,
    pair_of,
    pair_to_grow,
)
from shared.domain.enums import OrderClass, OrderStatus
from shared.domain.orders import PENDING_STATUSES, Change, Order, is_terminal
from shared.domain.values import decimal_str
from shared.messaging import tasks
from shared.messaging.enqueue import send
from worker.handlers import broker_calls as calls
from worker.handlers.closing import close_order
from worker.handlers.legs import root_of
from worker.runtime import Runtime

log = logging.getLogger(__name__)
_S = OrderStatus
_ENDED_UNFILLED = {_S.CANCELED: "its OCO sibling was canceled",
                   _S.EXPIRED: "its OCO sibling expired",
                   _S.REJECTED: "its OCO sibling was rejected by the broker"}


async def follow(conn: AsyncConnection, saved: Change, grace: float) -> list[Change]:
    """Apply to a broker order's family what its saved report did; returns their changes.

    `grace`: seconds after which the sweeper re-drives a request whose message was lost.
    """
    before, after = saved.before, saved.after
    if after.order_class is OrderClass.SIMPLE or after.is_paper:
        return []
    filled = after.filled_quantity - before.filled_quantity
    if after.parent_id is None and after.order_class in EXITS_PER_PAIR:
        return await _open_or_grow(conn, after, filled, grace) if filled > 0 else []
    ended = not is_terminal(before.status) and after.status in _ENDED_UNFILLED
    changes: list[Change] = []
    if filled > 0:
        await _note_oversold(conn, after)
        if not ended:
            changes += await _share(conn, after, filled, grace)
    if ended:
        changes += await _end_pair(conn, after, grace)
    elif after.parent_id is None and after.broker_order_id and not is_terminal(after.status):
        changes += await _open_stop(conn, after, grace)
    return changes


async def _open_or_grow(conn: AsyncConnection, entry: Order, filled: Decimal,
                        grace: float) -> list[Change]:
    family, _ = await families.lock_families(conn, [entry.id])
    pair = pair_to_grow(family, entry, is_live_at_broker)
    if pair is None:
        # No exits are open, or none the broker can resize now: these shares get their own.
        return await _open(conn, entry, filled, grace, oco=False)
    return [await _request(conn, leg, grow_at_broker(leg, filled), grace) for leg in pair]


async def _open_stop(conn: AsyncConnection, oco: Order, grace: float) -> list[Change]:
    """An oco order the broker holds gets its stop-loss, once, for what is unfilled."""
    if await families.legs_of(conn, [oco.id]):
        return []
    return await _open(conn, oco, oco.leaves, grace, oco=True)


async def _open(conn: AsyncConnection, root: Order, quantity: Decimal, grace: float, *,
                oco: bool) -> list[Change]:
    """Insert the exits for `quantity`, PENDING_NEW, for broker.place to place after commit."""
    exits = Exits.from_json(await families.exit_terms_of(conn, root.id))
    broker = Broker(root.broker)
    opened = new_legs(root, exits, quantity, oco=oco, ids=[uuid.uuid4(), uuid.uuid4()],
                      now=datetime.now(UTC))
    return [Change(await families.insert_leg(
        conn, replace(leg, broker_tag=order_tag(broker, leg.id)), actor=_actor(root),
        dispatch_in=grace)) for leg in opened]


async def _share(conn: AsyncConnection, leg: Order, filled: Decimal,
                 grace: float) -> list[Change]:
    family, _ = await families.lock_families(conn, [root_of(leg)])
    done = leg.status is _S.FILLED
    return [await _request(conn, sibling, after_sibling_fill_at_broker(sibling, filled, done),
                           grace) for sibling in pair_of(family, leg)]


async def _end_pair(conn: AsyncConnection, leg: Order, grace: float) -> list[Change]:
    """A leg that ended unfilled ends its pair: they share one quantity."""
    family, _ = await families.lock_families(conn, [root_of(leg)])
    why = _ENDED_UNFILLED[leg.status]
    return [await _request(conn, sibling, end_at_broker(sibling, why), grace)
            for sibling in pair_of(family, leg)]


async def _request(conn: AsyncConnection, leg: Order, events: Sequence[ev.OrderEvent],
                   grace: float) -> Change:
    change = Change(leg)
    for event in events:
        change = (await close_order(conn, change, event) if isinstance(event, ev.Canceled)
                  else change.then(event))
    waits = change.after.status in PENDING_STATUSES
    return await orders.save(conn, change, actor=_actor(leg),
                             dispatch=orders.Dispatch(grace) if waits else orders.Dispatch.done())


async def _note_oversold(conn: AsyncConnection, leg: Order) -> None:
    """Both legs of a pair filled at the broker before the cancel of one arrived: the fills
    are booked as reported, and a person is told what the exits sold too much."""
    root_id = root_of(leg)
    family = await families.family_of(conn, root_id)
    [root] = [order for order in family if order.id == root_id]
    covered = root.filled_quantity
    if root.order_class is OrderClass.OCO:
        covered = await families.first_quantity(conn, root.id) or root.quantity
    excess = exits_oversold(root, family, covered)
    if excess > 0:
        await calls.note_discrepancy(conn, leg, "exits_oversold", (
            f"both legs of an exit pair filled at {leg.broker} before ordergate could cancel "
            f"one: the exits of order {root.id} sold {decimal_str(excess)} {leg.symbol} more "
            f"than the {decimal_str(covered)} they cover; every fill is booked, check the "
            "position"))


async def send_requests(runtime: Runtime, changes: Sequence[Change]) -> None:
    """After commit: send the legs a follow-up opened to broker.place, and its cancels and
    modifies to their tasks. A message lost here is re-driven by the sweeper."""
    places: dict[str, list[str]] = defaultdict(list)
    singles: list[tuple[str, str, str]] = []
    for change in changes:
        order = change.after
        if order.is_paper or order.order_class is OrderClass.SIMPLE:
            continue
        queue = queue_for(Broker(order.broker))
        if not change.steps and order.status is _S.PENDING_NEW:
            places[queue].append(str(order.id))
        elif change.steps and order.status is not change.before.status:
            task = {_S.PENDING_CANCEL: tasks.BROKER_CANCEL,
                    _S.PENDING_REPLACE: tasks.BROKER_MODIFY}.get(order.status)
            if task is not None:
                singles.append((task, str(order.id), queue))
    try:
        for queue, ids in places.items():
            await send(runtime.redis, tasks.BROKER_PLACE, [ids], queue)
        for task, order_id, queue in singles:
            await send(runtime.redis, task, [order_id], queue)
    except Exception as exc:  # noqa: BLE001 - the rows are due for the sweeper anyway
        log.warning("could not send the requests of %d linked orders: %s", len(changes), exc)


def _actor(order: Order) -> str:
    return f"broker:{order.broker}"
