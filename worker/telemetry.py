"""What a task's start tells the logs and the metrics: who caused it, which orders, how late."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from celery.app.task import Context

from shared import logs, metrics
from shared.messaging import tasks


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
