"""Liveness, readiness and queue status for operators and load balancers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import EngineDep, RedisDep
from shared.messaging import tasks
from shared.messaging.heartbeat import workers_online

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])
CHECK_TIMEOUT_SECONDS = 2.0


@router.get("/health")
async def health() -> dict[str, str]:
    """Answer while the process is alive."""
    return {"status": "ok"}


async def _check(name: str, probe: Any) -> tuple[str, str | None]:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)
        return name, None
    except Exception as exc:  # noqa: BLE001 - any failure means "down", with its reason
        return name, f"{type(exc).__name__}: {exc}"[:200]


async def _workers(redis: RedisDep) -> None:
    if not await workers_online(redis):
        raise RuntimeError("no Celery worker has reported in the last 15 seconds")


async def _postgres(engine: EngineDep) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


@router.get("/ready", responses={503: {"description": "a dependency is down; body names it"}})
async def ready(engine: EngineDep, redis: RedisDep) -> Response:
    """Answer 200 when PostgreSQL, Redis and at least one worker answer; else 503 naming them."""
    results = await asyncio.gather(
        _check("postgres", _postgres(engine)), _check("redis", redis.ping()),
        _check("worker", _workers(redis)))
    down = {name: reason for name, reason in results if reason is not None}
    if down:
        return JSONResponse({"status": "unavailable", "down": down}, status_code=503,
                            headers={"Retry-After": "5"})
    return JSONResponse({"status": "ready", "down": {}})


@router.get("/api/v1/queue/status")
async def queue_status(engine: EngineDep, redis: RedisDep) -> dict[str, Any]:
    """Per-queue depth, orders waiting for dispatch, and the workers online."""
    async with engine.connect() as conn:
        waiting = (await conn.execute(text(
            "SELECT count(*) FROM orders WHERE status IN ('PENDING_NEW', 'PENDING_CANCEL')"
        ))).scalar_one()
    queues: dict[str, int | None] = {}
    workers: list[str] | None
    try:
        for queue in (tasks.ORDERS_QUEUE, tasks.DEFAULT_QUEUE):
            queues[queue] = await redis.llen(queue)
        workers = await workers_online(redis)
    except Exception as exc:  # noqa: BLE001 - report Redis as down rather than fail the page
        log.warning("queue status without Redis: %s", exc)
        queues = dict.fromkeys((tasks.ORDERS_QUEUE, tasks.DEFAULT_QUEUE))
        workers = None
    return {"queues": queues, "orders_waiting_for_dispatch": waiting,
            "workers_online": None if workers is None else len(workers),
            "workers": workers or []}
