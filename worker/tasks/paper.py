"""Celery tasks of the paper exchange: thin sync shims over the async handlers."""

from __future__ import annotations

from celery import shared_task

from shared.messaging import tasks
from worker.handlers import matching
from worker.runtime import get_runtime


@shared_task(name=tasks.PAPER_MATCH)
def match_symbols(symbols: list[str]) -> int:
    """Match the resting orders of `symbols` against their current quotes."""
    runtime = get_runtime()
    return runtime.run(matching.match_symbols(runtime, symbols))
