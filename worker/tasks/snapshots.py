"""Celery task: snapshot every account's and portfolio's P&L of the day that ended (beat)."""

from __future__ import annotations

from celery import shared_task

from shared.messaging import tasks
from worker.handlers import snapshots
from worker.runtime import get_runtime


@shared_task(name=tasks.SNAPSHOT_PNL)
def snapshot_pnl() -> int:
    """Snapshot yesterday (UTC) for every book that has none yet; returns how many stored."""
    runtime = get_runtime()
    return runtime.run(snapshots.snapshot_day(runtime))
