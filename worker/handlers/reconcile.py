"""Reconciliation and webhooks: the broker's word, checked on a schedule and on every delivery.

The beat task hands each broker's stale open orders to that broker's queue, so a broker that
is down delays only its own checks. A webhook is only a trigger: the order is re-fetched from
the broker before anything is applied.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict

from shared.brokers import webhooks
from shared.brokers.catalog import Broker, queue_for
from shared.db.repositories import orders
from shared.db.repositories import webhooks as deliveries
from shared.messaging import tasks
from shared.messaging.enqueue import send
from worker.handlers.broker_orders import sync_order
from worker.runtime import Runtime

log = logging.getLogger(__name__)
BATCH = 500
CHUNK = 50


async def reconcile(runtime: Runtime, startup: bool = False) -> dict[str, int]:
    """Queue a broker check of every open order older than the configured age.

    At worker start every open order is checked at once (age 0), so orders left SUBMITTED by
    a crash are looked up at their broker before anything could place them again.
    """
    age = 0.0 if startup else runtime.settings.reconcile_min_age_seconds
    async with runtime.engine.connect() as conn:
        stale = await orders.open_at_brokers(conn, older_than_seconds=age, limit=BATCH)
        lost = await deliveries.queued(conn, BATCH)
    by_broker: dict[str, list[str]] = defaultdict(list)
    for order_id, broker in stale:
        by_broker[broker].append(str(order_id))
    for broker, ids in by_broker.items():
        queue = queue_for(Broker(broker))
        for start in range(0, len(ids), CHUNK):
            await send(runtime.redis, tasks.BROKER_SYNC, [ids[start:start + CHUNK]], queue)
    for event_id, broker in lost:
        await send(runtime.redis, tasks.WEBHOOK_PROCESS, [str(event_id)],
                   queue_for(Broker(broker)))
    if stale or lost:
        log.info("reconcile: %d open orders and %d webhook deliveries queued for checking",
                 len(stale), len(lost))
    return {"orders": len(stale), "webhooks": len(lost)}


async def process_webhook(runtime: Runtime, event_id: str) -> str:
    """Re-fetch the order a stored delivery names and apply what the broker reports."""
    async with runtime.engine.connect() as conn:
        event = await deliveries.get(conn, uuid.UUID(event_id))
    if event is None or event["status"] != "queued":
        return "absent" if event is None else str(event["status"])
    broker = Broker(event["broker"])
    trigger = webhooks.parse(broker, event["body"].encode())
    async with runtime.engine.connect() as conn:
        order_id = await orders.find_at_broker(
            conn, broker.value, account_id=event["account_id"],
            broker_order_id=trigger.broker_order_id if trigger else None,
            tag=trigger.tag if trigger else None)
    if order_id is None:
        outcome, error = "ignored", "no order of ours has this broker order id or tag"
    else:
        await sync_order(runtime, order_id)
        outcome, error = "processed", None
    async with runtime.engine.begin() as conn:
        await deliveries.finish(conn, event["id"], outcome, error)
    return outcome
