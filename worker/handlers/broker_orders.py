"""Orders at real brokers: place each exactly once, follow it, cancel it.

Never place twice: an order is claimed (PENDING_NEW → SUBMITTED, placement in_flight) before
the call, and a place whose outcome is unknown (timeout, 5xx, a worker killed mid-call) stays
in_flight until the broker has been asked for our tag. Only an order certainly not placed
(refused connection, 429, a lookup that found nothing several times) is placed again, always
with the same tag. No database lock is held while a broker is called.
"""

from __future__ import annotations

import functools
import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.brokers.catalog import Broker, Product
from shared.brokers.types import (
    BrokerError,
    BrokerOrder,
    Instrument,
    NotSent,
    PlaceRequest,
    RateLimited,
    Rejected,
    SessionExpired,
    Unknown,
)
from shared.credentials import CredentialsError
from shared.db.repositories import market, orders, pauses
from shared.domain import events as ev
from shared.domain.enums import OrderStatus, Placement
from shared.domain.orders import (
    LATE_FILL_STATUSES,
    Change,
    Order,
    is_terminal,
    trailing_stop_price,
)
from worker.handlers import broker_calls as calls
from worker.handlers.broker_sync import apply_report, refresh, save_report
from worker.handlers.closing import close_order
from worker.runtime import Runtime

log = logging.getLogger(__name__)


async def place_orders(runtime: Runtime, order_ids: list[str]) -> int:
    """Place each order at its broker (at most once); returns how many were claimed."""
    placed = 0
    for order_id in order_ids:
        placed += await place_order(runtime, uuid.UUID(order_id))
    return placed


async def sync_orders(runtime: Runtime, order_ids: list[str]) -> None:
    """Bring each order up to date with its broker, placing or looking up where needed."""
    for order_id in order_ids:
        await sync_order(runtime, uuid.UUID(order_id))


async def sync_order(runtime: Runtime, order_id: uuid.UUID) -> None:
    """One order: place it, resolve an unknown place, or refresh it from the broker."""
    order = await calls.read_order(runtime, order_id)
    if order is None or order.is_paper:
        return
    status = order.status
    if _placeable(order):
        await place_order(runtime, order_id)
    elif order.placement is Placement.IN_FLIGHT and not order.broker_order_id:
        await resolve_unknown(runtime, order)
    elif order.broker_order_id and (not is_terminal(status) or status in LATE_FILL_STATUSES):
        # A canceled or expired order is still looked at when asked (a webhook): a fill that
        # raced the cancel is booked.
        await refresh(runtime, order)


async def place_order(runtime: Runtime, order_id: uuid.UUID) -> bool:
    """Claim and place one order; False if it was not this delivery's to place."""
    order = await calls.read_order(runtime, order_id)
    if order is None or not _placeable(order):
        return False
    waiting = await calls.gate(runtime, order)
    if waiting is not None:
        await calls.wait_and_explain(runtime, order, *waiting)
        return False
    lease = runtime.settings.broker_http_timeout_seconds * 2 + 10
    claimed = await runtime.in_transaction(functools.partial(_claim, order_id=order_id,
                                                             lease=lease))
    if claimed is None:
        return False
    await runtime.publish([claimed])
    row = claimed.after
    try:
        request = await _place_request(runtime, row)
        adapter = await calls.adapter_for(runtime, row)
        answer = await adapter.place(request)
    except CredentialsError as exc:
        await _end(runtime, row, ev.Rejected(f"the connection's credentials cannot be read "
                                             f"({exc}); connect the broker again; nothing was "
                                             "placed"))
        return True
    except BrokerError as exc:
        await _place_failed(runtime, row, exc)
        return True
    await calls.note_outcome(runtime, Broker(row.broker), row, None)
    await _record_placed(runtime, row, answer)
    return True


def _placeable(order: Order) -> bool:
    fresh = order.status is OrderStatus.PENDING_NEW
    retry = order.status is OrderStatus.SUBMITTED and order.placement is Placement.NOT_SENT
    return not order.is_paper and (fresh or retry)


async def _claim(conn: AsyncConnection, *, order_id: uuid.UUID, lease: float) -> Change | None:
    # Compare-and-set: only one delivery wins. The lease makes the sweeper look the order up at
    # the broker if this worker dies before it records the outcome. A paused broker's order
    # waits as it is; the sweeper takes it once the broker is resumed.
    order = await orders.get(conn, order_id)
    if order is None or not _placeable(order) or await pauses.is_paused(conn, order.broker):
        return None
    return await orders.claim(conn, Change(order).then(ev.PlacementStarted()),
                              guard=orders.Guard.NOT_AT_BROKER,
                              dispatch=orders.Dispatch(lease, reset_attempts=True),
                              actor=f"broker:{order.broker}")


