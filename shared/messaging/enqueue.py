"""Hand work to Celery through Redis without blocking the event loop.

The API builds Celery's protocol-2 message itself and LPUSHes it with redis.asyncio: kombu's
synchronous publish costs about a millisecond of CPU per message and would block the loop. The
worker is a stock Celery worker; tests/e2e prove it consumes these messages.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from shared import logs, metrics
from shared.messaging import tasks

log = logging.getLogger(__name__)
_ORIGIN = f"{os.getpid()}@{socket.gethostname()}"


def celery_message(task: str, args: Sequence[Any], queue: str,
                   expires_in: float | None = None, *, request_ids: Sequence[str] | None = None,
                   enqueued_at: float | None = None) -> bytes:
    """Return the Redis-transport envelope of a Celery protocol-2 task message; one that waits
    in the queue longer than `expires_in` seconds is discarded by the worker, unrun.

    The headers name the requests that caused the task (default: the one being served, if
    any) and when its work was handed over (default: now), for the worker's logs and metrics.
    """
    task_id = str(uuid.uuid4())
    if request_ids is None:
        current = logs.bound_value("request_id")
        request_ids = [current] if current else []
    expires = (None if expires_in is None else
               (datetime.now(UTC) + timedelta(seconds=expires_in)).isoformat())
    body = json.dumps([list(args), {}, {"callbacks": None, "errbacks": None, "chain": None}])
    envelope = {
        "body": base64.b64encode(body.encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": task,
            "id": task_id,
            "root_id": task_id,
            "parent_id": None,
            "group": None,
            "retries": 0,
            "eta": None,
            "expires": expires,
            "timelimit": [None, None],
            "argsrepr": repr(list(args))[:200],
            "kwargsrepr": "{}",
            "origin": _ORIGIN,
            "ignore_result": True,
            tasks.REQUEST_IDS_HEADER: list(request_ids),
            tasks.ENQUEUED_AT_HEADER: time.time() if enqueued_at is None else enqueued_at,
            **_order_count(task, args),
        },
        "properties": {
            "correlation_id": task_id,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return json.dumps(envelope).encode()


def _order_count(task: str, args: Sequence[Any]) -> dict[str, int]:
    if task not in tasks.ORDER_TASKS or not args:
        return {}
    return {tasks.ORDER_COUNT_HEADER: len(args[0]) if isinstance(args[0], list) else 1}


async def send(redis: Redis, task: str, args: Sequence[Any], queue: str, *,
               expires_in: float | None = None) -> None:
    """Queue one task message (the kombu Redis transport reads queues with BRPOP)."""
    await redis.lpush(queue, celery_message(task, args, queue, expires_in))


class _Stop:
    """The sentinel stop() queues behind everything submitted before it."""


@dataclass(frozen=True, slots=True)
class _Handover:
    """An order handed over after its commit, by the request that placed it, at `at`."""

    queue: str
    order_id: str
    request_id: str | None
    at: float


_STOP = _Stop()
STOP_TIMEOUT_SECONDS = 5.0


class OrderDispatcher:
    """Batches accepted order ids into one submit message per queue, after their commit.

    At low load each message carries one order; under load the batch grows by itself, which
    spreads Celery's per-message cost over many orders. Losing a batch (Redis down, process
    killed) loses nothing: every order row is its own outbox and the sweeper re-drives it.
    A failed publish is therefore not retried here; the next batch simply tries again.
    """

    def __init__(self, redis: Redis, *, max_batch: int = 64, max_pending: int = 5000,
                 timeout: float = 0.5, stop_timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        self._redis = redis
        self._queue: asyncio.Queue[_Handover | _Stop] = asyncio.Queue()
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._timeout = timeout
        self._stop_timeout = stop_timeout
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop_queued = False

    def start(self) -> None:
        """Start the background publishing loop on the running event loop."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="order-dispatcher")

    async def stop(self) -> None:
        """Publish everything submitted before this call, then stop; bounded by stop_timeout.

        A sentinel, not task.cancel(): on Python 3.11 wait_for can swallow a cancellation that
        arrives as a send completes (bpo-42130) and the loop would wait on the queue for ever.
        What a hung Redis keeps from being flushed in time is left to the sweeper.
        """
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._stop_queued = True
        self._queue.put_nowait(_STOP)
        done, _ = await asyncio.wait({task}, timeout=self._stop_timeout)
        if not done:
            log.warning("dispatcher did not flush within %.1fs; the sweeper will re-drive the"
                        " %d orders left", self._stop_timeout, self.pending)
            task.cancel()
            # Bounded again: a cancellation swallowed by a library must not hang shutdown.
            await asyncio.wait({task}, timeout=1.0)

    @property
    def pending(self) -> int:
        """Order ids waiting to be published."""
        return self._queue.qsize() - (1 if self._stop_queued else 0)

    def submit(self, order_id: str, queue: str = tasks.ORDERS_QUEUE) -> None:
        """Buffer an order id for `queue`; past the cap (or once stopping) the sweeper takes it."""
        metrics.order_placed()  # every order committed as PENDING_NEW is handed over here
        if not self._stopping and self._queue.qsize() < self._max_pending:
            self._queue.put_nowait(_Handover(queue, order_id, logs.bound_value("request_id"),
                                             time.time()))

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[_Handover] = []
            item = await self._queue.get()
            while True:
                if isinstance(item, _Stop):
                    self._stop_queued, stopping = False, True
                    break
                batch.append(item)
                if len(batch) >= self._max_batch or self._queue.empty():
                    break
                item = self._queue.get_nowait()
            if batch:
                await self._publish(batch)

    async def _publish(self, batch: list[_Handover]) -> None:
        by_queue: dict[str, list[_Handover]] = {}
        for accepted in batch:
            by_queue.setdefault(accepted.queue, []).append(accepted)
        for queue, items in by_queue.items():
            ids = [item.order_id for item in items]
            message = celery_message(
                tasks.place_task(queue), [ids], queue,
                request_ids=list(dict.fromkeys(i.request_id for i in items if i.request_id)),
                enqueued_at=items[0].at)  # the oldest: the batch's dispatch lag is its worst
            try:
                # asyncio.timeout, not wait_for: it never swallows a cancellation (bpo-42130).
                async with asyncio.timeout(self._timeout):
                    await self._redis.lpush(queue, message)
            except Exception as exc:  # noqa: BLE001 - any failure is recovered by the sweeper
                # The orders are committed; the sweeper re-drives them once their grace passed.
                log.warning("publish of %d orders to %s failed, the sweeper will re-drive them:"
                            " %s", len(ids), queue, exc)
