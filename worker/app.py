"""The Celery application: configured so that no accepted order is lost or run twice."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from celery import Celery, Task, signals
from redis import Redis as SyncRedis

from shared import logs
from shared.heap import settle_heap
from shared.messaging import heartbeat, tasks
from shared.settings import settings_or_exit
from worker import runtime, telemetry

log = logging.getLogger(__name__)
settings = settings_or_exit()  # a refusal is one line, not a traceback

app = Celery("ordergate", broker=settings.redis_url,
             include=["worker.tasks.orders", "worker.tasks.brokers", "worker.tasks.paper",
                      "worker.tasks.expiry", "worker.tasks.mail", "worker.tasks.holdings",
                      "worker.tasks.snapshots"])
app.conf.update(
    task_acks_late=True,  # ack after the work, so a crash mid-task redelivers it
    task_reject_on_worker_lost=True,  # a killed child's message goes back to the queue
    worker_prefetch_multiplier=1,  # hold no more unacked messages than processes
    broker_transport_options={"visibility_timeout": settings.broker_visibility_timeout_seconds},
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,  # Postgres holds results; no result backend
    task_serializer="json",
    accept_content=["json"],
    task_default_queue=tasks.DEFAULT_QUEUE,
    task_routes={
        tasks.SUBMIT_ORDERS: {"queue": tasks.ORDERS_QUEUE},
        tasks.CANCEL_ORDER: {"queue": tasks.ORDERS_QUEUE},
        tasks.PAPER_MATCH: {"queue": tasks.ORDERS_QUEUE},
        tasks.SWEEP_ORDERS: {"queue": tasks.DEFAULT_QUEUE},
        tasks.RECONCILE: {"queue": tasks.DEFAULT_QUEUE},
        tasks.EXPIRE_ORDERS: {"queue": tasks.DEFAULT_QUEUE},
        tasks.SETTLE_HOLDINGS: {"queue": tasks.DEFAULT_QUEUE},
        tasks.SNAPSHOT_PNL: {"queue": tasks.DEFAULT_QUEUE},
    },
    task_time_limit=settings.task_time_limit_seconds,  # far below the visibility timeout
    task_soft_time_limit=max(1, settings.task_time_limit_seconds - 10),
    worker_cancel_long_running_tasks_on_connection_loss=True,
    beat_schedule={
        "sweep-orders": {
            "task": tasks.SWEEP_ORDERS,
            "schedule": settings.sweep_interval_seconds,
            # A sweep that waited longer than two intervals is stale: the next one does its job.
            "options": {"expires": settings.sweep_interval_seconds * 2},
        },
        "reconcile-broker-orders": {
            "task": tasks.RECONCILE,
            "schedule": settings.reconcile_interval_seconds,
            "options": {"expires": settings.reconcile_interval_seconds * 2},
        },
        "expire-orders": {
            "task": tasks.EXPIRE_ORDERS,
            "schedule": settings.expiry_interval_seconds,
            "options": {"expires": settings.expiry_interval_seconds * 2},
        },
        "settle-holdings": {
            "task": tasks.SETTLE_HOLDINGS,
            "schedule": settings.settlement_interval_seconds,
            "options": {"expires": settings.settlement_interval_seconds * 2},
        },
        "snapshot-pnl": {
            "task": tasks.SNAPSHOT_PNL,
            "schedule": settings.snapshot_interval_seconds,
            "options": {"expires": settings.snapshot_interval_seconds * 2},
        },
    },
    timezone="UTC",
)


@signals.setup_logging.connect
def _json_logs(**_: Any) -> None:
    # Connected, this replaces Celery's own logging set-up in the worker and in beat.
    logs.configure(settings.log_level)


@signals.task_prerun.connect
def _task_started(task: Task | None = None, args: tuple[Any, ...] | None = None,
                  **_: Any) -> None:
    if task is not None:
        telemetry.task_started(task.name, task.request, args or ())


@signals.task_postrun.connect
def _task_ended(**_: Any) -> None:
    logs.unbind_all()


@signals.worker_process_init.connect
def _fresh_runtime_after_fork(**_: Any) -> None:
    # Connections and loops must never cross a fork.
    runtime.reset_runtime()
    settle_heap()


@signals.worker_process_shutdown.connect
def _close_runtime(**_: Any) -> None:
    if runtime._runtime is not None:  # noqa: SLF001 - only close what exists
        runtime._runtime.close()  # noqa: SLF001


_stop_beating = threading.Event()


def _beat_forever(name: str) -> None:
    client = SyncRedis.from_url(settings.redis_url, socket_timeout=2)
    while not _stop_beating.is_set():
        try:
            heartbeat.beat(client, name)
        except Exception as exc:  # noqa: BLE001 - keep beating once Redis is back
            log.warning("heartbeat failed: %s", exc)
        _stop_beating.wait(heartbeat.BEAT_EVERY_SECONDS)
    try:
        heartbeat.leave(client, name)
    except Exception:  # noqa: BLE001, S110 - best effort at shutdown
        pass


@signals.worker_ready.connect
def _start_heartbeat(sender: Any = None, **_: Any) -> None:
    name = getattr(sender, "hostname", None) or f"worker@{socket.gethostname()}.{os.getpid()}"
    threading.Thread(target=_beat_forever, args=(name,), daemon=True, name="heartbeat").start()


@signals.worker_ready.connect
def _reconcile_at_start(**_: Any) -> None:
    # Orders a crash left in flight are looked up at their broker before anything re-places them.
    try:
        app.send_task(tasks.RECONCILE, args=[True], queue=tasks.DEFAULT_QUEUE)
    except Exception as exc:  # noqa: BLE001 - the periodic reconcile will do it
        log.warning("could not queue the start-up reconciliation: %s", exc)


@signals.worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    _stop_beating.set()
