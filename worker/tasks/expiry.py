"""Celery task: expire DAY and GTD orders whose time ran out (run by beat)."""

from __future__ import annotations

from celery import shared_task

from shared.messaging import tasks
from worker.handlers import expiry
from worker.runtime import get_runtime


@shared_task(name=tasks.EXPIRE_ORDERS)
def expire_orders() -> int:
    """Expire the due orders; returns how many."""
    runtime = get_runtime()
    return runtime.run(expiry.expire_due(runtime))
