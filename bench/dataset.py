"""The data-scale bench's data set, loaded by set-based SQL (INSERT … SELECT generate_series).

At scale 1: 1,000 users (one paper USD account and three portfolios each), 1,000,000 FILLED
orders with one fill and two events each, 250,000 journaled trades, positions and holdings that
are the signed sums of those fills and trades, cash moved by them, 100 symbols of 100,000 ticks
(one a second, the last one now), 2,000 more instruments for search and 50,000 news articles.
Every user has 1,000 orders and 250 trades whatever the scale: a smaller scale has fewer users
(and fewer tick symbols), so a page deep into a user's list is as deep at any scale.

The load runs with session_replication_role = replica (needs a superuser, as the bench's own
servers have): foreign keys and triggers are skipped for speed, so the rows set by hand what the
triggers would (each event's stream seq, stream_seqs, the ticks' 1-minute bars).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import asyncpg

ORDERS_PER_USER = 1000
TRADES_PER_USER = 250
TICKS_PER_SYMBOL = 100_000
EXTRA_INSTRUMENTS = 2000
PORTFOLIOS_PER_USER = 3
START_CASH = Decimal("1000000000")
PASSWORD = "bench-data-password"  # every bench user's; the bench database is its own
QUANTITY = 10  # per order; every third order of a user on a symbol sells, so positions stay long
TRADE_QUANTITY = 5
MARKER_TABLE = "bench_data_marker"
# Raised whenever the statements below change, so an older data set is not reused.
VERSION = 4


@dataclass(frozen=True)
class Sizes:
    """Row counts of a data set at a scale."""

    users: int
    orders: int
    trades: int
    tick_symbols: int
    ticks: int
    news: int

    @classmethod
    def at(cls, scale: Decimal) -> Sizes:
        users = max(2, round(1000 * scale))
        tick_symbols = max(2, round(100 * scale))
        return cls(users=users, orders=users * ORDERS_PER_USER, trades=users * TRADES_PER_USER,
                   tick_symbols=tick_symbols, ticks=tick_symbols * TICKS_PER_SYMBOL,
                   news=max(100, round(50_000 * scale)))


def email(number: int) -> str:
    """The login of bench user `number` (1-based)."""
    return f"bench-data-{number}@example.com"


async def loaded_scale(conn: asyncpg.Connection) -> Decimal | None:
    """The scale of the data set this database holds, None when none was loaded (or half, or
    by another version of this module)."""
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", MARKER_TABLE)
    if not exists:
        return None
    scale: Decimal | None = await conn.fetchval(
        f"SELECT scale FROM {MARKER_TABLE} WHERE version = $1", VERSION)
    return scale


async def load(conn: asyncpg.Connection, scale: Decimal, password_hash: str) -> Sizes:
    """Load the data set into a freshly migrated database, in one transaction, then VACUUM
    ANALYZE it.

    The marker row with the scale is written last, so a database holds it only when it holds
    the whole data set."""
    sizes = Sizes.at(scale)
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute("SET LOCAL work_mem = '256MB'")  # the ticks' sort by time
        for statement, args in _statements(sizes, password_hash):
            await conn.execute(statement, *args)
        await conn.execute(f"CREATE TABLE {MARKER_TABLE} (scale numeric NOT NULL,"
                           " version int NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now())")
        await conn.execute(f"INSERT INTO {MARKER_TABLE} (scale, version) VALUES ($1, $2)",
                           scale, VERSION)
    # VACUUM too, as autovacuum would have by then: the visibility map lets the ticks' covering
    # index answer alone (index-only scans), as on a database that has settled.
    await conn.execute("VACUUM ANALYZE")
    return sizes


def _statements(sizes: Sizes, password_hash: str) -> list[tuple[str, tuple[object, ...]]]:
    # CREATE TABLE AS takes no parameters: the user count (an int) is written in.
    bench_orders = _BENCH_ORDERS.replace("$1::int", str(int(sizes.users)))
    return [(_USERS, (sizes.users, password_hash)), (_ACCOUNTS, (START_CASH,)),
            (_PORTFOLIOS, ()), (_INSTRUMENTS, ()), (bench_orders, ()), (_ORDERS, ()),
            (_FILLS, ()), (_EVENTS, ()), (_STREAM_SEQS, ()), (_TRADES, ()), (_POSITIONS, ()),
            (_HOLDINGS, ()), (_CASH, (START_CASH,)), (_TICKS, (sizes.tick_symbols,)),
            (_TICK_BARS, ()), (_TICK_RANGES, ()), (_NEWS, (sizes.news,)), (_NEWS_SYMBOLS, ())]


_USERS = """
INSERT INTO users (id, email, password_hash, created_at, email_verified_at)
SELECT gen_random_uuid(), 'bench-data-' || n || '@example.com', $2,
       now() - interval '60 days', now() - interval '60 days'
