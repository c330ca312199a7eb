"""Queue status: 401 without a token, aggregate health for users, the full view for operators."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from shared.messaging.heartbeat import WORKERS_KEY
from shared.settings import Settings
from tests.helpers import register_and_login
from tests.integration.admins import api_key, new_admin

pytestmark = pytest.mark.integration

STATUS = "/api/v1/queue/status"
OPERATOR_TOKEN = "operator-token-for-tests-0123456789abcdef"
WORKER_NAME = "paper@queue-status-test-host"


async def _client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        # A worker that beat just now, so a leaked worker name would show.
        await app.state.redis.zadd(WORKERS_KEY, {WORKER_NAME: time.time()})
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c
        await app.state.redis.zrem(WORKERS_KEY, WORKER_NAME)


@pytest.fixture
async def operated() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client_for(Settings(operator_token=OPERATOR_TOKEN)):
        yield client


@pytest.fixture
async def unoperated() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client_for(Settings(operator_token=None)):
        yield client


def _assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["code"] == "unauthenticated"
    assert set(error) == {"code", "message", "details", "request_id"}
    assert WORKER_NAME not in response.text


async def test_queue_status_without_a_token_is_401(operated: httpx.AsyncClient) -> None:
    _assert_unauthenticated(await operated.get(STATUS))


async def test_queue_status_with_a_forged_token_is_401(operated: httpx.AsyncClient) -> None:
    _assert_unauthenticated(await operated.get(STATUS, headers={"Authorization": "Bearer nope"}))


async def test_a_user_sees_only_aggregate_health(operated: httpx.AsyncClient) -> None:
    auth = await register_and_login(operated)
    response = await operated.get(STATUS, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] in {"ok", "degraded", "unavailable"}
    assert body["workers_available"] is True
    assert WORKER_NAME not in response.text
    for detail in ("workers", "workers_online", "queues", "orders_waiting_for_dispatch"):
        assert detail not in body


async def test_the_operator_token_sees_workers_queues_and_counts(
    operated: httpx.AsyncClient,
) -> None:
    response = await operated.get(STATUS, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert WORKER_NAME in body["workers"]
    assert body["workers_online"] >= 1
    assert "orders" in body["queues"]
    assert isinstance(body["orders_waiting_for_dispatch"], int)


async def test_a_wrong_operator_token_is_401(operated: httpx.AsyncClient) -> None:
    wrong = OPERATOR_TOKEN[:-1] + "X"
    response = await operated.get(STATUS, headers={"Authorization": f"Bearer {wrong}"})
    _assert_unauthenticated(response)


async def test_without_an_operator_token_configured_the_full_view_is_disabled(
    unoperated: httpx.AsyncClient,
) -> None:
    response = await unoperated.get(STATUS,
                                    headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    _assert_unauthenticated(response)
    auth = await register_and_login(unoperated)
    assert "workers" not in (await unoperated.get(STATUS, headers=auth)).json()


async def test_a_logged_in_admin_sees_the_full_view_but_never_with_an_api_key(
    unoperated: httpx.AsyncClient, engine: AsyncEngine,
) -> None:
    admin = await new_admin(unoperated, engine)
    key = await api_key(unoperated, admin, ("read",))

    full = (await unoperated.get(STATUS, headers=admin)).json()
    by_key = (await unoperated.get(STATUS, headers=key)).json()

    assert WORKER_NAME in full["workers"]
    assert isinstance(full["orders_waiting_for_dispatch"], int)
    assert "workers" not in by_key
    assert by_key["workers_available"] is True
