"""The data-scale bench's data set (bench.dataset) at a tiny scale: the counts it promises, and
data the endpoints answer consistently, so the bench cannot time an empty or broken database.
The database is the module's own (the load skips foreign keys and triggers, and its rows would
be counted by other tests)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from api.auth.passwords import hash_password_sync
from api.main import create_app
from bench import dataset
from shared.settings import Settings
from tests.conftest import _asyncpg_dsn
from tests.helpers import get_ok
from tests.integration.fresh_database import fresh_database

pytestmark = pytest.mark.integration
SCALE = Decimal("0.002")  # 2 users, 2,000 orders, 200,000 ticks


async def _load(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await dataset.load(conn, SCALE, hash_password_sync(dataset.PASSWORD))
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def loaded() -> Iterator[str]:
    """A new database holding the data set at SCALE; its asyncpg DSN."""
    with fresh_database() as url:
        dsn = _asyncpg_dsn(url)
        loop = asyncio.new_event_loop()  # a sync fixture beside pytest-asyncio's loop
        try:
            loop.run_until_complete(_load(dsn))
        finally:
            loop.close()
        yield url


@pytest.fixture
async def app(loaded: str) -> AsyncIterator[FastAPI]:
    """The API over the loaded database."""
    application = create_app(Settings(database_url=loaded))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def db(loaded: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(_asyncpg_dsn(loaded))
    try:
        yield conn
    finally:
        await conn.close()


async def test_the_data_set_has_the_counts_of_its_scale_and_says_so(
    db: asyncpg.Connection,
) -> None:
    counts = {table: await db.fetchval(f"SELECT count(*) FROM {table}")
              for table in ("users", "accounts", "orders", "fills", "order_events", "trades",
                            "ticks", "tick_ranges", "news_articles")}
    assert counts == {"users": 2, "accounts": 2, "orders": 2000, "fills": 2000,
                      "order_events": 4000, "trades": 500, "ticks": 200_000, "tick_ranges": 2,
                      "news_articles": 100}
    # Each user has far more orders than a page, so the bench's deep page is deep.
    assert await db.fetchval("SELECT min(n) FROM (SELECT count(*) AS n FROM orders"
                             " GROUP BY user_id) per_user") == dataset.ORDERS_PER_USER
    assert await dataset.loaded_scale(db) == SCALE


async def test_the_minute_bars_are_those_of_the_ticks(db: asyncpg.Connection) -> None:
    # The load skips the triggers that keep tick_bars_1m, so it fills the bars itself: each
    # the raw aggregate of its minute, open and close the first and last tick by the key.
    wrong = await db.fetchval("""
        WITH raw AS (
          SELECT symbol, date_bin(interval '1 minute', ts, timestamptz 'epoch') AS minute,
                 min(ts) AS first_ts, max(ts) AS last_ts, max(ltp) AS high, min(ltp) AS low,
                 sum(ltq) AS volume, count(*) AS ticks
          FROM ticks GROUP BY 1, 2)
        SELECT count(*) FROM raw r FULL JOIN tick_bars_1m b USING (symbol, minute)
        WHERE (r.first_ts, r.last_ts, r.high, r.low, r.volume, r.ticks)
                IS DISTINCT FROM (b.first_ts, b.last_ts, b.high, b.low, b.volume, b.ticks)
           OR b.open IS DISTINCT FROM (
                SELECT ltp FROM ticks t WHERE t.symbol = r.symbol AND t.ts = r.first_ts
                ORDER BY ltp, ltq, buyprice, buyqty, sellprice, sellqty, openinterest LIMIT 1)
           OR b.close IS DISTINCT FROM (
                SELECT ltp FROM ticks t WHERE t.symbol = r.symbol AND t.ts = r.last_ts
                ORDER BY ltp DESC, ltq DESC, buyprice DESC, buyqty DESC, sellprice DESC,
                         sellqty DESC, openinterest DESC LIMIT 1)""")

    assert wrong == 0
    assert await db.fetchval("SELECT sum(ticks) FROM tick_bars_1m") == 200_000


async def test_every_order_is_filled_by_its_fills_and_its_events_are_in_stream_order(
    db: asyncpg.Connection,
) -> None:
    unfilled = await db.fetchval("""
        SELECT count(*) FROM orders o
        WHERE o.status <> 'FILLED' OR o.filled_quantity
              <> (SELECT sum(quantity) FROM fills f WHERE f.order_id = o.id)""")
    assert unfilled == 0
    per_user = await db.fetch("""
        SELECT e.user_id, count(*) AS events, min(e.seq) AS first, max(e.seq) AS last,
               count(DISTINCT e.seq) AS distinct_seqs, max(s.seq) AS stream_seq
        FROM order_events e JOIN stream_seqs s USING (user_id) GROUP BY e.user_id""")
    assert [(r["first"], r["last"], r["distinct_seqs"], r["stream_seq"]) for r in per_user] == [
        (1, 2 * dataset.ORDERS_PER_USER, 2 * dataset.ORDERS_PER_USER,
         2 * dataset.ORDERS_PER_USER)] * 2


async def test_a_users_positions_are_the_signed_sum_of_fills_and_trades_and_cash_moved_by_them(
    client: httpx.AsyncClient, db: asyncpg.Connection,
) -> None:
    login = await client.post("/api/v1/auth/login", json={"email": dataset.email(2),
                                                          "password": dataset.PASSWORD})
    assert login.status_code == 200, login.text
    auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
    user = await db.fetchval("SELECT id FROM users WHERE email = $1", dataset.email(2))
    expected: dict[str, Decimal] = defaultdict(Decimal)
    cash = dataset.START_CASH
    for row in await db.fetch(
            "SELECT symbol, side, quantity, price, 0 AS charges FROM fills WHERE user_id = $1"
            " UNION ALL SELECT symbol, side, quantity, price, brokerage_charge + mtf_charge"
            " FROM trades WHERE user_id = $1", user):
        sign = 1 if row["side"] == "BUY" else -1
        expected[row["symbol"]] += sign * row["quantity"]
        cash -= sign * row["quantity"] * row["price"] + row["charges"]

    positions = await get_ok(client, auth, "/api/v1/positions")
    assert {p["symbol"]: Decimal(p["quantity"]) for p in positions} == dict(expected)
    assert len(expected) > 1
    assert all(quantity > 0 for quantity in expected.values())
    account = await get_ok(client, auth, "/api/v1/account")
    assert Decimal(account["cash"]) == cash
