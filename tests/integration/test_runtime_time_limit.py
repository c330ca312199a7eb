"""A Celery soft time limit inside `Runtime.run` must not leave a transaction behind.

billiard raises SoftTimeLimitExceeded from a SIGALRM handler in the worker's main thread, so
it surfaces wherever the loop happens to be, most often inside the selector's wait. These
tests fire it the same way, against the real test database.
"""

from __future__ import annotations

import asyncio
import random
import signal
from collections.abc import Iterator
from types import FrameType

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import text

from shared.settings import get_settings
from worker.runtime import Runtime

pytestmark = pytest.mark.integration


def _soft_time_limit(signum: int, frame: FrameType | None) -> None:
    raise SoftTimeLimitExceeded("soft time limit exceeded")


@pytest.fixture
def soft_limit_on_alarm() -> Iterator[None]:
    """Make SIGALRM raise SoftTimeLimitExceeded, as billiard's pool child does."""
    previous = signal.signal(signal.SIGALRM, _soft_time_limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    # Sync tests: Runtime.run drives its own loop, which cannot nest in pytest-asyncio's.
    process_runtime = Runtime(get_settings())
    try:
        yield process_runtime
    finally:
        process_runtime.close()


async def _hold_lock_then_sleep(runtime: Runtime, key: int, statement: str) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        # The limit fires while the task waits, with the lock and the transaction open.
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        await conn.execute(text(statement))
        await asyncio.sleep(30)


async def _try_lock(runtime: Runtime, key: int) -> bool:
    async with runtime.engine.begin() as conn:
        taken: bool = (await conn.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key})).scalar_one()
    return taken


@pytest.mark.usefixtures("soft_limit_on_alarm")
@pytest.mark.parametrize("statement", ["SELECT 1", "SELECT pg_sleep(30)"],
                         ids=["waiting-in-the-loop", "waiting-on-a-query"])
def test_soft_time_limit_rolls_back_the_task_and_the_next_task_runs_clean(
    runtime: Runtime, statement: str
) -> None:
    key = random.randrange(1, 2**62)
    with pytest.raises(SoftTimeLimitExceeded):
        runtime.run(_hold_lock_then_sleep(runtime, key, statement))
    # The next task on the same runtime gets the lock at once: nothing kept it open.
    assert runtime.run(_try_lock(runtime, key)) is True
    assert runtime.run(_try_lock(runtime, key)) is True


@pytest.mark.usefixtures("soft_limit_on_alarm")
def test_soft_time_limit_leaves_no_task_behind_on_the_loop(runtime: Runtime) -> None:
    key = random.randrange(1, 2**62)
    with pytest.raises(SoftTimeLimitExceeded):
        runtime.run(_hold_lock_then_sleep(runtime, key, "SELECT 1"))

    async def others() -> int:
        return len(asyncio.all_tasks() - {asyncio.current_task()})

    assert runtime.run(others()) == 0
