"""Liveness, readiness and queue status for operators and load balancers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from api.deps import (
    EngineDep,
    Operator,
    OperatorOrPrincipalDep,
    RedisDep,
    SettingsDep,
    is_admin,
)
from shared.brokers.circuit import CircuitState
from shared.messaging.heartbeat import workers_online
from shared.messaging.queue_status import (
    CHECK_TIMEOUT_SECONDS,
    broker_circuits,
    operator_view,
    paused_brokers,
)

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


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


class Readiness(BaseModel):
    """Whether this process can take orders, and what stops it if not."""

    status: Literal["ready", "degraded", "unavailable"] = Field(
        description="`degraded`: ready, but a broker's circuit is open")
    down: dict[str, str] = Field(description="each dependency that is down, with the reason")
    brokers_unavailable: dict[str, dict[str, Any]] | None = Field(
        default=None, description="each broker whose circuit is not closed (when ready)")


@router.get("/ready", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "a dependency is down (`down`"
                                                                " names it); retry after"
                                                                " `Retry-After` seconds"}})
async def ready(engine: EngineDep, redis: RedisDep, settings: SettingsDep) -> Response:
    """Answer 200 when PostgreSQL, Redis and a worker answer (503 naming what is down).

    A broker whose circuit is open does not make the gateway unready (its orders wait, the
    others flow): it is listed under `brokers_unavailable` and the status reads "degraded".
    """
    results = await asyncio.gather(
        _check("postgres", _postgres(engine)), _check("redis", redis.ping()),
        _check("worker", _workers(redis)))
    down = {name: reason for name, reason in results if reason is not None}
    if down:
        return JSONResponse({"status": "unavailable", "down": down}, status_code=503,
                            headers={"Retry-After": "5"})
    circuits = await broker_circuits(redis, settings)
    unavailable = {name: state for name, state in circuits.items()
                   if state["circuit"] != CircuitState.CLOSED}
    return JSONResponse({"status": "degraded" if unavailable else "ready", "down": {},
                         "brokers_unavailable": unavailable})


@router.get("/api/v1/queue/status", responses={401: {"description": "no valid bearer token"}})
async def queue_status(request: Request, caller: OperatorOrPrincipalDep, engine: EngineDep,
                       redis: RedisDep, settings: SettingsDep) -> dict[str, Any]:
    """Queue health: aggregate for users; depths, counts and workers for a logged-in admin or
    the operator token."""
    if isinstance(caller, Operator) or await is_admin(request, caller):
        return await operator_view(engine, redis, settings)
    return await _user_view(engine, redis, settings)


async def _user_view(engine: EngineDep, redis: RedisDep, settings: SettingsDep
                     ) -> dict[str, Any]:
    """What any user may know: whether orders flow, which brokers' circuits are open and
    whose dispatch an admin paused (their orders wait).

    No worker names and no counts: those describe the deployment and every user's orders.
    """
    try:
        workers_available: bool | None = bool(
            await asyncio.wait_for(workers_online(redis), CHECK_TIMEOUT_SECONDS))
    except Exception as exc:  # noqa: BLE001 - Redis being down is the answer itself
        log.warning("queue status without Redis: %s", exc)
        workers_available = None
    circuits = await broker_circuits(redis, settings)
    brokers = {name: {"circuit": state["circuit"], "retry_in_seconds": state["retry_in_seconds"]}
               for name, state in circuits.items()}
    async with engine.connect() as conn:
        paused = sorted(await paused_brokers(conn))
    if not workers_available:
        status = "unavailable"
    elif paused or any(state["circuit"] != CircuitState.CLOSED for state in brokers.values()):
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "workers_available": workers_available, "brokers": brokers,
            "dispatch_paused": paused}
