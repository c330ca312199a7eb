"""The 1-minute rollup tick_bars_1m (migration 0027): its triggers keep, through inserts in
many statements, updates, deletes, truncates and concurrent writers, exactly the bars the raw
ticks give; and the OHLC bars read from it equal the raw computation."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db.repositories import ticks
from shared.domain.bars import EPOCH
from shared.messaging.order_view import json_value

pytestmark = pytest.mark.integration

BASE = datetime(2026, 3, 9, 14, 29, 40, tzinfo=UTC)
Tick = tuple[str, datetime, Decimal, int, Decimal, int, Decimal, int, int]
_INSERT = text(
    "INSERT INTO ticks (symbol, ts, ltp, ltq, buyprice, buyqty, sellprice, sellqty, openinterest)"
    " SELECT * FROM unnest(CAST(:symbol AS text[]), CAST(:ts AS timestamptz[]),"
    " CAST(:ltp AS numeric[]), CAST(:ltq AS bigint[]), CAST(:buyprice AS numeric[]),"
    " CAST(:buyqty AS bigint[]), CAST(:sellprice AS numeric[]), CAST(:sellqty AS bigint[]),"
    " CAST(:openinterest AS bigint[]))"
    " ON CONFLICT DO NOTHING")
_FIELDS = ("symbol", "ts", "ltp", "ltq", "buyprice", "buyqty", "sellprice", "sellqty",
           "openinterest")


def _symbols(count: int) -> list[str]:
    tag = uuid.uuid4().hex[:8].upper()
    return [f"B{tag}{n}" for n in range(count)]


def _random_ticks(rnd: random.Random, symbols: Sequence[str], count: int) -> list[Tick]:
    """Ticks over ~15 minutes, on few instants and prices, so that many share an instant (and
    some a price) and the open and close of a minute hang on the key's tie-break."""
    instants = [BASE + timedelta(seconds=rnd.randrange(900), microseconds=rnd.choice((0, 500)))
                for _ in range(count // 3)]
    made = []
    for _ in range(count):
        price = Decimal(rnd.randrange(9000, 9100)) / 100
        made.append((rnd.choice(symbols), rnd.choice(instants), price, rnd.randrange(1, 50),
                     price - Decimal("0.01"), rnd.randrange(1, 5), price + Decimal("0.01"),
                     rnd.randrange(1, 5), 0))
    return made


async def _insert(conn: AsyncConnection, rows: Sequence[Tick]) -> None:
    await conn.execute(_INSERT, {name: [row[i] for row in rows]
                                 for i, name in enumerate(_FIELDS)})


def _shown(rows: Sequence[Any]) -> list[tuple[str, ...]]:
    """Rows as their values' reprs: Decimal('90.10000000') and Decimal('90.1') differ."""
    return [tuple(repr(value) for value in row) for row in rows]


async def _stored_bars(conn: AsyncConnection, symbol: str) -> list[tuple[str, ...]]:
    rows = (await conn.execute(text(
        "SELECT minute, open, high, low, close, volume, ticks, first_ts, last_ts"
        " FROM tick_bars_1m WHERE symbol = :symbol ORDER BY minute"), {"symbol": symbol})).all()
    return _shown(rows)


async def _raw_bars(conn: AsyncConnection, symbol: str) -> list[tuple[str, ...]]:
    """The 1-minute bars the raw query gives over every tick of `symbol`, with each minute's
    first and last instant."""
    bars = (await conn.execute(text(ticks.OHLC_QUERY), {
        "symbol": symbol, "step": timedelta(minutes=1), "origin": EPOCH,
        "start": datetime(2000, 1, 1, tzinfo=UTC),
        "end": datetime(2100, 1, 1, tzinfo=UTC)})).all()
    spans = (await conn.execute(text(
        "SELECT min(ts), max(ts) FROM ticks WHERE symbol = :symbol"
        " GROUP BY date_bin(interval '1 minute', ts, timestamptz 'epoch') ORDER BY 1"),
        {"symbol": symbol})).all()
    return _shown([(*bar, *span) for bar, span in zip(bars, spans, strict=True)])


async def _assert_bars_are_the_ticks(conn: AsyncConnection, symbols: Sequence[str]) -> None:
    for symbol in symbols:
        assert await _stored_bars(conn, symbol) == await _raw_bars(conn, symbol), symbol


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_bars_stay_those_of_the_ticks_through_inserts_updates_and_deletes(
    engine: AsyncEngine, seed: int,
) -> None:
    rnd = random.Random(seed)
    symbols = _symbols(3)
    made = _random_ticks(rnd, symbols, 600)

    async with engine.begin() as conn:
        # Several statements, each of several symbols and minutes, the later ones repeating
        # ticks already stored (ON CONFLICT DO NOTHING adds them nowhere).
        for part in range(4):
            chunk = made[part * 150:(part + 1) * 150]
            await _insert(conn, chunk + rnd.sample(made[:(part + 1) * 150], 20))
        await _assert_bars_are_the_ticks(conn, symbols)

        # An update that moves ticks into other minutes (and changes their prices), and a
        # delete of whole and part minutes.
        await conn.execute(text(
            "UPDATE ticks SET ts = ts + interval '61.25 seconds', ltp = ltp + 0.005"
            " WHERE symbol = :symbol AND ts < :until"),
            {"symbol": symbols[0], "until": BASE + timedelta(minutes=4)})
        await conn.execute(text(
            "DELETE FROM ticks WHERE symbol = :symbol AND ts >= :since AND ts < :until"),
            {"symbol": symbols[1], "since": BASE + timedelta(minutes=3),
             "until": BASE + timedelta(minutes=6, seconds=30)})
        await _assert_bars_are_the_ticks(conn, symbols)
        emptied = (await conn.execute(text(
            "SELECT count(*) FROM tick_bars_1m WHERE symbol = :symbol"
            " AND minute >= :since AND minute < :until"),
            {"symbol": symbols[1], "since": BASE + timedelta(minutes=3, seconds=20),
             "until": BASE + timedelta(minutes=5, seconds=20)})).scalar_one()
        assert emptied == 0


async def test_truncating_the_ticks_empties_the_bars(engine: AsyncEngine) -> None:
    (symbol,) = _symbols(1)
    async with engine.connect() as conn:
        transaction = await conn.begin()
        await _insert(conn, _random_ticks(random.Random(7), [symbol], 30))
        assert await conn.scalar(text("SELECT count(*) FROM tick_bars_1m")) > 0

        await conn.execute(text("TRUNCATE ticks"))

        assert await conn.scalar(text("SELECT count(*) FROM tick_bars_1m")) == 0
        await transaction.rollback()  # the suite's other ticks are untouched


async def _blocked(engine: AsyncEngine, pid: int, statement: asyncio.Task[Any]) -> None:
    """Return once the backend `pid` waits on a lock (or its statement has ended)."""
    async with engine.connect() as conn:
        while not statement.done() and await conn.scalar(text(
                "SELECT wait_event_type IS DISTINCT FROM 'Lock' FROM pg_stat_activity"
                " WHERE pid = :pid"), {"pid": pid}):
            await asyncio.sleep(0.01)


async def _pid(conn: AsyncConnection) -> int:
    pid: int = await conn.scalar(text("SELECT pg_backend_pid()"))
    return pid


async def test_concurrent_imports_and_a_delete_into_one_minute_keep_every_tick(
    engine: AsyncEngine,
) -> None:
    rnd = random.Random(11)
    (symbol,) = _symbols(1)
    first, second, third = (_random_ticks(rnd, [symbol], 60) for _ in range(3))

    async with engine.connect() as one, engine.connect() as two:
        # Two imports into the same minutes: the second merges once the first commits.
        await one.begin()
        await _insert(one, first)
        await two.begin()
        pid = await _pid(two)
        blocked = asyncio.create_task(_insert(two, second))
        await _blocked(engine, pid, blocked)
        assert not blocked.done()  # the merge waits for the first import
        await one.commit()
        await blocked
        await two.commit()
        # A delete's recount waits for an import still open, then counts its ticks too.
        await one.begin()
        await _insert(one, third)
        await two.begin()
        pid = await _pid(two)
        recount = asyncio.create_task(two.execute(text(
            "DELETE FROM ticks WHERE symbol = :symbol AND ts < :until"),
            {"symbol": symbol, "until": BASE + timedelta(minutes=5)}))
        await _blocked(engine, pid, recount)
        assert not recount.done()  # the recount waits for the open import
        await one.commit()
        await recount
        await two.commit()

    async with engine.connect() as conn:
        # The delete's own snapshot missed the third import's early ticks, so they stay,
        # and the recount, after that import's commit, counts them.
        assert await conn.scalar(text(
            "SELECT count(*) FROM ticks WHERE symbol = :symbol AND ts < :until"),
            {"symbol": symbol, "until": BASE + timedelta(minutes=5)}) > 0
        await _assert_bars_are_the_ticks(conn, [symbol])


def _random_request(rnd: random.Random) -> tuple[timedelta, datetime, datetime, datetime]:
    """A step, an origin and a range [start, end): ends on and off the minute, some inside
    one minute, some past the ticks; origins mostly on the minute (session opens), some not."""
    step = rnd.choice([timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15),
                       timedelta(hours=1), timedelta(days=1), timedelta(minutes=7),
                       timedelta(seconds=90)])
    origin = BASE.replace(second=0) + timedelta(minutes=rnd.randrange(-600, 60))
    if rnd.random() < 0.2:
        origin += timedelta(seconds=30, microseconds=rnd.choice((0, 0, 250)))
    start = BASE + timedelta(seconds=rnd.randrange(-120, 960), microseconds=rnd.choice(
        (0, 250, 500, 999_999)))
    if rnd.random() < 0.3:
        start = start.replace(second=0, microsecond=0)
    end = start + timedelta(seconds=rnd.choice((0.5, 30, 59, 60, 61, 300, 601.5, 1200)))
    if rnd.random() < 0.3:
        end = end.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return step, origin, start, end


async def test_ohlc_from_the_rollup_equals_the_bars_of_the_raw_ticks(
    engine: AsyncEngine,
) -> None:
    rnd = random.Random(5)
    symbols = _symbols(2)
    made = _random_ticks(rnd, symbols, 900)
    async with engine.begin() as conn:
        for part in range(3):
            await _insert(conn, made[part * 300:(part + 1) * 300])
        await conn.execute(text(
            "UPDATE ticks SET ltp = ltp * 2 WHERE symbol = :symbol AND ltq % 3 = 0"),
            {"symbol": symbols[0]})
        await conn.execute(text("DELETE FROM ticks WHERE symbol = :symbol AND ltq % 4 = 0"),
                           {"symbol": symbols[1]})

    merged = minutes = 0
    async with engine.connect() as conn:
        for _ in range(150):
            symbol = rnd.choice(symbols)
            step, origin, start, end = _random_request(rnd)
            sql, _ = ticks.ohlc_statement(symbol, step, origin, start, end)
            merged += sql != ticks.OHLC_QUERY
            minutes += sql == ticks.OHLC_MINUTES_QUERY

            bars = json.loads(await ticks.ohlc_json(conn, symbol, step, origin, start, end))
            raw = (await conn.execute(text(ticks.OHLC_QUERY), {
                "symbol": symbol, "step": step, "origin": origin, "start": start,
                "end": end})).mappings().all()

            # Every field as the API wrote each column value before PostgreSQL shaped them.
            assert bars == [{key: json_value(value) for key, value in bar.items()}
                            for bar in raw], (step, origin, start, end)
    assert merged > 75  # most requests took the rollup's path
    assert minutes > 5  # some of them as 1-minute bars, with nothing to merge
