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
from collections.abc import Mapping
from typing import Any

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
from shared.db.repositories import market, orders
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from shared.domain.orders import LATE_FILL_STATUSES, is_terminal
from worker.handlers import broker_calls as calls
from worker.handlers.broker_sync import apply_report, refresh
from worker.handlers.closing import close_order
from worker.runtime import Change, Runtime

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
    if order is None or order["broker"] == Broker.PAPER:
        return
    status = OrderStatus(order["status"])
    if status is OrderStatus.PENDING_NEW or order["placement"] == "not_sent":
        await place_order(runtime, order_id)
    elif order["placement"] == "in_flight" and not order["broker_order_id"]:
        await resolve_unknown(runtime, order)
    elif order["broker_order_id"] and (not is_terminal(status) or status in LATE_FILL_STATUSES):
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
    row = claimed[0]
    try:
        request = await _place_request(runtime, row)
        adapter = await calls.adapter_for(runtime, row)
        answer = await adapter.place(request)
    except CredentialsError as exc:
        await _end(runtime, row, OrderStatus.REJECTED, f"the connection's credentials cannot "
                   f"be read ({exc}); connect the broker again; nothing was placed")
        return True
    except BrokerError as exc:
        await _place_failed(runtime, row, exc)
        return True
    await calls.note_outcome(runtime, Broker(row["broker"]), row, None)
    await _record_placed(runtime, row, answer)
    return True


def _placeable(order: Mapping[Any, Any]) -> bool:
    status, placement = OrderStatus(order["status"]), order["placement"]
    fresh = status is OrderStatus.PENDING_NEW
    retry = status is OrderStatus.SUBMITTED and placement == "not_sent"
    return order["broker"] != Broker.PAPER and (fresh or retry)


async def _claim(conn: AsyncConnection, *, order_id: uuid.UUID, lease: float) -> Change | None:
    before = await orders.get(conn, order_id)
    row = await orders.claim_for_placement(conn, order_id, lease)
    if row is None or before is None:
        return None
    change: Change = (row, before["status"])
    await orders.log_events(conn, [change])
    return change


async def _place_request(runtime: Runtime, row: Mapping[Any, Any]) -> PlaceRequest:
    async with runtime.engine.connect() as conn:
        found = await market.broker_instrument(conn, row["symbol"])
    if found is None:
        raise Rejected(f"{row['symbol']} is no longer in the instrument universe")
    instrument = Instrument(symbol=found["symbol"], exchange=found["exchange"],
                            currency=found["currency"], isin=found["isin"],
                            refs=found["broker_refs"] or {})
    return PlaceRequest(
        order_id=str(row["id"]), tag=row["broker_tag"], instrument=instrument,
        side=Side(row["side"]), order_type=OrderType(row["order_type"]),
        quantity=row["quantity"], time_in_force=TimeInForce(row["time_in_force"]),
        price=row["price"], stop_price=row["stop_price"],
        product=Product(row["product"]) if row["product"] else None)


async def _place_failed(runtime: Runtime, row: Mapping[Any, Any], exc: BrokerError) -> None:
    broker = Broker(row["broker"])
    await calls.note_outcome(runtime, broker, row, exc)
    if isinstance(exc, Rejected):
        await _end(runtime, row, OrderStatus.REJECTED, f"{broker.value} rejected the order: "
                   f"{exc.message}")
    elif isinstance(exc, SessionExpired):
        await _end(runtime, row, OrderStatus.REJECTED,
                   f"the {broker.value} session has expired ({exc.message}); log in again with "
                   f"POST /api/v1/brokers/{broker.value}/connections/{row['account_id']}/refresh;"
                   " nothing was placed")
    elif isinstance(exc, RateLimited):
        await calls.wait_and_explain(runtime, row, exc.retry_after,
                                     f"waiting: {broker.value} asked this account to slow down",
                                     placement="not_sent")
    elif isinstance(exc, NotSent):
        await calls.wait_and_explain(runtime, row, calls.backoff(row["placement_attempts"]),
                                     f"waiting: {broker.value} could not be reached "
                                     f"({exc.message}); nothing was placed",
                                     placement="not_sent")
    else:
        assert isinstance(exc, Unknown | BrokerError)
        log.warning("place of order %s at %s has an unknown outcome: %s", row["id"],
                    broker.value, exc.message)
        await calls.wait_and_explain(runtime, row, 1.0, f"checking with {broker.value}: the "
                                     f"answer to the place was lost ({exc.message})")


async def resolve_unknown(runtime: Runtime, order: Mapping[Any, Any]) -> None:
    """Look an in-flight order up by our tag; place it again only once it is surely absent."""
    waiting = await calls.gate(runtime, order)
    if waiting is not None:
        await calls.wait_and_explain(runtime, order, *waiting)
        return
    try:
        adapter = await calls.adapter_for(runtime, order)
        found = await adapter.find_by_tag(order["broker_tag"])
    except BrokerError as exc:
        await calls.after_failure(runtime, order, exc)
        return
    broker = Broker(order["broker"])
    await calls.note_outcome(runtime, broker, order, None)
    if found is not None:
        await _record_placed(runtime, order, found)
        await refresh(runtime, await calls.read_order(runtime, order["id"]) or order)
        return
    lookups = order["dispatch_attempts"]
    if lookups < runtime.settings.unknown_lookup_attempts:
        await calls.wait_and_explain(runtime, order, calls.backoff(lookups),
                                     f"checking with {broker.value}: not found yet")
        return
    log.warning("order %s not found at %s after %d lookups: placing it again with the same tag",
                order["id"], broker.value, lookups)
    await calls.wait_and_explain(runtime, order, 0.0, f"{broker.value} never received the "
                                 "order; placing it again", placement="not_sent")
    await place_order(runtime, order["id"])


async def _record_placed(runtime: Runtime, order: Mapping[Any, Any],
                         answer: BrokerOrder) -> None:
    changes = await runtime.in_transaction(functools.partial(
        _placed, order_id=order["id"], answer=answer))
    await runtime.publish(changes)


async def _placed(conn: AsyncConnection, *, order_id: uuid.UUID,
                  answer: BrokerOrder) -> list[Change]:
    row = await orders.lock(conn, order_id)
    if row is None:
        return []
    changes: list[Change] = []
    if row["broker_order_id"] != answer.broker_order_id or row["placement"] != "placed":
        row_after = await orders.set_status(
            conn, row, OrderStatus(row["status"]), broker_order_id=answer.broker_order_id,
            placement="placed", status_detail=None, next_dispatch_at=None)
        changes.append((row_after, row["status"]))
        row = row_after
    changes += await apply_report(conn, row, answer, [])
    await orders.log_events(conn, changes)
    return changes


async def _end(runtime: Runtime, row: Mapping[Any, Any], status: OrderStatus,
               reason: str) -> None:
    changes = await runtime.in_transaction(functools.partial(
        _close, order_id=row["id"], status=status, reason=reason))
    await runtime.publish(changes)


async def _close(conn: AsyncConnection, *, order_id: uuid.UUID, status: OrderStatus,
                 reason: str) -> list[Change]:
    row = await orders.lock(conn, order_id)
    if row is None or is_terminal(OrderStatus(row["status"])):
        return []
    changes = [await close_order(conn, row, status, reason)]
    await orders.log_events(conn, changes)
    return changes
