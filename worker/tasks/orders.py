"""Celery tasks: thin sync shims that run the async handlers on the process's loop."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from shared.messaging import tasks
from worker.handlers import cancel, submit, sweep
from worker.runtime import get_runtime


@shared_task(name=tasks.SUBMIT_ORDERS)
def submit_orders(order_ids: list[str]) -> int:
    """Submit a batch of accepted orders, with the submits queued behind it (each order at most
    once, whatever the deliveries)."""
    runtime = get_runtime()
    return runtime.run(submit.submit_queued(runtime, order_ids))


@shared_task(name=tasks.CANCEL_ORDER)
def cancel_order(order_id: str) -> bool:
    """Complete a requested cancel."""
    runtime = get_runtime()
    return runtime.run(cancel.cancel_order(runtime, order_id))


@shared_task(name=tasks.SWEEP_ORDERS)
def sweep_orders() -> dict[str, Any]:
    """Re-drive orders whose dispatch deadline passed."""
    runtime = get_runtime()
    return runtime.run(sweep.sweep(runtime))
