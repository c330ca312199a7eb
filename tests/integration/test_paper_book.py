"""The paper exchange as a venue, against real PostgreSQL and Redis: resting orders matched on
new quotes, sizes at the touch spent and never overspent, stops and trailing stops, and
several matchers on one symbol at once. Each test trades an instrument of its own."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from celery.worker.request import Request
from fastapi import FastAPI
from kombu.message import Message
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.market.service import InstrumentCache
from shared.messaging import tasks
from shared.messaging.enqueue import celery_message
from shared.settings import Settings, get_settings
from tests.helpers import get_ok, new_instrument, place, set_quote
from worker.app import app as celery_app
from worker.brokers.paper.doorbell import DOORBELL_EXPIRES_SECONDS, ring
from worker.handlers.matching import match_symbol, match_symbols
from worker.handlers.submit import submit_orders
from worker.runtime import Runtime

pytestmark = pytest.mark.integration
D = Decimal


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    return Runtime(get_settings(), engine=app.state.engine, redis=app.state.redis)


@pytest.fixture
async def symbol(app: FastAPI, engine: AsyncEngine) -> str:
    """A fresh instrument quoted 99.99 / 100.01, known to the API."""
    created = await new_instrument(engine, "100.00")
    app.state.instruments = InstrumentCache(engine)  # a new cache loads the new instrument
    return created


async def _order(client: httpx.AsyncClient, auth: dict[str, str], order_id: str) -> Any:
    return await get_ok(client, auth, f"/api/v1/orders/{order_id}")


async def _fills(client: httpx.AsyncClient, auth: dict[str, str],
                 order_id: str) -> list[tuple[str, str]]:
    body = await get_ok(client, auth, f"/api/v1/orders/{order_id}/fills")
    return [(f["quantity"], f["price"]) for f in reversed(body["items"])]  # oldest first


async def _sizes(engine: AsyncEngine, symbol: str) -> tuple[Decimal, Decimal]:
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT bid_size, ask_size FROM quotes"
                                       " WHERE symbol = :s"), {"s": symbol})).one()
    return row.bid_size, row.ask_size


async def _trail(engine: AsyncEngine, order_id: str) -> list[tuple[str, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT to_status, actor FROM order_events"
                                       " WHERE order_id = :id ORDER BY version"),
                                  {"id": order_id})
        return [(row.to_status, row.actor) for row in rows]


async def _buy_shares(client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime,
                      symbol: str, quantity: str) -> None:
    order_id = await place(client, auth, symbol=symbol, side="BUY", order_type="MARKET",
                            quantity=quantity)
    await submit_orders(runtime, [order_id])
    assert (await _order(client, auth, order_id))["status"] == "FILLED"


async def test_a_resting_limit_fills_at_the_touch_once_a_quote_crosses_it(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
    symbol: str,
) -> None:
    order_id = await place(client, auth, symbol=symbol, side="BUY", order_type="LIMIT",
                            quantity="10", price="99.50", time_in_force="GTC")
    await submit_orders(runtime, [order_id])
    assert (await _order(client, auth, order_id))["status"] == "ACCEPTED"
    await set_quote(engine, symbol, "99.49", "99.51")
    assert await match_symbols(runtime, [symbol]) == 0
    assert (await _order(client, auth, order_id))["status"] == "ACCEPTED"
    await set_quote(engine, symbol, "99.40", "99.45", ask_size="700")
    assert await match_symbols(runtime, [symbol]) == 1
    order = await _order(client, auth, order_id)
    assert (order["status"], order["avg_fill_price"]) == ("FILLED", "99.45")  # improved
    assert await _fills(client, auth, order_id) == [("10", "99.45")]
    account = await get_ok(client, auth, "/api/v1/account")
    assert account["cash"] == account["buying_power"] == str(D(100000) - D("994.5"))
    assert await _sizes(engine, symbol) == (D(100000), D(690))
    assert (await _trail(engine, order_id))[1:] == [
        ("SUBMITTED", "paper"), ("ACCEPTED", "paper"), ("FILLED", "paper")]


async def test_the_same_quote_matched_again_books_nothing_twice(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
    symbol: str,
) -> None:
    order_id = await place(client, auth, symbol=symbol, side="BUY", order_type="LIMIT",
                            quantity="50", price="99.00")
    await submit_orders(runtime, [order_id])
    await set_quote(engine, symbol, "98.90", "98.95", ask_size="20")
    assert await match_symbols(runtime, [symbol, symbol]) == 1
    assert await match_symbols(runtime, [symbol]) == 0  # a repeated doorbell
    assert await _fills(client, auth, order_id) == [("20", "98.95")]
    assert await _sizes(engine, symbol) == (D(100000), D(0))
    order = await _order(client, auth, order_id)
    assert (order["status"], order["filled_quantity"]) == ("PARTIALLY_FILLED", "20")


async def test_a_big_market_order_fills_over_several_quotes_never_beyond_their_size(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
    symbol: str,
) -> None:
    await set_quote(engine, symbol, "49.99", "50.01", ask_size="300")
    order_id = await place(client, auth, symbol=symbol, side="BUY", order_type="MARKET",
                            quantity="1000")
    await submit_orders(runtime, [order_id])
    order = await _order(client, auth, order_id)
    assert (order["status"], order["filled_quantity"]) == ("PARTIALLY_FILLED", "300")
    for ask, size in (("50.02", "200"), ("50.03", "400"), ("50.04", "500")):
        await set_quote(engine, symbol, "49.99", ask, ask_size=size)
        await match_symbols(runtime, [symbol])
    assert await _fills(client, auth, order_id) == [
        ("300", "50.01"), ("200", "50.02"), ("400", "50.03"), ("100", "50.04")]
    order = await _order(client, auth, order_id)
    assert order["status"] == "FILLED"
    assert D(order["avg_fill_price"]) == (300 * D("50.01") + 200 * D("50.02")
                                          + 400 * D("50.03") + 100 * D("50.04")) / 1000
    assert await _sizes(engine, symbol) == (D(100000), D(400))
    account = await get_ok(client, auth, "/api/v1/account")
    assert account["buying_power"] == account["cash"]  # nothing left reserved


async def test_arriving_orders_share_the_size_at_the_touch(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
    symbol: str,
) -> None:
    await set_quote(engine, symbol, "99.99", "100.01", ask_size="250")
    first = await place(client, auth, symbol=symbol, side="BUY", order_type="MARKET",
                         quantity="100")
    second = await place(client, auth, symbol=symbol, side="BUY", order_type="MARKET",
                          quantity="200")
    ioc = await place(client, auth, symbol=symbol, side="BUY", order_type="MARKET",
                       quantity="10", time_in_force="IOC")
    await submit_orders(runtime, [first, second])
    await submit_orders(runtime, [ioc])
    assert (await _order(client, auth, first))["filled_quantity"] == "100"
    rest = await _order(client, auth, second)
    assert (rest["status"], rest["filled_quantity"]) == ("PARTIALLY_FILLED", "150")
    canceled = await _order(client, auth, ioc)
    assert (canceled["status"], canceled["reject_reason"]) == (
        "CANCELED", "IOC order could not fill at once")
    assert await _sizes(engine, symbol) == (D(100000), D(0))
    await set_quote(engine, symbol, "99.99", "100.01", ask_size="1000")
    await match_symbols(runtime, [symbol])
    assert (await _order(client, auth, second))["status"] == "FILLED"


async def test_an_ioc_fills_what_it_can_and_a_fok_all_or_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
    symbol: str,
) -> None:
    await set_quote(engine, symbol, "99.99", "100.01", ask_size="120")
    ioc = await place(client, auth, symbol=symbol, side="BUY", order_type="LIMIT",
                       quantity="300", price="100.50", time_in_force="IOC")
    fok = await place(client, auth, symbol=symbol, side="BUY", order_type="LIMIT",
                       quantity="300", price="100.50", time_in_force="FOK")
    await submit_orders(runtime, [fok])
    assert await _sizes(engine, symbol) == (D(100000), D(120))  # FOK took nothing
    await submit_orders(runtime, [ioc])
    partial = await _order(client, auth, ioc)
    assert (partial["status"], partial["filled_quantity"]) == ("CANCELED", "120")
    assert partial["reject_reason"] == "IOC order filled 120 of 300 at once; the rest is canceled"
    none = await _order(client, auth, fok)
    assert (none["status"], none["filled_quantity"]) == ("CANCELED", "0")
    assert await _fills(client, auth, fok) == []
    account = await get_ok(client, auth, "/api/v1/account")
    assert D(account["cash"]) == D(account["buying_power"]) == D(100000) - 120 * D("100.01")


async def test_a_stop_triggers_when_the_market_reaches_it_and_then_fills(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
    symbol: str,
) -> None:
    order_id = await place(client, auth, symbol=symbol, side="BUY", order_type="STOP",
                            quantity="10", stop_price="101.00", time_in_force="GTC")
    await submit_orders(runtime, [order_id])
    await set_quote(engine, symbol, "100.48", "100.50")
    await match_symbols(runtime, [symbol])
    assert (await _order(client, auth, order_id))["status"] == "ACCEPTED"
    await set_quote(engine, symbol, "100.99", "101.01", ask_size="0")  # hit, but no size
    await match_symbols(runtime, [symbol])
    assert (await _order(client, auth, order_id))["status"] == "TRIGGERED"
    await set_quote(engine, symbol, "100.97", "100.99")  # works as a MARKET order now
    await match_symbols(runtime, [symbol])
    order = await _order(client, auth, order_id)
    assert (order["status"], order["avg_fill_price"]) == ("FILLED", "100.99")
    assert [status for status, _ in await _trail(engine, order_id)] == [
        "PENDING_NEW", "SUBMITTED", "ACCEPTED", "TRIGGERED", "FILLED"]


async def test_a_trailing_stop_marks_at_submission_follows_the_bid_and_triggers(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
    symbol: str,
) -> None:
    await _buy_shares(client, auth, runtime, symbol, "10")
    order_id = await place(client, auth, symbol=symbol, side="SELL", order_type="TRAILING_STOP",
                            quantity="10", trail_price="1.00", time_in_force="GTC")
    await submit_orders(runtime, [order_id])
    order = await _order(client, auth, order_id)
    assert (order["status"], order["hwm"], order["stop_price"]) == ("ACCEPTED", "99.99",
                                                                      "98.99")
    await set_quote(engine, symbol, "101.00", "101.02")
    await match_symbols(runtime, [symbol])
    order = await _order(client, auth, order_id)
    assert (order["hwm"], order["stop_price"]) == ("101", "100")
    await set_quote(engine, symbol, "100.50", "100.52")  # lower: the mark stays
    await match_symbols(runtime, [symbol])
    assert (await _order(client, auth, order_id))["hwm"] == "101"
    await set_quote(engine, symbol, "100.00", "100.02")
    await match_symbols(runtime, [symbol])
    order = await _order(client, auth, order_id)
    assert (order["status"], order["avg_fill_price"]) == ("FILLED", "100")
    positions = await get_ok(client, auth, "/api/v1/positions")
    assert [p["quantity"] for p in positions if p["symbol"] == symbol] == ["0"]


async def test_resting_sells_fill_against_the_bid_best_price_first(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
    symbol: str,
) -> None:
    await _buy_shares(client, auth, runtime, symbol, "300")
    ids = {}
    for price in ("100.30", "100.10", "100.20"):
        ids[price] = await place(client, auth, symbol=symbol, side="SELL", order_type="LIMIT",
                                  quantity="100", price=price)
        await submit_orders(runtime, [ids[price]])
    await set_quote(engine, symbol, "100.25", "100.27", bid_size="150")
    await match_symbols(runtime, [symbol])
    filled = {p: (await _order(client, auth, i))["filled_quantity"] for p, i in ids.items()}
    assert filled == {"100.10": "100", "100.20": "50", "100.30": "0"}
    assert await _fills(client, auth, ids["100.10"]) == [("100", "100.25")]


async def test_a_quote_reaches_a_crossed_book_only_as_deep_as_its_size_in_priority(
    app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
    auth: dict[str, str], symbol: str,
) -> None:
    await set_quote(engine, symbol, "100.98", "101.00")  # above every limit: they rest
    prices = [f"100.{n}0" for n in range(1, 9)]
    ids = {price: await place(client, auth, symbol=symbol, side="BUY", order_type="LIMIT",
                              quantity="100", price=price) for price in prices}
    await submit_orders(runtime, list(ids.values()))
    small_rounds = Runtime(Settings(paper_match_batch=2), engine=app.state.engine,
                           redis=app.state.redis)
    await set_quote(engine, symbol, "99.98", "100.00", ask_size="350")
    await match_symbol(small_rounds, symbol)
    filled = {p: (await _order(client, auth, i))["filled_quantity"] for p, i in ids.items()}
    assert filled == {"100.80": "100", "100.70": "100", "100.60": "100", "100.50": "50",
                      "100.40": "0", "100.30": "0", "100.20": "0", "100.10": "0"}
    await set_quote(engine, symbol, "99.98", "100.00", ask_size="1000")
    await match_symbol(small_rounds, symbol)
    statuses = {(await _order(client, auth, i))["status"] for i in ids.values()}
    assert statuses == {"FILLED"}
    assert await _sizes(engine, symbol) == (D(100000), D(1000 - 450))


# ---------------------------------------------------------------- the doorbell


async def _doorbells_for(redis: Redis, symbol: str) -> int:
    """paper.match messages waiting in the orders queue that name `symbol`."""
    count = 0
    for raw in await redis.lrange(tasks.ORDERS_QUEUE, 0, -1):
        envelope = json.loads(raw)
        args = json.loads(base64.b64decode(envelope["body"]))[0]
        if envelope["headers"]["task"] == tasks.PAPER_MATCH and symbol in args[0]:
            count += 1
    return count


async def test_a_symbol_whose_doorbell_is_queued_is_not_rung_again_until_it_is_answered(
    app: FastAPI, runtime: Runtime, symbol: str,
) -> None:
    redis: Redis = app.state.redis
    assert await ring(redis, [symbol]) == 1
    assert await ring(redis, [symbol]) == 0  # still queued: the matcher will read the newest
    assert await _doorbells_for(redis, symbol) == 1
    await match_symbols(runtime, [symbol])  # answers it
    assert await ring(redis, [symbol]) == 1
    assert await ring(redis, [symbol], coalesce=False) == 1
    assert await _doorbells_for(redis, symbol) == 3
    await match_symbols(runtime, [symbol])
    for raw in await redis.lrange(tasks.ORDERS_QUEUE, 0, -1):  # no worker here to take them
        if symbol.encode() in base64.b64decode(json.loads(raw)["body"]):
            await redis.lrem(tasks.ORDERS_QUEUE, 0, raw if isinstance(raw, str) else raw.decode())


def _as_the_worker_receives_it(raw: bytes | str) -> Request:
    """The message as a Celery worker's consumer reads it, before running its task."""
    envelope = json.loads(raw)
    message = Message(  # type: ignore[no-untyped-call]
        body=base64.b64decode(envelope["body"]), headers=envelope["headers"],
        content_type=envelope["content-type"], content_encoding=envelope["content-encoding"],
        delivery_info=envelope["properties"]["delivery_info"], properties=envelope["properties"])
    celery_app.loader.import_default_modules()
    return Request(message, app=celery_app, task=celery_app.tasks[tasks.PAPER_MATCH])


