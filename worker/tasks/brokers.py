"""Celery tasks for real brokers: thin sync shims over the async handlers.

They are sent to each broker's own queue (`broker.<name>`) by name, never routed here, so one
broker's outage never delays another's orders.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from shared.messaging import tasks
from worker.handlers import broker_cancel, broker_modify, broker_orders, broker_reads, reconcile
from worker.runtime import get_runtime


@shared_task(name=tasks.BROKER_READ)
def read_account(account_id: str, kind: str) -> None:
    """Ask the broker for an account's positions or funds, for the API (cached in Redis)."""
    runtime = get_runtime()
    runtime.run(broker_reads.read_account(runtime, account_id, kind))


@shared_task(name=tasks.BROKER_PLACE)
def place_orders(order_ids: list[str]) -> int:
    """Place new orders at their broker, each at most once."""
    runtime = get_runtime()
    return runtime.run(broker_orders.place_orders(runtime, order_ids))


@shared_task(name=tasks.BROKER_SYNC)
def sync_orders(order_ids: list[str]) -> None:
    """Bring orders up to date with their broker (and resolve unknown places)."""
    runtime = get_runtime()
    runtime.run(broker_orders.sync_orders(runtime, order_ids))


@shared_task(name=tasks.BROKER_CANCEL)
def cancel_order(order_id: str) -> bool:
    """Carry a requested cancel to the broker."""
    runtime = get_runtime()
    return runtime.run(broker_cancel.cancel_at_broker(runtime, order_id))


@shared_task(name=tasks.BROKER_MODIFY)
def modify_order(order_id: str) -> bool:
    """Carry a requested replace to the broker."""
    runtime = get_runtime()
    return runtime.run(broker_modify.modify_at_broker(runtime, order_id))


@shared_task(name=tasks.WEBHOOK_PROCESS)
def process_webhook(event_id: str) -> str:
    """Apply a stored webhook delivery (after re-fetching the order from its broker)."""
    runtime = get_runtime()
    return runtime.run(reconcile.process_webhook(runtime, event_id))


@shared_task(name=tasks.RECONCILE)
def reconcile_orders(startup: bool = False) -> dict[str, Any]:
    """Queue broker checks of open orders (all of them at worker start)."""
    runtime = get_runtime()
    return runtime.run(reconcile.reconcile(runtime, startup))
