"""Fixtures for tests against the real app, PostgreSQL and Redis (no worker process)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from shared.settings import Settings
from tests.helpers import register_and_login


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
