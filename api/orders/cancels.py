"""The cancel edge: one small transaction per order, then the announcement after its commit.

`DELETE /orders/{id}`, `DELETE /orders` (cancel all), the kill switch and position closes all
cancel through here, so each cancel is the same `service.cancel_order` wherever it comes from.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.audit import Who
from api.errors import error_item
from api.orders import service
from shared.brokers.catalog import Broker, queue_for
from shared.domain.audit import Action
from shared.domain.errors import DomainError
from shared.domain.orders import Change, Order
from shared.messaging import tasks
from shared.messaging.enqueue import send
from shared.messaging.order_view import order_resource
from shared.messaging.publish import forget_orders, publish_order_changes
from shared.settings import Settings

log = logging.getLogger(__name__)
CANCEL_ACCEPTED = 202


@dataclass(frozen=True, slots=True)
class Edges:
    """What a cancel touches: the database, Redis (cache, stream, queue) and the settings."""

    engine: AsyncEngine
    redis: Redis
    settings: Settings


@dataclass(frozen=True, slots=True)
class Canceled:
    """The outcome of one cancel: the order after it, or the expected error it met."""

    order_id: uuid.UUID
    order: Order | None = None
    error: DomainError | None = None


async def announce_cancel(redis: Redis, change: Change, ask_broker: bool,
                          settings: Settings) -> None:
    """Publish a committed cancel and, if the venue must be asked, queue its cancel task."""
    # Best effort after commit: the sweeper re-drives a lost cancel; a snapshot that could not
    # be replaced is dropped, or expires with the cache TTL.
    order = change.after
    try:
        await publish_order_changes(redis, [change], settings.order_cache_ttl_seconds)
        if ask_broker:
            queue = queue_for(Broker(order.broker))
            await send(redis, tasks.cancel_task(queue), [str(order.id)], queue)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not publish the cancel of %s now; the sweeper will: %s",
                    order.id, exc)
        with contextlib.suppress(Exception):
            await forget_orders(redis, [change])


async def cancel_in(conn: AsyncConnection, who: Who, order_id: uuid.UUID,
                    grace_seconds: float, *, via: str | None = None) -> tuple[Change, bool]:
    """Cancel one of the caller's orders in the caller's transaction, audited in it (a cancel
    asked for again changes nothing, and is not)."""
    assert who.user_id is not None, "a cancel has a logged-in caller"
    change, ask_broker = await service.cancel_order(conn, who.user_id, order_id, grace_seconds,
                                                    via=via)
    if change.steps:
        await who.record(conn, Action.ORDER_CANCEL, target=("order", order_id),
                         details={"via": via, "status": change.after.status})
    return change, ask_broker


async def cancel_one(edges: Edges, who: Who, order_id: uuid.UUID, *,
                     via: str | None = None) -> Canceled:
    """Cancel one order in its own transaction; an expected refusal is the outcome, not raised."""
    try:
        async with edges.engine.begin() as conn:
            change, ask_broker = await cancel_in(
                conn, who, order_id, edges.settings.dispatch_grace_seconds, via=via)
    except DomainError as exc:
        return Canceled(order_id, error=exc)
    await announce_cancel(edges.redis, change, ask_broker, edges.settings)
    return Canceled(order_id, order=change.after)


async def cancel_each(edges: Edges, who: Who, order_ids: Sequence[uuid.UUID], *,
                      via: str | None = None) -> list[Canceled]:
    """Cancel the orders one by one: one order's refusal never undoes another's cancel."""
    return [await cancel_one(edges, who, order_id, via=via) for order_id in order_ids]


def cancel_item(outcome: Canceled, request_id: str | None) -> dict[str, Any]:
    """One cancel's entry in a multi-status answer (schema: bulk_schemas.CancelResult)."""
    if outcome.error is not None:
        status, error = error_item(outcome.error, request_id)
        return {"order_id": str(outcome.order_id), "http_status": status, "order": None,
                "error": error}
    assert outcome.order is not None
    return {"order_id": str(outcome.order_id), "http_status": CANCEL_ACCEPTED,
            "order": order_resource(outcome.order), "error": None}
