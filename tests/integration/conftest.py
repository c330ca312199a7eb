"""Fixtures for tests against the real app, PostgreSQL and Redis (no worker process)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from shared.brokers.catalog import Broker
from shared.settings import Settings
from tests.helpers import connect_broker, register_and_login
from tests.stubs.groww.harness import GrowwStub, running
from worker.runtime import Runtime


@pytest.fixture(scope="session")
async def app() -> AsyncIterator[FastAPI]:
    application = create_app(Settings())
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def engine(app: FastAPI) -> AsyncEngine:
    db: AsyncEngine = app.state.engine
    return db


@pytest.fixture
async def auth(client: httpx.AsyncClient) -> dict[str, str]:
    return await register_and_login(client)


@pytest.fixture(scope="module")
def groww() -> Iterator[GrowwStub]:
    """A Groww stub broker for the module's tests."""
    with running() as stub:
        yield stub


@pytest.fixture
async def runtime(app: FastAPI, groww: GrowwStub) -> AsyncIterator[Runtime]:
    """A worker runtime in this process, on the app's engine and Redis, with Groww healthy."""
    groww.reset()
    settings = Settings(groww_base_url=groww.url, broker_http_timeout_seconds=0.5,
                        circuit_reset_seconds=1, unknown_lookup_attempts=2)
    worker = Runtime(settings, engine=app.state.engine, redis=app.state.redis)
    await worker.brokers.breaker.record_success(Broker.GROWW)  # a healthy broker to start
    yield worker
    await worker.brokers.aclose()


@pytest.fixture
async def account(engine: AsyncEngine, auth: dict[str, str], groww: GrowwStub) -> uuid.UUID:
    """The user's Groww connection."""
    return await connect_broker(engine, auth, Broker.GROWW, groww.session(), Settings())
