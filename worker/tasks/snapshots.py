"""Celery task: snapshot every account's and portfolio's P&L of its exchange's closed day (beat)."""

from __future__ import annotations

from celery import shared_task

from shared.messaging import tasks
from worker.handlers import snapshots
from worker.runtime import get_runtime


@shared_task(name=tasks.SNAPSHOT_PNL)
def snapshot_pnl() -> int:
    """Snapshot each book's last closed trading day if it has none; returns how many stored."""
    runtime = get_runtime()
    return runtime.run(snapshots.snapshot_day(runtime))
