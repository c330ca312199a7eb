"""A submit task works the submits queued right behind its own message in the same batch: fewer
transactions and Celery deliveries under load, with nothing lost when the worker dies holding
messages it took, and nothing else in the queue taken or reordered."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.messaging import tasks
from shared.messaging.enqueue import celery_message
from tests.integration.ending import (  # noqa: F401 - the fixtures
    RESTING_BUY,
    place,
    quotes_fixture,
    runtime_fixture,
)
from worker.handlers import submit, sweep
from worker.runtime import Runtime

pytestmark = pytest.mark.integration
QUEUE = tasks.ORDERS_QUEUE
MARKET_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "MARKET", "quantity": "1"}


async def _queued_ids(redis: Redis) -> list[list[str]]:
    """The order ids of each message in the queue, the next one (the right end) first."""
    bodies = [json.loads(base64.b64decode(json.loads(raw)["body"]))
              for raw in reversed(await redis.lrange(QUEUE, 0, -1))]
    return [args[0] if isinstance(args[0], list) else [args[0]] for args, _, _ in bodies]


async def _placed(client: httpx.AsyncClient, auth: dict[str, str], redis: Redis,
                  count: int, *others: dict[str, str]) -> list[str]:
    """Place `count` market BUYs and then `others`, wait for the dispatcher's messages, then
    empty the queue, so that the test queues its own."""
    ids = [await place(client, auth, **body) for body in [MARKET_BUY] * count + list(others)]
    async with asyncio.timeout(10):
        while not set(ids) <= {i for message in await _queued_ids(redis) for i in message}:
            await asyncio.sleep(0.02)
    await redis.delete(QUEUE)
    return ids


async def _statuses(engine: AsyncEngine, ids: list[str]) -> list[str]:
    async with engine.connect() as conn:
        rows: dict[str, str] = dict((await conn.execute(
            text("SELECT id::text, status FROM orders WHERE id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": ids})).all())
    return [rows[order_id] for order_id in ids]


async def _fills(engine: AsyncEngine, ids: list[str]) -> dict[str, int]:
    async with engine.connect() as conn:
        rows: dict[str, int] = dict((await conn.execute(
            text("SELECT order_id::text, count(*) FROM fills"
                 " WHERE order_id = ANY(CAST(:ids AS uuid[])) GROUP BY order_id"),
            {"ids": ids})).all())
    return {order_id: rows.get(order_id, 0) for order_id in ids}


def _submit(*ids: str) -> bytes:
    return celery_message(tasks.SUBMIT_ORDERS, [list(ids)], QUEUE)


async def test_the_submits_next_in_line_go_in_the_same_batch_and_the_rest_keeps_its_place(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
) -> None:
    redis: Redis = runtime.redis
    own, a, b, c, d, resting = await _placed(client, auth, redis, 5, RESTING_BUY)
    cancel = celery_message(tasks.CANCEL_ORDER, [resting], QUEUE)
    expiring = celery_message(tasks.SUBMIT_ORDERS, [[d]], QUEUE, expires_in=60)
    # As the API queues them (LPUSH); kombu's BRPOP serves the other end, a first.
    await redis.lpush(QUEUE, _submit(a), _submit(b, c), cancel, _submit(d), expiring)

    assert await submit.submit_queued(runtime, [own]) == 4

    assert await _statuses(engine, [own, a, b, c, d]) == ["FILLED"] * 4 + ["PENDING_NEW"]
    # The cancel stops the taking: it and all behind it are left, in their order, for Celery.
    assert await _queued_ids(redis) == [[resting], [d], [d]]


async def test_a_batch_takes_no_more_orders_than_its_cap_and_never_splits_a_message(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    redis: Redis = runtime.redis
    own, a, b, c = await _placed(client, auth, redis, 4)
    monkeypatch.setattr(runtime.settings, "worker_batch_orders", 3)
    await redis.lpush(QUEUE, _submit(a), _submit(b, c))

    assert await submit.submit_queued(runtime, [own]) == 2

    assert await _statuses(engine, [own, a, b, c]) == ["FILLED", "FILLED", "PENDING_NEW",
                                                         "PENDING_NEW"]
    assert await _queued_ids(redis) == [[b, c]]


async def test_a_worker_that_dies_holding_taken_messages_loses_none_of_their_orders(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    redis: Redis = runtime.redis
    own, a, b = await _placed(client, auth, redis, 3)
    await redis.lpush(QUEUE, _submit(a), _submit(b))

    async def dies(_runtime: Runtime, _ids: list[str]) -> int:
        raise SystemExit("killed before the batch committed")

    monkeypatch.setattr(submit, "submit_orders", dies)
    with pytest.raises(SystemExit):
        await submit.submit_queued(runtime, [own])
    monkeypatch.undo()
    assert await redis.llen(QUEUE) == 0  # the taken messages are gone from Redis
    assert await _statuses(engine, [own, a, b]) == ["PENDING_NEW"] * 3

    # Celery redelivers the task's own message; the sweeper re-drives the rest once due.
    assert await submit.submit_queued(runtime, [own]) == 1
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE orders SET next_dispatch_at = now()"
                                " WHERE id = ANY(CAST(:ids AS uuid[]))"),
                           {"ids": [own, a, b]})
    await sweep.sweep(runtime)
    await redis.lpush(QUEUE, _submit(a, b))  # a late duplicate delivery changes nothing
    assert await submit.submit_queued(runtime, [str(uuid.uuid4())]) == 0

    assert await _statuses(engine, [own, a, b]) == ["FILLED"] * 3
    assert await _fills(engine, [own, a, b]) == {own: 1, a: 1, b: 1}
