"""GET /metrics: the samples of every API and worker process, in Prometheus's text format.

It tells order volumes, queue depths and which brokers are down, so it is not public: with
METRICS_TOKEN set a scraper sends it as a bearer token; without it only loopback clients are
answered (a Prometheus or an agent on the same host).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Iterable, Iterator
from typing import TypeVar

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.deps import RedisDep, SettingsDep
from api.errors import forbidden, unauthenticated
from shared import metrics
from shared.brokers.catalog import REAL_BROKERS
from shared.brokers.circuit import CircuitBreaker, CircuitState, CircuitStatus
from shared.messaging import queues
from shared.messaging.heartbeat import workers_online

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])
READ_TIMEOUT_SECONDS = 2.0
T = TypeVar("T")


@router.get("/metrics", response_class=Response, responses={
    200: {"content": {CONTENT_TYPE_LATEST: {}},
          "description": "Prometheus text format: request latencies, order transitions,"
                         " submit-to-ack and submit-to-fill latencies, dispatch lag, queue"
                         " depths, broker errors and circuits, open streams"},
    401: {"description": "METRICS_TOKEN is set and the bearer token is missing or wrong"},
    403: {"description": "METRICS_TOKEN is not set and the client is not on loopback"},
})
async def metrics_page(request: Request, redis: RedisDep, settings: SettingsDep) -> Response:
    """Serve the metrics of the API and the workers to a Prometheus scraper."""
    _allow(request, settings.metrics_token)
    breaker = CircuitBreaker.from_settings(redis, settings)
    depths, circuits, workers = await asyncio.gather(
        _quietly(queues.depths(redis)), _quietly(breaker.statuses(sorted(REAL_BROKERS))),
        _quietly(workers_online(redis)))
    now = _Snapshot(depths, circuits, None if workers is None else len(workers))
    directory = metrics.multiprocess_dir()
    if directory is None:
        body = generate_latest(REGISTRY)  # this process's own samples only
    else:
        metrics.forget_dead_processes(directory)
        every_process = CollectorRegistry()
        multiprocess.MultiProcessCollector(every_process, path=str(directory))  # type: ignore[no-untyped-call]
        body = generate_latest(every_process)
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(now)
    return Response(body + generate_latest(snapshot), media_type=CONTENT_TYPE_LATEST)


def _allow(request: Request, token: str | None) -> None:
    if token is not None:
        header = request.headers.get("authorization", "")
        given = header[7:] if header[:7].lower() == "bearer " else ""
        # Constant time: a byte-by-byte compare would let timing reveal the token.
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise unauthenticated("the metrics need METRICS_TOKEN as a bearer token")
        return
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise forbidden("the metrics are served to loopback clients only; set METRICS_TOKEN"
                        " to scrape them from elsewhere")


async def _quietly(read: Awaitable[T]) -> T | None:
    """What Redis answered in time, else None (the scrape goes on without it)."""
    try:
        return await asyncio.wait_for(read, READ_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - a down Redis must not fail the scrape
        log.warning("metrics without a Redis read: %s", exc)
        return None


class _Snapshot(Collector):
    """What Redis said at this scrape; a family is left out when Redis did not answer."""

    def __init__(self, depths: dict[str, int] | None, circuits: list[CircuitStatus] | None,
                 workers: int | None) -> None:
        self.depths, self.circuits, self.workers = depths, circuits, workers

    def collect(self) -> Iterable[Metric]:
        return list(self._families())

    def _families(self) -> Iterator[Metric]:
        if self.depths is not None:
            depth = GaugeMetricFamily("ordergate_queue_depth", "Messages waiting in each queue",
                                      labels=["queue"])
            for queue, count in self.depths.items():
                depth.add_metric([queue], count)
            yield depth
        if self.circuits is not None:
            state = GaugeMetricFamily(
                "ordergate_broker_circuit_state",
                "1 for each broker's current circuit state (closed, half_open, open)",
                labels=["broker", "state"])
            for status in self.circuits:
                for candidate in CircuitState:
                    state.add_metric([status.broker.value, candidate.value],
                                     1.0 if status.state is candidate else 0.0)
            yield state
        if self.workers is not None:
            yield GaugeMetricFamily("ordergate_workers_online",
                                    "Celery workers that reported in the last 15 seconds",
                                    value=self.workers)
