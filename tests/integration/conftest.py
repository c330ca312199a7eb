"""Fixtures for tests against the real app, PostgreSQL and Redis (no worker process)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from shared.db.repositories import market
from shared.settings import get_settings


@pytest.fixture(scope="session")
async def app() -> AsyncIterator[FastAPI]:
    application = create_app(get_settings())
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


async def register_and_login(client: httpx.AsyncClient) -> dict[str, str]:
    """Create a fresh user and return its Authorization header."""
    email = f"trader-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post("/api/v1/auth/register",
                                 json={"email": email, "password": "correct horse battery"})
    assert response.status_code == 201, response.text
    response = await client.post("/api/v1/auth/login",
                                 json={"email": email, "password": "correct horse battery"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def auth(client: httpx.AsyncClient) -> dict[str, str]:
    return await register_and_login(client)


async def set_quote(engine: AsyncEngine, symbol: str, bid: str, ask: str) -> None:
    """Set a symbol's quote exactly, as the market simulator would."""
    low, high = Decimal(bid), Decimal(ask)
    async with engine.begin() as conn:
        await market.set_quote(conn, symbol, low, high, (low + high) / 2)
