"""One event loop, engine and Redis client per worker process (Celery tasks are sync)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from redis.asyncio import Redis
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db.engine import make_engine
from shared.domain.errors import StaleOrder
from shared.domain.orders import Change
from shared.messaging.publish import forget_orders, publish_order_changes
from shared.settings import Settings, get_settings

if TYPE_CHECKING:
    from worker.brokers.registry import BrokerAccess

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected
MAX_TRANSACTION_ATTEMPTS = 5


class Runtime:
    """The process's async resources; built once per worker process, never per task."""

    def __init__(self, settings: Settings, engine: AsyncEngine | None = None,
                 redis: Redis | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings, pool_size=2)
        self.redis = redis or Redis.from_url(settings.redis_url)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._brokers: BrokerAccess | None = None

    @property
    def brokers(self) -> BrokerAccess:
        """Adapters, circuit breaker and rate limits, built on first use in this process."""
        if self._brokers is None:
            # Imported on first use: a worker that only serves paper orders loads no broker code.
            from worker.brokers.registry import BrokerAccess

            self._brokers = BrokerAccess(self.settings, self.redis)
        return self._brokers

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine to completion on this process's loop (one loop for its lifetime)."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        task = self._loop.create_task(coro)
        try:
            return self._loop.run_until_complete(task)
        except BaseException:
            # A soft time limit (or Ctrl-C) is raised by a signal handler wherever the loop is,
            # leaving the task suspended mid-transaction: unwind it here, before the next task.
            _unwind(self._loop, task)
            raise

    async def in_transaction(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work` in one transaction, retrying deadlocks and serialization failures."""
        for attempt in range(1, MAX_TRANSACTION_ATTEMPTS + 1):
            try:
                async with self.engine.begin() as conn:
                    return await work(conn)
            except DBAPIError as exc:
                if _sqlstate(exc) not in RETRYABLE_SQLSTATES or attempt == MAX_TRANSACTION_ATTEMPTS:
                    raise
                log.info("transaction conflict (%s), retrying", _sqlstate(exc))
            except StaleOrder as exc:
                if attempt == MAX_TRANSACTION_ATTEMPTS:
                    raise
                log.info("%s; running the unit of work again", exc.message)
        raise AssertionError("unreachable")

    async def publish(self, changes: Sequence[Change]) -> None:
        """Publish committed changes; Redis trouble is logged, never undoes the commit."""
        changes = [change for change in changes if change.steps]
        if not changes:
            return
        try:
            await publish_order_changes(self.redis, changes, self.settings.order_cache_ttl_seconds)
        except Exception as exc:  # noqa: BLE001 - the DB is the truth; GET falls back to it
            log.warning("could not publish %d order changes: %s", len(changes), exc)
            await self._forget(changes)

    async def _forget(self, changes: Sequence[Change]) -> None:
        # A snapshot older than the database must not be served; the cache TTL bounds it
        # when Redis cannot even take the delete.
        try:
            await forget_orders(self.redis, changes)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not drop %d cached orders either: %s", len(changes), exc)

    def close(self) -> None:
        """Release connections at process exit."""
        if self._loop is not None:
            if self._brokers is not None:
                self._loop.run_until_complete(self._brokers.aclose())
            self._loop.run_until_complete(self.engine.dispose())
            self._loop.run_until_complete(self.redis.aclose())
            self._loop.close()


# How often, and how long each time, an interrupted task is asked to unwind: at most 6 s,
# inside the 10 s Celery leaves between the soft and the hard time limit.
UNWIND_ATTEMPTS = 3
UNWIND_WAIT_SECONDS = 2.0


def _unwind(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
    """Cancel an interrupted task and run it until its `async with` blocks have rolled back."""
    for _ in range(UNWIND_ATTEMPTS):
        if task.done():
            break
        task.cancel()
        # Bounded: a cancellation can be swallowed (bpo-42130), so ask again rather than hang.
        loop.run_until_complete(asyncio.wait([task], timeout=UNWIND_WAIT_SECONDS))
    if not task.done():
        log.warning("an interrupted task ignored %d cancellations; leaving it", UNWIND_ATTEMPTS)
    elif not task.cancelled() and task.exception() is not None:
        log.info("an interrupted task failed while unwinding: %r", task.exception())


def _sqlstate(exc: DBAPIError) -> str | None:
    cause = getattr(exc.orig, "__cause__", None)
    code: str | None = getattr(cause, "sqlstate", None)
    return code


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """The process's runtime, created on first use (after fork, never before)."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime(get_settings())
    return _runtime


def reset_runtime() -> None:
    """Drop a runtime inherited through fork; the child builds its own."""
    global _runtime
    _runtime = None
