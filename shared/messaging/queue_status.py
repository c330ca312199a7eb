"""What operators see of the order flow: queue depths, orders waiting, workers, broker circuits
and dispatch pauses.

One home for the operator token's GET /api/v1/queue/status and `ordergate queue status`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.brokers.catalog import REAL_BROKERS
from shared.brokers.circuit import CircuitBreaker
from shared.db.repositories import orders, pauses
from shared.messaging.heartbeat import workers_online
from shared.messaging.queues import QUEUES, depths
from shared.settings import Settings

log = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 2.0
BROKERS = sorted(REAL_BROKERS)


async def broker_circuits(redis: Redis, settings: Settings) -> dict[str, dict[str, Any]]:
    """Each broker's circuit; brokers whose circuit is open have their orders waiting."""
    breaker = CircuitBreaker.from_settings(redis, settings)
    try:
        statuses = await asyncio.wait_for(breaker.statuses(BROKERS), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - Redis being down is reported on its own
        log.warning("circuit states unavailable: %s", exc)
        return {}
    return {s.broker.value: {"circuit": s.state.value, "retry_in_seconds": s.retry_in_seconds,
                             "consecutive_failures": s.consecutive_failures} for s in statuses}


async def operator_view(engine: AsyncEngine, redis: Redis,
                        settings: Settings) -> dict[str, Any]:
    """Per-queue depth (one queue per broker), orders waiting, workers, broker circuits."""
    async with engine.connect() as conn:
        waiting = await orders.count_waiting_for_dispatch(conn)
        paused = await paused_brokers(conn)
    queues: dict[str, int | None]
    workers: list[str] | None
    try:
        queues = dict(await depths(redis))
        workers = await workers_online(redis)
    except Exception as exc:  # noqa: BLE001 - report Redis as down rather than fail the page
        log.warning("queue status without Redis: %s", exc)
        queues = dict.fromkeys(QUEUES)
        workers = None
    return {"queues": queues, "orders_waiting_for_dispatch": waiting,
            "workers_online": None if workers is None else len(workers),
            "workers": workers or [], "brokers": await broker_circuits(redis, settings),
            "dispatch_paused": paused}


async def paused_brokers(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    """Each broker whose dispatch an admin paused: since when, by whom, why."""
    return {row["broker"]: {"paused_at": row["paused_at"].isoformat(),
                            "paused_by": str(row["paused_by"]) if row["paused_by"] else None,
                            "reason": row["reason"]}
            for row in await pauses.every_pause(conn)}