FROM generate_series(1, $1::int) AS n
"""

_ACCOUNTS = """
INSERT INTO accounts (id, user_id, broker, currency, cash, label)
SELECT gen_random_uuid(), id, 'paper', 'USD', $1::numeric, 'bench' FROM users
"""

_PORTFOLIOS = f"""
INSERT INTO portfolios (id, user_id, name, name_key, created_at)
SELECT gen_random_uuid(), u.id, 'Bench ' || p, 'bench ' || p, now() - interval '60 days'
FROM users u CROSS JOIN generate_series(1, {PORTFOLIOS_PER_USER}) AS p
"""

_INSTRUMENTS = f"""
INSERT INTO instruments (symbol, name, exchange, currency, tick_size, lot_size, segment)
SELECT 'BD' || lpad(n::text, 5, '0'), 'Bench Data ' || n || ' Industries', 'NASDAQ', 'USD',
       0.01, 1, 'EQ'
FROM generate_series(1, {EXTRA_INSTRUMENTS}) AS n
"""

# Order i of the whole set is user (i % users)'s j-th order, j = i / users; its symbol cycles
# over the USD instruments with quotes, and every third order of a user on a symbol sells.
_BENCH_ORDERS = f"""
CREATE TEMP TABLE bench_orders ON COMMIT DROP AS
WITH book AS (
  SELECT row_number() OVER (ORDER BY u.created_at, u.email) - 1 AS u, u.id AS user_id,
         a.id AS account_id
  FROM users u JOIN accounts a ON a.user_id = u.id),
syms AS (
  SELECT row_number() OVER (ORDER BY q.symbol) - 1 AS k, q.symbol, q.last
  FROM quotes q JOIN instruments i USING (symbol) WHERE i.currency = 'USD'),
counted AS (SELECT count(*) AS k FROM syms),
numbered AS (
  SELECT n AS i, n % $1::int AS u, n / $1::int AS j
  FROM generate_series(0, $1::int * {ORDERS_PER_USER} - 1) AS n)
SELECT gen_random_uuid() AS id, b.user_id, b.account_id, s.symbol,
       CASE WHEN (o.j / c.k) % 3 = 2 THEN 'SELL' ELSE 'BUY' END AS side,
       round(s.last * (1000 + o.i % 21 - 10) / 1000, 2) AS price,
       now() - interval '30 days' + o.i * (interval '30 days' / ($1::int * {ORDERS_PER_USER}))
         AS created_at
FROM numbered o CROSS JOIN counted c
JOIN book b ON b.u = o.u JOIN syms s ON s.k = o.j % c.k
"""

_ORDERS = f"""
INSERT INTO orders (id, user_id, account_id, symbol, side, order_type, quantity, price,
                    time_in_force, broker, status, filled_quantity, avg_fill_price,
                    filled_notional, version, created_at, updated_at)
