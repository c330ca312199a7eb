"""What a task's start tells the logs and the metrics: who caused it, which orders, how late."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from celery.app.task import Context

from shared import logs, metrics
from shared.messaging import tasks
from shared.messaging.drain import Taken


def task_started(name: str, request: Context, args: Sequence[Any]) -> None:
    """Bind the task's context to every line it logs; observe its dispatch lag."""
    fields: dict[str, Any] = {"task": name, "task_id": request.id}
    request_ids = list(request.get(tasks.REQUEST_IDS_HEADER) or [])
    if len(request_ids) == 1:
        fields["request_id"] = request_ids[0]
    elif request_ids:
        fields["request_ids"] = request_ids
    if name in tasks.ORDER_TASKS and args:
        ids = args[0] if isinstance(args[0], list) else [args[0]]
        if len(ids) == 1:
            fields["order_id"] = ids[0]
        else:
            fields["order_ids"] = ids
    logs.unbind_all()
    logs.bind(**fields)
    enqueued_at = request.get(tasks.ENQUEUED_AT_HEADER)
    if isinstance(enqueued_at, int | float):
        queue = (request.delivery_info or {}).get("routing_key") or "unknown"
        metrics.DISPATCH_LAG_SECONDS.labels(queue).observe(max(time.time() - enqueued_at, 0.0))


def submits_taken(queue: str, taken: Sequence[Taken]) -> None:
    """Name on the task's log lines the orders and requests of the submits it took from the
    queue besides its own message; observe each one's dispatch lag."""
    if not taken:
        return
    logs.bind(taken_order_ids=[order_id for message in taken for order_id in message.order_ids],
              taken_request_ids=[request_id for message in taken
                                 for request_id in message.request_ids])
    now = time.time()
    for message in taken:
        if message.enqueued_at is not None:
            metrics.DISPATCH_LAG_SECONDS.labels(queue).observe(max(now - message.enqueued_at, 0.0))
