"""The matching figure of `make bench`: quotes per second the paper exchange matches with
10,000 and then 100,000 resting orders across 100 symbols.

The book is built the way users build it: each order is inserted by the API's own statement
(reservation, row and first event in one) and submitted by the worker's own handler, so every
order rests through the domain with its `order_triggers` row kept in step. Orders sit 0.1% to
3% away from the touch (limits, stops, stop limits, trailing stops; both sides), so the walk
of the quotes reaches a few of them per quote, as a live book does.

Two figures per book size:
- in-process: one connection runs `match_symbol` after each new quote (quote write excluded),
  round robin over the symbols: the cost of matching one quote.
- the worker: ticks of all 100 symbols are committed back to back and the paper.match doorbell
  rung after each (none coalesced), one message per symbol, per ten symbols or per tick; the
  figure is symbol-quotes matched per second until the worker (2 processes) has answered
  every doorbell.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import asyncpg
from redis.asyncio import Redis

from shared.db.engine import make_engine
from shared.db.repositories import market, orders
from shared.domain.enums import OrderType, Side, TimeInForce
from shared.domain.risk import OrderRequest, reservation
from shared.settings import Settings
from worker.brokers.paper.doorbell import ring
from worker.handlers.matching import match_symbol
from worker.handlers.submit import submit_orders
from worker.runtime import Runtime
from worker.simulator import Walk, tick

SYMBOLS = 100
BOOKS = (10_000, 100_000)
INPROCESS_SECONDS = 8.0
WORKER_TICKS = 15
SEED = 20261201
BUILDERS = 4  # bench users building the book in parallel, each on its own symbols
DOORBELLS = (1, 10, 1000)  # symbols per paper.match message: one, ten, a whole tick
SUBMIT_BATCH = 500
DRAIN_TIMEOUT_S = 300.0
CENT = Decimal("0.01")
KINDS = ((OrderType.LIMIT, 70), (OrderType.STOP, 15), (OrderType.STOP_LIMIT, 5),
         (OrderType.TRAILING_STOP, 10))


@dataclass(frozen=True)
class Owner:
    """A bench user whose orders rest on its share of the symbols."""

    user_id: uuid.UUID
    account_id: uuid.UUID
    symbols: list[str]


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def bench_symbols(rng: random.Random) -> dict[str, Decimal]:
    """100 instruments between $5 and $600."""
    return {f"BM{n:03d}": _cents(Decimal(str(rng.uniform(5, 600)))) for n in range(SYMBOLS)}


async def seed(dsn: str, user_ids: Sequence[str], rng: random.Random) -> list[Owner]:
    """Create the instruments and quotes, share them out among the users, and give each user
    a huge position in its symbols (so SELLs can rest)."""
    symbols = bench_symbols(rng)
    names = sorted(symbols)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            "INSERT INTO instruments (symbol, name, exchange, currency, tick_size, lot_size)"
            " VALUES ($1, $2, 'NASDAQ', 'USD', 0.01, 1)",
            [(s, f"Bench instrument {s}") for s in names])
        await conn.executemany(
            "INSERT INTO quotes (symbol, bid, ask, last, bid_size, ask_size)"
            " VALUES ($1, $2, $3, $4, 1000, 1000)",
            [(s, mid - CENT, mid + CENT, mid) for s, mid in symbols.items()])
        owners = []
        for n, user_id in enumerate(user_ids):
            account_id = await conn.fetchval(
                "SELECT id FROM accounts WHERE user_id = $1 AND broker = 'paper'",
                uuid.UUID(user_id))
            mine = names[n::len(user_ids)]
            await conn.executemany(
                "INSERT INTO positions (account_id, symbol, user_id, quantity, avg_price)"
                " VALUES ($1, $2, $3, 1000000000, $4)",
                [(account_id, s, uuid.UUID(user_id), symbols[s]) for s in mine])
            owners.append(Owner(uuid.UUID(user_id), account_id, mine))
    finally:
        await conn.close()
    return owners


def _request(symbol: str, mid: Decimal, rng: random.Random) -> OrderRequest:
    kind = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
    side = rng.choice((Side.BUY, Side.SELL))
    away = Decimal(str(round(rng.uniform(0.001, 0.03), 5)))
    toward = -1 if (side is Side.BUY) == (kind is OrderType.LIMIT) else 1  # limits rest behind
    level = _cents(mid * (1 + toward * away))
    price = stop = trail = None
    if kind is OrderType.LIMIT:
        price = level
    elif kind is OrderType.STOP:
        stop = level
    elif kind is OrderType.STOP_LIMIT:
        stop, price = level, _cents(level * (Decimal("1.005") if side is Side.BUY
                                             else Decimal("0.995")))
    else:
        trail = (away * 100).quantize(Decimal("0.01"))
    return OrderRequest(symbol=symbol, side=side, order_type=kind,
                        quantity=Decimal(rng.randint(1, 5) * 100), price=price, stop_price=stop,
                        time_in_force=TimeInForce.GTC, trail_percent=trail)


async def grow(runtime: Runtime, owners: Sequence[Owner], count: int, rng: random.Random,
               mids: dict[str, Decimal]) -> float:
    """Add `count` resting orders, spread over the symbols; returns the seconds it took.

    One builder per owner, in parallel: owners share no account, position or quote row.
    """
    started = time.monotonic()
    per_owner = [[_new_order(owner, owner.symbols[i % len(owner.symbols)], rng, mids, runtime)
                  for i in range(count // len(owners))] for owner in owners]
    await asyncio.gather(*(_build(runtime, new) for new in per_owner))
    return time.monotonic() - started


def _new_order(owner: Owner, symbol: str, rng: random.Random, mids: dict[str, Decimal],
               runtime: Runtime) -> orders.NewOrder:
    req = _request(symbol, mids[symbol], rng)
    return orders.NewOrder(
        id=uuid.uuid4(), user_id=owner.user_id, broker="paper", account_id=None, product=None,
        broker_tag=None, request=req, client_order_id=None, idempotency_key=None,
        request_hash=None,
        reserve_cash=reservation(req, mids[symbol] + CENT, runtime.settings.market_order_cushion),
        dispatch_grace_seconds=3600)


async def _build(runtime: Runtime, new: Sequence[orders.NewOrder]) -> None:
    """Insert with the API's statement, submit with the worker's handler, batch by batch."""
    for i in range(0, len(new), SUBMIT_BATCH):
        batch = new[i:i + SUBMIT_BATCH]
        async with runtime.engine.begin() as conn:
            for order in batch:
                assert await orders.insert_order(conn, order) is not None, "reservation failed"
        await submit_orders(runtime, [str(order.id) for order in batch])


async def _mids(runtime: Runtime, owners: Sequence[Owner]) -> dict[str, Decimal]:
    async with runtime.engine.connect() as conn:
        quotes = await market.lock_quotes(conn, [s for owner in owners for s in owner.symbols])
    return {symbol: row["last"] for symbol, row in quotes.items()}


async def _resting(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT direction, count(*) AS n FROM order_triggers t"
                                " JOIN orders o ON o.id = t.order_id WHERE o.symbol LIKE 'BM%'"
                                " GROUP BY direction")
        changed = await conn.fetchval("SELECT count(*) FROM fills WHERE symbol LIKE 'BM%'")
    finally:
        await conn.close()
    return {**{str(r["direction"]): r["n"] for r in rows}, "fills_so_far": changed}


async def in_process(runtime: Runtime, names: Sequence[str], walk: Walk) -> dict[str, Any]:
    """Quotes matched per second by one connection, round robin over the symbols."""
    matched = changed = 0
    busy = 0.0
    deadline = time.monotonic() + INPROCESS_SECONDS
    while time.monotonic() < deadline:
        symbol = names[matched % len(names)]
        async with runtime.engine.begin() as conn:
            q = walk.next((await market.lock_quotes(conn, [symbol]))[symbol])
            await market.set_quote(conn, symbol, q.bid, q.ask, q.last, bid_size=q.bid_size,
                                   ask_size=q.ask_size)
        started = time.perf_counter()
        changed += await match_symbol(runtime, symbol)
        busy += time.perf_counter() - started
        matched += 1
    return {"quotes": matched, "orders_changed": changed, "match_s": round(busy, 2),
            "quotes_per_s": round(matched / busy, 1) if busy else None,
            "ms_per_quote": round(1000 * busy / matched, 2) if matched else None,
            "changed_per_quote": round(changed / matched, 1) if matched else None,
            "ms_per_changed_order": round(1000 * busy / changed, 2) if changed else None}


async def through_worker(runtime: Runtime, names: Sequence[str], walk: Walk,
                         per_message: int) -> dict[str, Any]:
    """Symbol-quotes per second the worker matches when ticks ring its doorbell."""
    redis: Redis = runtime.redis
    started = time.monotonic()
    messages = quotes = 0
    for _ in range(WORKER_TICKS):
        moved = [s for s in await tick(runtime.engine, walk) if s in names]  # the bench's
        # Every doorbell rung, none coalesced: the worker's capacity, message style by style.
        messages += await ring(redis, moved, per_message, coalesce=False)
        quotes += len(moved)
    produced = time.monotonic() - started
    await _drained(redis)
    elapsed = time.monotonic() - started
    return {"per_message": per_message, "messages": messages, "symbol_quotes": quotes,
            "produce_s": round(produced, 2), "drain_s": round(elapsed, 2),
            "quotes_per_s": round(quotes / elapsed, 1)}


async def _drained(redis: Redis) -> None:
    """Until the orders queue is empty and no message is still unacknowledged (acks_late)."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        if not await redis.llen("orders") and not await redis.hlen("unacked"):
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"the worker did not drain the doorbells in {DRAIN_TIMEOUT_S:.0f}s")