async def test_a_doorbell_left_waiting_past_its_expiry_is_discarded_by_the_worker_unrun(
    app: FastAPI, symbol: str,
) -> None:
    redis: Redis = app.state.redis
    assert await ring(redis, [symbol], coalesce=False) == 1
    (raw,) = [r for r in await redis.lrange(tasks.ORDERS_QUEUE, 0, -1)
              if symbol.encode() in base64.b64decode(json.loads(r)["body"])]
    await redis.lrem(tasks.ORDERS_QUEUE, 0, raw.decode() if isinstance(raw, bytes) else raw)
    fresh = _as_the_worker_receives_it(raw)
    assert not fresh.revoked()  # runs if taken in time ...
    ahead = (fresh.expires - datetime.now(UTC)).total_seconds()
    assert DOORBELL_EXPIRES_SECONDS - 5 < ahead <= DOORBELL_EXPIRES_SECONDS
    stale = celery_message(tasks.PAPER_MATCH, [[symbol]], tasks.ORDERS_QUEUE, expires_in=-1)
    assert _as_the_worker_receives_it(stale).revoked()  # ... and is dropped once expired


# ---------------------------------------------------------------- trading sessions


def _on_a_saturday() -> Settings:
    """Exchange hours for real, and a clock standing at noon on the next Saturday in New York."""
    now = datetime.now(UTC)
    saturday = (now + timedelta(days=(5 - now.weekday()) % 7 or 7)).replace(
        hour=17, minute=0, second=0, microsecond=0)
    return Settings(paper_always_open=False,
                    clock_offset_seconds=(saturday - now).total_seconds())


