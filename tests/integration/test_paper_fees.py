"""Brokerage on the paper exchange, against real PostgreSQL and Redis: a BUY holds its largest
fee, each fill pays its share of the order's fee from cash, and the ledger says so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from api.market.service import InstrumentCache
from shared.settings import Settings
from tests.helpers import get_ok, new_instrument, place, register_and_login, set_quote
from worker.handlers.matching import match_symbols
from worker.handlers.submit import submit_orders
from worker.runtime import Runtime

pytestmark = pytest.mark.integration
D = Decimal
IBKR_FIXED = Settings(paper_fee_profile="ibkr_fixed")


@pytest.fixture
async def app() -> AsyncIterator[FastAPI]:
    application = create_app(IBKR_FIXED)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    return Runtime(IBKR_FIXED, engine=app.state.engine, redis=app.state.redis)


@pytest.fixture
async def auth(client: httpx.AsyncClient) -> dict[str, str]:
    return await register_and_login(client)


@pytest.fixture
async def symbol(app: FastAPI, engine: AsyncEngine) -> str:
    created = await new_instrument(engine, "50.00")  # quoted 49.99 / 50.01
    app.state.instruments = InstrumentCache(engine)
    return created


async def _account(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    return await get_ok(client, auth, "/api/v1/account")


async def test_a_buy_holds_its_fee_and_each_fill_pays_its_share_from_cash(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
    symbol: str,
) -> None:
    order_id = await place(client, auth, symbol=symbol, side="BUY", order_type="LIMIT",
                           quantity="1000", price="50.01", time_in_force="GTC")
    held = await _account(client, auth)
    # 1000 × 50.01 plus the most 1000 shares pay at USD 0.005 a share: 5.00.
    assert D(held["cash"]) - D(held["buying_power"]) == D("50015.00")
    await set_quote(engine, symbol, "49.99", "50.01", ask_size="100")
    await submit_orders(runtime, [order_id])
    await set_quote(engine, symbol, "49.99", "50.01", ask_size="900")
    await match_symbols(runtime, [symbol])
    fills = (await get_ok(client, auth, f"/api/v1/orders/{order_id}/fills"))["items"]
    charged = sorted((f["quantity"], f["commission"], f["brokerage_charge"], f["mtf_charge"])
                     for f in fills)
    # The first 100 shares carry the USD 1.00 minimum; the next 900 add what takes the order
    # to 1000 × 0.005 = 5.00.
    assert charged == [("100", "1", "1", "0"), ("900", "4", "4", "0")]
    account = await _account(client, auth)
    assert D(account["cash"]) == D(100000) - 1000 * D("50.01") - D(5)
    assert account["buying_power"] == account["cash"]  # nothing held once filled


async def test_a_sell_pays_its_fee_out_of_the_proceeds(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
    symbol: str,
) -> None:
    buy = await place(client, auth, symbol=symbol, side="BUY", order_type="MARKET",
                      quantity="10")
    await submit_orders(runtime, [buy])
    sell = await place(client, auth, symbol=symbol, side="SELL", order_type="MARKET",
                       quantity="10")
    await submit_orders(runtime, [sell])
    account = await _account(client, auth)
    # Bought at 50.01, sold at 49.99; each order pays the USD 1.00 minimum (10 × 0.005 is
    # less), which is under its cap of 1% of about 500.
    assert D(account["cash"]) == D(100000) - 10 * D("50.01") - 1 + 10 * D("49.99") - 1
    order = await get_ok(client, auth, f"/api/v1/orders/{sell}")
    assert order["status"] == "FILLED"