async def run(env: dict[str, str], dsn: str, user_ids: Sequence[str]) -> dict[str, Any]:
    """Both book sizes, both figures each."""
    rng = random.Random(SEED)
    settings = Settings(database_url=env["DATABASE_URL"], redis_url=env["REDIS_URL"],
                        paper_always_open=True, db_statement_timeout_seconds=60,
                        # Above the statement timeout, as the settings require of any process.
                        request_timeout_seconds=120)
    runtime = Runtime(settings, engine=make_engine(settings, pool_size=len(user_ids) + 1))
    walk = Walk(SEED)
    results: dict[str, Any] = {"symbols": SYMBOLS}
    try:
        owners = await seed(dsn, user_ids, rng)
        names = sorted(s for owner in owners for s in owner.symbols)
        resting = 0
        for size in BOOKS:
            print(f"==> matching: building a book of {size:,} resting orders", flush=True)
            built = await grow(runtime, owners, size - resting, rng,
                               await _mids(runtime, owners))
            resting = size
            figures: dict[str, Any] = {"build_s": round(built, 1),
                                       "book": await _resting(dsn)}
            print(f"==> matching: {size:,} resting, in-process", flush=True)
            figures["in_process"] = await in_process(runtime, names, walk)
            for per_message in DOORBELLS:
                print(f"==> matching: {size:,} resting, worker, {per_message} symbol(s)"
                      " per doorbell", flush=True)
                figures[f"worker_{per_message}"] = await through_worker(runtime, names, walk,
                                                                         per_message)
            results[str(size)] = figures
    finally:
        await runtime.engine.dispose()
        await runtime.redis.aclose()
    return results
