"""GET /metrics: who may read it, and labels that never grow with the data."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from api.main import create_app
from shared.brokers.catalog import Broker
from shared.brokers.circuit import CircuitBreaker
from shared.messaging import enqueue, tasks
from shared.settings import Settings

METRICS_TOKEN = "m" * 16 + uuid.uuid4().hex


@pytest.fixture
async def guarded() -> AsyncIterator[FastAPI]:
    """The API with METRICS_TOKEN set."""
    application = create_app(Settings(metrics_token=METRICS_TOKEN))
    async with application.router.lifespan_context(application):
        yield application


def _from(app: FastAPI, host: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_without_a_token_only_loopback_clients_are_served(app: FastAPI) -> None:
    for host in ("127.0.0.1", "::1"):
        async with _from(app, host) as local:
            answer = await local.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
    async with _from(app, "203.0.113.9") as remote:
        refused = await remote.get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert "ordergate" not in refused.text


async def test_with_a_token_every_client_needs_it(guarded: FastAPI) -> None:
    async with _from(guarded, "127.0.0.1") as local, _from(guarded, "203.0.113.9") as remote:
        for client in (local, remote):
            missing = await client.get("/metrics")
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            right = await client.get("/metrics",
                                     headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
            assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
            assert missing.headers["www-authenticate"] == "Bearer"
            assert missing.json()["error"]["code"] == "unauthenticated"
            assert "ordergate_queue_depth" in right.text


async def test_requests_are_labelled_by_route_template_not_by_path(
        client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    unknown = [str(uuid.uuid4()) for _ in range(3)]
    for order_id in unknown:
        assert (await client.get(f"/api/v1/orders/{order_id}", headers=auth)).status_code == 404
    scanned = f"/wp-admin/{uuid.uuid4().hex}.php"
    assert (await client.get(scanned)).status_code == 404
    page = (await client.get("/metrics")).text
    assert ('ordergate_http_request_duration_seconds_count{method="GET",'
            'route="/api/v1/orders/{order_id}",status="404"}') in page
    assert 'route="<unmatched>",status="404"' in page
    assert not any(order_id in page for order_id in unknown)
    assert scanned not in page


async def test_queue_depths_and_circuits_are_read_at_each_scrape(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    redis: Redis = app.state.redis
    queue = "broker.upstox"
    await redis.delete(queue)
    for _ in range(3):
        await enqueue.send(redis, tasks.BROKER_PLACE, [[str(uuid.uuid4())]], queue)
    breaker = CircuitBreaker(redis, failure_threshold=1, reset_seconds=60)
    await breaker.record_failure(Broker.UPSTOX)
    try:
        page = (await client.get("/metrics")).text
    finally:
        await redis.delete(queue)
        await breaker.record_success(Broker.UPSTOX)
    assert 'ordergate_queue_depth{queue="broker.upstox"} 3.0' in page
    assert 'ordergate_broker_circuit_state{broker="upstox",state="open"} 1.0' in page
    assert 'ordergate_broker_circuit_state{broker="upstox",state="closed"} 0.0' in page