async def _place_request(runtime: Runtime, row: Order) -> PlaceRequest:
    async with runtime.engine.connect() as conn:
        found = await market.broker_instrument(conn, row.symbol)
    if found is None:
        raise Rejected(f"{row.symbol} is no longer in the instrument universe")
    instrument = Instrument(symbol=found["symbol"], exchange=found["exchange"],
                            currency=found["currency"], isin=found["isin"],
                            refs=found["broker_refs"] or {})
    assert row.broker_tag is not None, "every broker order is tagged at submission"
    return PlaceRequest(
        order_id=str(row.id), tag=row.broker_tag, instrument=instrument, side=row.side,
        order_type=row.order_type, quantity=row.quantity, time_in_force=row.time_in_force,
        price=row.price, stop_price=row.stop_price,
        product=Product(row.product) if row.product else None,
        trail_price=row.trail_price, trail_percent=row.trail_percent,
        trail_stop=trailing_stop_price(row), expire_at=row.expire_at)


async def _place_failed(runtime: Runtime, row: Order, exc: BrokerError) -> None:
    broker = Broker(row.broker)
    await calls.note_outcome(runtime, broker, row, exc)
    if isinstance(exc, Rejected):
        await _end(runtime, row, ev.Rejected(f"{broker.value} rejected the order: "
                                             f"{exc.message}"))
    elif isinstance(exc, SessionExpired):
        await _end(runtime, row, ev.Rejected(
            f"the {broker.value} session has expired ({exc.message}); log in again with "
            f"POST /api/v1/brokers/{broker.value}/connections/{row.account_id}/refresh;"
            " nothing was placed"))
    elif isinstance(exc, RateLimited):
        await calls.wait_and_explain(runtime, row, exc.retry_after,
                                     f"waiting: {broker.value} asked this account to slow down",
                                     not_sent=True)
    elif isinstance(exc, NotSent):
        await calls.wait_and_explain(runtime, row, calls.backoff(row.placement_attempts),
                                     f"waiting: {broker.value} could not be reached "
                                     f"({exc.message}); nothing was placed", not_sent=True)
    else:
        assert isinstance(exc, Unknown | BrokerError)
        log.warning("place of order %s at %s has an unknown outcome: %s", row.id,
                    broker.value, exc.message)
        await calls.wait_and_explain(runtime, row, 1.0, f"checking with {broker.value}: the "
                                     f"answer to the place was lost ({exc.message})")


async def resolve_unknown(runtime: Runtime, order: Order) -> None:
    """Look an in-flight order up by our tag; place it again only once it is surely absent."""
    waiting = await calls.gate(runtime, order)
    if waiting is not None:
        await calls.wait_and_explain(runtime, order, *waiting)
        return
    assert order.broker_tag is not None, "every broker order is tagged at submission"
    try:
        adapter = await calls.adapter_for(runtime, order)
        found = await adapter.find_by_tag(order.broker_tag)
    except BrokerError as exc:
        await calls.after_failure(runtime, order, exc)
        return
    broker = Broker(order.broker)
    await calls.note_outcome(runtime, broker, order, None)
    if found is not None:
        await _record_placed(runtime, order, found)
        await refresh(runtime, await calls.read_order(runtime, order.id) or order)
        return
    lookups = order.dispatch_attempts
    if lookups < runtime.settings.unknown_lookup_attempts:
        await calls.wait_and_explain(runtime, order, calls.backoff(lookups),
                                     f"checking with {broker.value}: not found yet")
        return
    log.warning("order %s not found at %s after %d lookups: placing it again with the same tag",
                order.id, broker.value, lookups)
    # Decided on the locked order: if a webhook or a sync recorded the broker's id while we
    # looked, the order is not marked unsent, and the place below claims nothing.
    await calls.wait_and_explain(runtime, order, 0.0, f"{broker.value} never received the "
                                 "order; placing it again", not_sent=True)
    await place_order(runtime, order.id)


async def _record_placed(runtime: Runtime, order: Order, answer: BrokerOrder) -> None:
    change = await runtime.in_transaction(functools.partial(
        _placed, order_id=order.id, answer=answer))
    await runtime.publish([change] if change else [])


async def _placed(conn: AsyncConnection, *, order_id: uuid.UUID,
                  answer: BrokerOrder) -> Change | None:
    order = await orders.lock(conn, order_id)
    if order is None:
        return None
    if order.broker_order_id not in (None, answer.broker_order_id):
        await calls.note_discrepancy(conn, order, "broker_order_id_mismatch", (
            f"the broker answered with order {answer.broker_order_id}, but this order is "
            f"{order.broker_order_id} there"))
        return None
    change = Change(order).then(ev.Placed(answer.broker_order_id))
    change, recheck_in = await apply_report(conn, change, answer, [])
    return await save_report(conn, change, recheck_in, placed=True)


async def _end(runtime: Runtime, row: Order, event: ev.Rejected) -> None:
    change = await runtime.in_transaction(functools.partial(_close, order_id=row.id, event=event))
    await runtime.publish([change] if change else [])


async def _close(conn: AsyncConnection, *, order_id: uuid.UUID,
                 event: ev.Rejected) -> Change | None:
    order = await orders.lock(conn, order_id)
    if order is None or is_terminal(order.status):
        return None
    closed = await close_order(conn, Change(order), event)
    return await orders.save(conn, closed, dispatch=orders.Dispatch.done(),
                             actor=f"broker:{order.broker}")
