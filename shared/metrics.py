"""Prometheus metrics of every process, added up by the API's GET /metrics.

With PROMETHEUS_MULTIPROC_DIR set in the environment (`make run` and docker-compose set it),
each process (every uvicorn worker, every Celery pool process) writes its samples to its own
files in that directory and the API's /metrics reads them all. Files are named by host and
pid, so containers sharing the directory never write to each other's. Without the variable
each process keeps its own samples in memory and /metrics shows the API process's only.

What the API reads from Redis when scraped (queue depths, circuit states) is collected by
api/metrics, not here.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram, multiprocess, values

from shared.domain import events as ev
from shared.domain.enums import OrderStatus as Status
from shared.domain.orders import Change

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_HOST = socket.gethostname().replace("_", "-")  # `_` separates the parts of a file's name


def process_identifier(pid: int | None = None) -> str:
    """Who writes a metrics file: unique across hosts sharing the directory."""
    return f"{_HOST}-{os.getpid() if pid is None else pid}"


def multiprocess_dir() -> Path | None:
    """The shared metrics directory, if this deployment has one."""
    found = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    return Path(found) if found else None


if multiprocess_dir() is not None:
    # Before the first metric below exists: each one opens its file through this class.
    values.ValueClass = values.MultiProcessValue(process_identifier)  # type: ignore[no-untyped-call]

# Order latencies run from milliseconds (paper) to minutes (a resting limit order).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    300.0, 900.0, 3600.0)

HTTP_REQUEST_SECONDS = Histogram(
    "ordergate_http_request_duration_seconds",
    "Time from a request's arrival to its response's headers, by route template",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
ORDER_TRANSITIONS = Counter(
    "ordergate_order_transitions_total", "Orders entering each status, counted after commit",
    ["status"])
SUBMIT_TO_ACK_SECONDS = Histogram(
    "ordergate_order_submit_to_ack_seconds",
    "From an order's creation to its acceptance by the venue, when the worker books it",
    ["broker"], buckets=_LATENCY_BUCKETS)
SUBMIT_TO_FILL_SECONDS = Histogram(
    "ordergate_order_submit_to_fill_seconds",
    "From an order's creation to its complete fill, when the worker books it",
    ["broker"], buckets=_LATENCY_BUCKETS)
DISPATCH_LAG_SECONDS = Histogram(
    "ordergate_dispatch_lag_seconds",
    "From the handover of a task's work (after commit) to a worker starting the task",
    ["queue"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0, 10.0, 30.0, 60.0, 300.0))
BROKER_ERRORS = Counter(
    "ordergate_broker_errors_total", "Failed broker calls, by broker and kind of failure",
    ["broker", "error"])
STREAM_CONNECTIONS = Gauge(
    "ordergate_stream_connections", "Open event streams, by transport", ["transport"],
    multiprocess_mode="livesum")


_UNACKNOWLEDGED = frozenset({Status.PENDING_NEW, Status.SUBMITTED})


def observe_changes(changes: Sequence[Change], now: float | None = None) -> None:
    """Count the committed changes' transitions; time each order's acceptance and fill."""
    now = time.time() if now is None else now
    for change in changes:
        for step in change.steps:
            status = step.order.status
            if status is not step.from_status:
                ORDER_TRANSITIONS.labels(status.value).inc()
            age = max(now - step.order.created_at.timestamp(), 0.0)
            if isinstance(step.event, ev.Accepted) and step.from_status in _UNACKNOWLEDGED:
                SUBMIT_TO_ACK_SECONDS.labels(step.order.broker).observe(age)
            if status is Status.FILLED and step.from_status is not Status.FILLED:
                SUBMIT_TO_FILL_SECONDS.labels(step.order.broker).observe(age)


def order_placed() -> None:
    """Count an order committed as PENDING_NEW."""
    ORDER_TRANSITIONS.labels(Status.PENDING_NEW.value).inc()


def reset_directory(path: Path) -> None:
    """Empty the metrics directory before a deployment's processes start writing to it.

    Left-over files of an earlier run would be added to this run's counters.
    """
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def forget_dead_processes(path: Path) -> None:
    """Drop the live gauges of this host's processes that have died (killed, restarted).

    A process that exits cleanly does it itself (`drop_live_gauges`); only this host's pids
    can be checked, so another host's are left to that host.
    """
    prefix = f"{_HOST}-"
    for file in path.glob(f"gauge_live*_{prefix}*.db"):
        pid = file.stem.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(process_identifier(int(pid)), str(path))  # type: ignore[no-untyped-call]


def drop_live_gauges() -> None:
    """Forget this process's live gauges: at a clean exit, and at start, where a restarted
    container's process may have the pid (so the files) of one that died before it."""
    path = multiprocess_dir()
    if path is not None:
        multiprocess.mark_process_dead(process_identifier(), str(path))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