async def test_nothing_fills_while_the_exchange_is_closed_and_the_book_trades_at_the_open(
    app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
    auth: dict[str, str], symbol: str,
) -> None:
    closed = Runtime(_on_a_saturday(), engine=app.state.engine, redis=app.state.redis)
    limit = await place(client, auth, symbol=symbol, side="BUY", order_type="LIMIT",
                         quantity="10", price="99.50", time_in_force="GTC")
    # GTC: a DAY order placed by this (real-clock) API expires at today's close, long before
    # the Saturday the venue's clock stands at.
    market = await place(client, auth, symbol=symbol, side="BUY", order_type="MARKET",
                          quantity="5", time_in_force="GTC")
    ioc = await place(client, auth, symbol=symbol, side="BUY", order_type="MARKET",
                       quantity="5", time_in_force="IOC")
    await submit_orders(closed, [limit, market, ioc])
    await set_quote(engine, symbol, "99.40", "99.45")
    assert await match_symbols(closed, [symbol]) == 0
    statuses = [(await _order(client, auth, i))["status"] for i in (limit, market, ioc)]
    assert statuses == ["ACCEPTED", "ACCEPTED", "CANCELED"]
    assert (await _order(client, auth, ioc))["reject_reason"] == (
        "IOC order could not fill at once: the NASDAQ session is closed")
    assert await _sizes(engine, symbol) == (D(100000), D(100000))
    assert await match_symbols(runtime, [symbol]) == 2  # the same quote, once it trades
    assert [await _fills(client, auth, i) for i in (limit, market)] == [
        [("10", "99.45")], [("5", "99.45")]]


