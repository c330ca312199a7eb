"""The worker's handlers against real PostgreSQL and Redis, called in-process."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.domain import events as ev
from shared.settings import get_settings
from tests.helpers import get_ok, place, set_quote
from worker.handlers.cancel import cancel_order
from worker.handlers.fills import record_execution
from worker.handlers.submit import submit_orders
from worker.runtime import Runtime

pytestmark = pytest.mark.integration


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    return Runtime(get_settings(), engine=app.state.engine, redis=app.state.redis)


async def test_market_buy_fills_at_ask_and_updates_position_cash_and_fills(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str]
) -> None:
    await set_quote(engine, "AAPL", "199.98", "200.02")
    order_id = await place(client, auth, symbol="AAPL", side="BUY", order_type="MARKET",
                            quantity="10")
    assert await submit_orders(runtime, [order_id]) == 1
    order = await get_ok(client, auth, f"/api/v1/orders/{order_id}")
    assert order["status"] == "FILLED"
    assert (order["filled_quantity"], order["avg_fill_price"]) == ("10", "200.02")
    fills = await get_ok(client, auth, f"/api/v1/orders/{order_id}/fills")
    assert [(f["quantity"], f["price"], f["side"]) for f in fills["items"]] == [
        ("10", "200.02", "BUY")]
    [position] = await get_ok(client, auth, "/api/v1/positions")
    assert (position["symbol"], position["quantity"], position["avg_price"]) == (
        "AAPL", "10", "200.02")
    assert position["market_price"] == "200"
    assert position["unrealized_pnl"] == "-0.2"
    account = await get_ok(client, auth, "/api/v1/account")
    assert account["cash"] == "97999.8"
    assert account["buying_power"] == "97999.8"  # the reservation is fully released
    assert account["equity"] == "99999.8"


async def test_sell_realizes_pnl_against_average_cost(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str]
) -> None:
    await set_quote(engine, "MSFT", "99.99", "100.00")
    first = await place(client, auth, symbol="MSFT", side="BUY", order_type="MARKET",
                         quantity="10")
    await submit_orders(runtime, [first])
    await set_quote(engine, "MSFT", "109.99", "110.00")
    second = await place(client, auth, symbol="MSFT", side="BUY", order_type="MARKET",
                          quantity="10")
    await submit_orders(runtime, [second])
    await set_quote(engine, "MSFT", "120.00", "120.01")
    sell = await place(client, auth, symbol="MSFT", side="SELL", order_type="LIMIT",
                        quantity="5", price="119.00")
    await submit_orders(runtime, [sell])
    assert (await get_ok(client, auth, f"/api/v1/orders/{sell}"))["avg_fill_price"] == "120"
    [position] = await get_ok(client, auth, "/api/v1/positions")
    assert (position["quantity"], position["avg_price"]) == ("15", "105")
    assert position["realized_pnl"] == "75"  # 5 × (120 − 105)
    account = await get_ok(client, auth, "/api/v1/account")
    assert account["cash"] == str(100000 - 1000 - 1100 + 600)
    assert account["realized_pnl"] == "75"


async def test_selling_more_than_the_free_position_is_rejected_and_changes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str]
) -> None:
    await set_quote(engine, "KO", "69.99", "70.00")
    buy = await place(client, auth, symbol="KO", side="BUY", order_type="MARKET", quantity="5")
    await submit_orders(runtime, [buy])
    resting = await place(client, auth, symbol="KO", side="SELL", order_type="LIMIT",
                           quantity="3", price="90.00")
    await submit_orders(runtime, [resting])
    response = await client.post("/api/v1/orders", headers=auth, json={
        "symbol": "KO", "side": "SELL", "order_type": "MARKET", "quantity": "3"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "insufficient_position"
    assert response.json()["error"]["details"]["available"] == "2"


async def test_cancel_of_resting_limit_cancels_and_releases_reservation(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str]
) -> None:
    await set_quote(engine, "NVDA", "118.89", "118.91")
    order_id = await place(client, auth, symbol="NVDA", side="BUY", order_type="LIMIT",
                            quantity="10", price="100.00")
    await submit_orders(runtime, [order_id])
    assert (await get_ok(client, auth, f"/api/v1/orders/{order_id}"))["status"] == "ACCEPTED"
    assert (await get_ok(client, auth, "/api/v1/account"))["buying_power"] == "99000"
    response = await client.delete(f"/api/v1/orders/{order_id}", headers=auth)
    assert response.status_code == 202
    assert response.json()["status"] == "PENDING_CANCEL"
    assert await cancel_order(runtime, order_id) is True
    order = await get_ok(client, auth, f"/api/v1/orders/{order_id}")
    assert order["status"] == "CANCELED"
    account = await get_ok(client, auth, "/api/v1/account")
    assert (account["cash"], account["buying_power"]) == ("100000", "100000")


async def test_unmarketable_ioc_is_canceled_and_releases_reservation(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str]
) -> None:
    await set_quote(engine, "TSLA", "240.00", "240.10")
    order_id = await place(client, auth, symbol="TSLA", side="BUY", order_type="LIMIT",
                            quantity="1", price="200.00", time_in_force="IOC")
    await submit_orders(runtime, [order_id])
    order = await get_ok(client, auth, f"/api/v1/orders/{order_id}")
    assert order["status"] == "CANCELED"
    assert "IOC" in order["reject_reason"]
    assert (await get_ok(client, auth, "/api/v1/account"))["buying_power"] == "100000"


async def test_a_second_delivery_of_the_same_order_does_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str]
) -> None:
    await set_quote(engine, "V", "275.70", "275.80")
    order_id = await place(client, auth, symbol="V", side="BUY", order_type="MARKET",
                            quantity="2")
    assert await submit_orders(runtime, [order_id]) == 1
    assert await submit_orders(runtime, [order_id, order_id]) == 0
    fills = await get_ok(client, auth, f"/api/v1/orders/{order_id}/fills")
    assert len(fills["items"]) == 1
    [position] = await get_ok(client, auth, "/api/v1/positions")
    assert position["quantity"] == "2"


async def test_a_duplicate_fill_is_ignored(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str]
) -> None:
    await set_quote(engine, "JPM", "250.00", "250.10")
    order_id = await place(client, auth, symbol="JPM", side="BUY", order_type="LIMIT",
                            quantity="10", price="212.30")
    await submit_orders(runtime, [order_id])  # rests: the ask is above the limit
    execution = ev.Filled(trade_id="EXEC-1", quantity=Decimal("4"), price=Decimal("212.30"),
                          at=datetime.now(UTC))
    assert await record_execution(runtime, uuid.UUID(order_id), execution) is True
    assert await record_execution(runtime, uuid.UUID(order_id), execution) is False
    order = await get_ok(client, auth, f"/api/v1/orders/{order_id}")
    assert (order["status"], order["filled_quantity"]) == ("PARTIALLY_FILLED", "4")
    [position] = await get_ok(client, auth, "/api/v1/positions")
    assert position["quantity"] == "4"
    account = await get_ok(client, auth, "/api/v1/account")
    assert account["cash"] == str(Decimal(100000) - Decimal("849.2"))
    # 6 shares still reserved at the limit price.
    assert Decimal(account["buying_power"]) == Decimal(account["cash"]) - 6 * Decimal("212.3")
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM fills WHERE order_id = :id"),
                                    {"id": order_id})).scalar_one()
    assert count == 1


async def test_a_batch_fills_every_order_once_with_books_that_add_up(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str]
) -> None:
    await set_quote(engine, "GOOGL", "164.99", "165.00")
    await set_quote(engine, "AMZN", "185.99", "186.00")
    ids = [await place(client, auth, symbol=symbol, side="BUY", order_type="MARKET",
                        quantity="2") for symbol in ("GOOGL", "AMZN", "GOOGL")]
    resting = await place(client, auth, symbol="AMZN", side="BUY", order_type="LIMIT",
                           quantity="1", price="150.00")
    assert await submit_orders(runtime, [*ids, resting, ids[0]]) == 4
    statuses = [(await get_ok(client, auth, f"/api/v1/orders/{i}"))["status"] for i in ids]
    assert statuses == ["FILLED"] * 3
    assert (await get_ok(client, auth, f"/api/v1/orders/{resting}"))["status"] == "ACCEPTED"
    positions = {p["symbol"]: p["quantity"] for p in await get_ok(client, auth,
                                                                "/api/v1/positions")}
    assert positions == {"AMZN": "2", "GOOGL": "4"}
    account = await get_ok(client, auth, "/api/v1/account")
    assert account["cash"] == str(100000 - 4 * 165 - 2 * 186)
    assert account["buying_power"] == str(100000 - 4 * 165 - 2 * 186 - 150)