SELECT id, user_id, account_id, symbol, side, 'LIMIT', {QUANTITY}, price, 'DAY', 'paper',
       'FILLED', {QUANTITY}, price, {QUANTITY} * price, 2, created_at,
       created_at + interval '5 milliseconds'
FROM bench_orders
"""

_FILLS = f"""
INSERT INTO fills (id, order_id, user_id, account_id, broker, broker_exec_id, symbol, side,
                   quantity, price, executed_at, created_at)
SELECT gen_random_uuid(), id, user_id, account_id, 'paper', 'bench-' || id, symbol, side,
       {QUANTITY}, price, created_at + interval '5 milliseconds',
       created_at + interval '5 milliseconds'
FROM bench_orders
"""

# Two events an order (accepted, then filled), in each user's stream order.
_EVENTS = """
INSERT INTO order_events (order_id, user_id, version, from_status, to_status, created_at, actor,
                          seq)
SELECT o.id, o.user_id, e.version, e.from_status, e.to_status,
       o.created_at + e.version * interval '2 milliseconds', 'bench',
       row_number() OVER (PARTITION BY o.user_id ORDER BY o.created_at, o.id, e.version)
FROM bench_orders o CROSS JOIN (VALUES (1, NULL, 'ACCEPTED'), (2, 'ACCEPTED', 'FILLED'))
  AS e (version, from_status, to_status)
"""

_STREAM_SEQS = f"""
INSERT INTO stream_seqs (user_id, seq)
SELECT id, {ORDERS_PER_USER} * 2 FROM users
"""

# Trade j of a user: a symbol cycling over the same instruments, alternately bought and sold.
_TRADES = f"""
WITH book AS (
  SELECT row_number() OVER (ORDER BY u.created_at, u.email) - 1 AS u, u.id AS user_id,
         a.id AS account_id
  FROM users u JOIN accounts a ON a.user_id = u.id),
syms AS (
  SELECT row_number() OVER (ORDER BY q.symbol) - 1 AS k, q.symbol, q.last
  FROM quotes q JOIN instruments i USING (symbol) WHERE i.currency = 'USD'),
counted AS (SELECT count(*) AS k FROM syms)
INSERT INTO trades (id, user_id, account_id, symbol, side, quantity, price, executed_at,
                    brokerage_charge, type, source, created_at, updated_at)
SELECT gen_random_uuid(), b.user_id, b.account_id, s.symbol,
       CASE WHEN t.j % 2 = 0 THEN 'BUY' ELSE 'SELL' END, {TRADE_QUANTITY},
       round(s.last * (1000 + t.j % 11 - 5) / 1000, 2),
       now() - interval '45 days' + t.j * interval '1 hour', 20, 'eq', 'manual',
       now() - interval '45 days', now() - interval '45 days'
FROM book b CROSS JOIN generate_series(0, {TRADES_PER_USER} - 1) AS t (j)
CROSS JOIN counted c JOIN syms s ON s.k = t.j % c.k
"""

# A position is the signed sum of its fills and trades at the average buying price.
_POSITIONS = """
WITH booked AS (
  SELECT account_id, user_id, symbol, side, quantity, price FROM fills
  UNION ALL
  SELECT account_id, user_id, symbol, side, quantity, price FROM trades)
INSERT INTO positions (account_id, symbol, user_id, quantity, avg_price, realized_pnl)
SELECT account_id, symbol, user_id,
       sum(CASE WHEN side = 'BUY' THEN quantity ELSE -quantity END),
       round(sum(quantity * price) FILTER (WHERE side = 'BUY')
             / sum(quantity) FILTER (WHERE side = 'BUY'), 8),
       0
FROM booked GROUP BY account_id, user_id, symbol
"""

_HOLDINGS = """
INSERT INTO holdings (user_id, account_id, symbol, exchange, quantity, t1_quantity, avg_price,
                      trading_day)
SELECT p.user_id, p.account_id, p.symbol, i.exchange, p.quantity, 0, p.avg_price,
       current_date - 1
