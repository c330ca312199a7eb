"""Calling a broker for one order: the gates before a call and what a failure means after it.

Before any call the broker's circuit breaker and the account's rate limit are asked; while
either says wait, the order waits (the sweeper re-drives it when its time comes), it never
fails. After a call, the broker's answer is classified once, here, for every handler.
"""

from __future__ import annotations

import functools
import logging
import random
import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from shared import metrics
from shared.brokers.catalog import CAPABILITIES, Broker
from shared.brokers.types import (
    BrokerError,
    NotSent,
    OrderNotFound,
    RateLimited,
    Rejected,
    SessionExpired,
    Unknown,
)
from shared.db.repositories import accounts, orders, quality
from shared.domain import events as ev
from shared.domain.enums import Placement
from shared.domain.orders import Change, Order, allows
from worker.brokers.base import BrokerAdapter
from worker.runtime import Runtime

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 60.0


def backoff(attempt: int) -> float:
    """Exponential backoff with jitter, so many orders retrying never arrive in one burst."""
    return min(2.0 ** max(attempt, 0), MAX_BACKOFF_SECONDS) * random.uniform(0.8, 1.2)  # noqa: S311


async def gate(runtime: Runtime, order: Order) -> tuple[float, str] | None:
    """None when a call may go now; else (seconds to wait, why) — and the order waits."""
    broker = Broker(order.broker)
    access = runtime.brokers
    retry_in = await access.breaker.allow(broker)
    if retry_in is not None:
        return max(retry_in, 0.5), f"waiting: {broker.value} is unavailable (circuit open)"
    wait = await access.limiter.acquire(broker, str(order.account_id),
                                        CAPABILITIES[broker].rate_limit)
    if wait > 0:
        return wait, f"waiting: {broker.value} request budget of this account is used up"
    return None


async def adapter_for(runtime: Runtime, order: Order) -> BrokerAdapter:
    """The adapter of the order's account (its connection)."""
    async with runtime.engine.connect() as conn:
        account = await accounts.connection(conn, order.account_id)
    if account is None or account["credentials"] is None:
        raise SessionExpired("the connection was removed; connect the broker again",
                             broker=Broker(order.broker), code="no_connection")
    return await runtime.brokers.adapter(account)


async def wait_and_explain(runtime: Runtime, order: Order, seconds: float, detail: str, *,
                           not_sent: bool = False) -> None:
    """Re-drive the order in `seconds`; show `detail` on it when that is news.

    `not_sent`: the broker certainly never received the order, so it may be placed again —
    unless the broker has reported it meanwhile (then it is not touched).
    """
    published = await runtime.in_transaction(functools.partial(
        _wait, order_id=order.id, seconds=seconds, detail=detail, not_sent=not_sent))
    await runtime.publish([published] if published else [])


async def _wait(conn: AsyncConnection, *, order_id: uuid.UUID, seconds: float, detail: str,
                not_sent: bool) -> Change | None:
    order = await orders.lock(conn, order_id)
    if order is None:
        return None
    await orders.reschedule(conn, order_id, seconds)
    event: ev.OrderEvent = ev.PlacementNotSent(detail) if not_sent else ev.Waiting(detail)
    if not_sent and (order.broker_order_id is not None
                     or order.placement is not Placement.IN_FLIGHT):
        log.info("order %s was reported by the broker meanwhile; not marking it unsent",
                 order_id)
        return None
    if not allows(order.status, event):
        return None  # it ended meanwhile: nothing to explain
    change = Change(order).then(event)
    actor = f"broker:{order.broker}"
    if not_sent:
        return await orders.claim(conn, change, guard=orders.Guard.NOT_AT_BROKER, actor=actor)
    return await orders.save(conn, change, actor=actor)


async def after_failure(runtime: Runtime, order: Order, exc: BrokerError) -> None:
    """Record what a failed call means for the broker, the account and this order's timing.

    Used for calls that change nothing when they fail (reads, cancels, lookups); a failed place
    is classified by the place handler, where "unknown" has its own meaning.
    """
    broker = Broker(order.broker)
    await note_outcome(runtime, broker, order, exc)
    if isinstance(exc, SessionExpired):
        detail = f"waiting: the {broker.value} session expired; log in again to continue"
        await wait_and_explain(runtime, order, MAX_BACKOFF_SECONDS, detail)
    elif isinstance(exc, RateLimited):
        await wait_and_explain(runtime, order, exc.retry_after,
                               f"waiting: {broker.value} asked this account to slow down")
    elif isinstance(exc, OrderNotFound | Rejected):
        await record_discrepancy(runtime, order, "broker_refused_lookup", exc.message)
        await wait_and_explain(runtime, order, MAX_BACKOFF_SECONDS,
                               f"{broker.value} answered: {exc.message}")
    else:
        await wait_and_explain(runtime, order, backoff(order.dispatch_attempts),
                               f"waiting: {broker.value} did not answer ({exc.message})")


async def note_outcome(runtime: Runtime, broker: Broker, order: Order,
                       exc: BrokerError | None) -> None:
    """Feed the breaker, the rate limiter and the metrics with what a call's answer says."""
    access = runtime.brokers
    if exc is not None:
        metrics.BROKER_ERRORS.labels(broker.value, type(exc).__name__).inc()
    if exc is None or isinstance(exc, Rejected | OrderNotFound):
        await access.breaker.record_success(broker)  # the broker answered: it is up
    elif isinstance(exc, RateLimited):
        await access.limiter.penalize(broker, str(order.account_id), exc.retry_after)
    elif isinstance(exc, NotSent | Unknown):
        await access.breaker.record_failure(broker)
    if isinstance(exc, SessionExpired):
        async with runtime.engine.begin() as conn:
            await accounts.mark_expired(conn, order.account_id, exc.message)


async def read_order(runtime: Runtime, order_id: uuid.UUID) -> Order | None:
    """The order as it is now, without a lock (read before calling a broker)."""
    async with runtime.engine.connect() as conn:
        return await orders.get(conn, order_id)


async def record_discrepancy(runtime: Runtime, order: Order, kind: str,
                             message: str) -> None:
    """Put a difference between the broker and our books in front of a person."""
    async with runtime.engine.begin() as conn:
        await note_discrepancy(conn, order, kind, message)


async def note_discrepancy(conn: AsyncConnection, order: Order, kind: str,
                           message: str) -> None:
    """record_discrepancy inside the caller's transaction."""
    log.warning("quality check on order %s: %s", order.id, message)
    await quality.record(conn, broker=order.broker, kind=kind, message=message,
                         user_id=order.user_id, account_id=order.account_id,
                         order_id=order.id)
