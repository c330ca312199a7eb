"""What the tests of ending orders share (cancel-all, batches, closes, audit, kill switch)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.settings import get_settings
from tests.helpers import get_ok, place, set_quote
from tests.integration.test_order_responses import OpenApi
from worker.runtime import Runtime

__all__ = ["ORDERS", "RESTING_BUY", "api_fixture", "get_ok", "place", "quotes_fixture",
           "runtime_fixture"]
ORDERS = "/api/v1/orders"
# The tests quote AAPL at 199.98 / 200.02: a BUY at 100 rests, and holds 1000 of the cash.
RESTING_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "10",
               "price": "100", "time_in_force": "GTC"}


# Fixtures for the modules that import them (an imported autouse fixture applies there); named
# in the decorator, so that a test's parameter never shadows the imported function.

@pytest.fixture(name="runtime")
def runtime_fixture(app: FastAPI) -> Runtime:
    """A worker runtime in this process, on the app's engine and Redis (the paper exchange)."""
    return Runtime(get_settings(), engine=app.state.engine, redis=app.state.redis)


@pytest.fixture(name="api")
async def api_fixture(client: httpx.AsyncClient) -> OpenApi:
    """The app's OpenAPI document, to check response bodies against."""
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return OpenApi(response.json())


@pytest.fixture(name="quotes", autouse=True)
async def quotes_fixture(engine: AsyncEngine) -> None:
    """Known quotes: AAPL 199.98 / 200.02, MSFT 99.99 / 100.01, INFY 1859.9 / 1860.1."""
    await set_quote(engine, "AAPL", "199.98", "200.02")
    await set_quote(engine, "MSFT", "99.99", "100.01")
    await set_quote(engine, "INFY", "1859.9", "1860.1")