FROM positions p JOIN instruments i USING (symbol)
"""

# Cash moved by every fill and trade (and the trades' charges) from the starting cash.
_CASH = """
WITH moved AS (
  SELECT account_id, CASE WHEN side = 'BUY' THEN -quantity * price ELSE quantity * price END
    AS amount FROM fills
  UNION ALL
  SELECT account_id, CASE WHEN side = 'BUY' THEN -quantity * price ELSE quantity * price END
    - brokerage_charge - mtf_charge FROM trades)
UPDATE accounts a SET cash = $1::numeric + m.total
FROM (SELECT account_id, sum(amount) AS total FROM moved GROUP BY account_id) m
WHERE m.account_id = a.id
"""

# One tick a second per symbol, the last one now, inserted in time order (the BRIN on ts).
_TICKS = f"""
WITH syms AS (
  SELECT row_number() OVER (ORDER BY q.symbol IS NULL, i.symbol) - 1 AS k, i.symbol,
         coalesce(q.last, 50 + (row_number() OVER (ORDER BY i.symbol)) % 200) AS base
  FROM instruments i LEFT JOIN quotes q USING (symbol)),
picked AS (SELECT * FROM syms WHERE k < $1::int),
clock AS (SELECT date_trunc('second', now()) AS now)
INSERT INTO ticks (symbol, ts, ltp, ltq, buyprice, buyqty, sellprice, sellqty, openinterest)
SELECT p.symbol, c.now - ({TICKS_PER_SYMBOL} - 1 - n) * interval '1 second',
       round(p.base * (1 + 0.02 * sin(n / 600.0))::numeric, 2),
       1 + n % 100,
       round(p.base * (1 + 0.02 * sin(n / 600.0))::numeric, 2) - 0.01, 100,
       round(p.base * (1 + 0.02 * sin(n / 600.0))::numeric, 2) + 0.01, 100, 0
FROM generate_series(0, {TICKS_PER_SYMBOL} - 1) AS n CROSS JOIN picked p CROSS JOIN clock c
ORDER BY n, p.k
"""

# What migration 0027's insert trigger would have stored: its backfill, in key order.
_TICK_BARS = """
INSERT INTO tick_bars_1m (symbol, minute, open, high, low, close, volume, ticks, first_ts,
                          last_ts)
SELECT symbol, date_bin(interval '1 minute', ts, timestamptz '1970-01-01 00:00:00+00'),
       (min(ARRAY[extract(epoch FROM ts), ltp]))[2], max(ltp), min(ltp),
       (max(ARRAY[extract(epoch FROM ts), ltp]))[2], sum(ltq), count(*), min(ts), max(ts)
FROM ticks
GROUP BY 1, 2
ORDER BY 1, 2
"""

_TICK_RANGES = """
INSERT INTO tick_ranges (symbol, first_ts, last_ts, tick_count)
SELECT symbol, min(ts), max(ts), count(*) FROM ticks GROUP BY symbol
"""

_NEWS = """
INSERT INTO news_articles (id, guid, title, summary, source, published_at, origin, created_at)
SELECT gen_random_uuid(), 'bench-' || n, 'Bench headline ' || n, 'Bench summary ' || n,
       'bench', now() - n * interval '1 minute', 'feed', now()
FROM generate_series(1, $1::int) AS n
"""

# Each article names one of the symbols that have ticks.
_NEWS_SYMBOLS = """
WITH syms AS (SELECT row_number() OVER (ORDER BY symbol) - 1 AS k, symbol FROM tick_ranges),
counted AS (SELECT count(*) AS k FROM syms)
INSERT INTO news_symbols (article_id, symbol, published_at)
SELECT a.id, s.symbol, a.published_at
FROM news_articles a CROSS JOIN counted c
JOIN syms s ON s.k = (hashtext(a.guid) & 2147483647) % c.k
"""
