"""What the paper exchange does with an order that arrives at an awkward time: while its
exchange is closed, or after its time in force ran out (real PostgreSQL and Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from api.market.service import InstrumentCache
from shared.settings import Settings
from tests.helpers import get_ok, new_instrument, place, register_and_login
from worker.handlers.matching import match_symbols
from worker.handlers.submit import submit_orders
from worker.runtime import Runtime

pytestmark = pytest.mark.integration


def _saturday_offset() -> float:
    """Seconds from now to noon next Saturday in New York: every US exchange is closed."""
    now = datetime.now(UTC)
    saturday = (now + timedelta(days=(5 - now.weekday()) % 7 or 7)).replace(
        hour=17, minute=0, second=0, microsecond=0)
    return (saturday - now).total_seconds()


CLOSED = Settings(paper_always_open=False, clock_offset_seconds=_saturday_offset())


@pytest.fixture
async def app() -> AsyncIterator[FastAPI]:
    application = create_app(CLOSED)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def auth(client: httpx.AsyncClient) -> dict[str, str]:
    return await register_and_login(client)


@pytest.fixture
async def symbol(app: FastAPI, engine: AsyncEngine) -> str:
    created = await new_instrument(engine, "100.00")
    app.state.instruments = InstrumentCache(engine)
    return created


async def test_a_market_order_waiting_for_the_open_still_says_so_once_the_venue_has_it(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str], symbol: str,
) -> None:
    order_id = await place(client, auth, symbol=symbol, side="BUY", order_type="MARKET",
                           quantity="5")
    first = await get_ok(client, auth, f"/api/v1/orders/{order_id}")
    assert first["status_detail"].startswith("waits for the NASDAQ open at ")
    worker = Runtime(CLOSED, engine=app.state.engine, redis=app.state.redis)
    await submit_orders(worker, [order_id])
    order = await get_ok(client, auth, f"/api/v1/orders/{order_id}")
    assert (order["status"], order["status_detail"]) == ("ACCEPTED", first["status_detail"])
    opened = Settings(paper_always_open=True)  # the open: the next quote fills it
    await match_symbols(Runtime(opened, engine=app.state.engine, redis=app.state.redis),
                        [symbol])
    order = await get_ok(client, auth, f"/api/v1/orders/{order_id}")
    assert (order["status"], order["status_detail"]) == ("FILLED", None)  # the wait is over


async def test_an_order_the_venue_gets_after_its_expiry_is_expired_not_worked(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str], symbol: str,
) -> None:
    now = datetime.now(UTC) + timedelta(seconds=CLOSED.clock_offset_seconds)
    order_id = await place(client, auth, symbol=symbol, side="BUY", order_type="LIMIT",
                           quantity="5", price="100.01", time_in_force="GTD",
                           expire_at=(now + timedelta(minutes=1)).isoformat())
    # The worker was down past the expiry; it now runs with the market open (always open).
    late = Settings(paper_always_open=True,
                    clock_offset_seconds=CLOSED.clock_offset_seconds + 120)
    await submit_orders(Runtime(late, engine=app.state.engine, redis=app.state.redis),
                        [order_id])
    order = await get_ok(client, auth, f"/api/v1/orders/{order_id}")
    assert (order["status"], order["filled_quantity"]) == ("EXPIRED", "0")
    account = await get_ok(client, auth, "/api/v1/account")
    assert account["buying_power"] == account["cash"]  # its cash is free again