# ---------------------------------------------------------------- several matchers at once


@pytest.fixture
async def matchers() -> AsyncIterator[list[Runtime]]:
    """Six worker runtimes, each with its own engine and connections, as six processes have."""
    made = [Runtime(Settings(paper_match_batch=3)) for _ in range(6)]
    yield made
    for made_runtime in made:
        await made_runtime.engine.dispose()
        await made_runtime.redis.aclose()


async def test_concurrent_matchers_and_arrivals_fill_nothing_twice_and_never_overspend_size(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
    symbol: str, matchers: list[Runtime],
) -> None:
    resting = [await place(client, auth, symbol=symbol, side="BUY", order_type="LIMIT",
                            quantity="40", price="99.50") for _ in range(20)]
    await submit_orders(runtime, resting)
    arriving = [await place(client, auth, symbol=symbol, side="BUY", order_type="LIMIT",
                             quantity="30", price="99.50", time_in_force="IOC")
                for _ in range(6)]
    await set_quote(engine, symbol, "99.40", "99.45", ask_size="500")
    # Every matcher works the same quote at once while IOC orders arrive competing for it;
    # a batch of 3 per round makes each matcher go round after round through the book.
    await asyncio.gather(*(match_symbol(m, symbol) for m in matchers),
                         *(submit_orders(m, [i]) for m, i in zip(matchers, arriving,
                                                                 strict=True)))
    async with engine.connect() as conn:
        booked = (await conn.execute(text(
            "SELECT sum(n) AS shares, max(fills) AS most FROM (SELECT sum(quantity) AS n,"
            " count(*) AS fills FROM fills WHERE symbol = :s GROUP BY order_id) AS f"),
            {"s": symbol})).one()
        overfilled = (await conn.execute(text(
            "SELECT count(*) FROM orders WHERE symbol = :s AND filled_quantity > quantity"),
            {"s": symbol})).scalar_one()
    assert booked.shares == 500  # exactly the size at the ask: not a share more
    assert booked.most == 1  # one quote: no order filled twice on it
    assert overfilled == 0
    assert await _sizes(engine, symbol) == (D(100000), D(0))
    orders = [await _order(client, auth, i) for i in [*resting, *arriving]]
    assert sum(D(o["filled_quantity"]) for o in orders) == 500
    account = await get_ok(client, auth, "/api/v1/account")
    assert D(account["cash"]) == D(100000) - 500 * D("99.45")
    unfilled = sum(D(o["quantity"]) - D(o["filled_quantity"]) for o in orders
                   if o["status"] not in ("CANCELED", "FILLED"))
    assert D(account["buying_power"]) == D(account["cash"]) - unfilled * D("99.50")


async def test_a_resting_market_buy_never_spends_more_than_it_reserved(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
    symbol: str,
) -> None:
    await set_quote(engine, symbol, "99.99", "100.01", ask_size="10")
    order_id = await place(client, auth, symbol=symbol, side="BUY", order_type="MARKET",
                           quantity="100")  # holds 100 × 100.01 × 1.05 = 10501.05
    await submit_orders(runtime, [order_id])
    await set_quote(engine, symbol, "199.99", "200.00", ask_size="1000")  # the ask doubles
    await match_symbols(runtime, [symbol])
    # 9450.945 is left of the hold after the first 10: it pays for 47 more at 200.
    assert await _fills(client, auth, order_id) == [("10", "100.01"), ("47", "200")]
    order = await _order(client, auth, order_id)
    assert (order["status"], order["filled_quantity"]) == ("CANCELED", "57")
    assert order["reject_reason"].startswith("the ask 200 ran past the cash this order reserved")
    account = await get_ok(client, auth, "/api/v1/account")
    assert D(account["cash"]) == D(100000) - 10 * D("100.01") - 47 * D(200)
    assert account["buying_power"] == account["cash"]  # nothing left held
