"""Celery task: roll the day's positions into holdings at each exchange's close (run by beat)."""

from __future__ import annotations

from celery import shared_task

from shared.messaging import tasks
from worker.handlers import settlement
from worker.runtime import get_runtime


@shared_task(name=tasks.SETTLE_HOLDINGS)
def settle_holdings() -> dict[str, str]:
    """Settle every exchange's closed trading day not settled yet; returns them by exchange."""
    runtime = get_runtime()
    return runtime.run(settlement.settle_due(runtime))
