"""The order dispatcher always stops, and what was submitted before stop() reaches Redis.

stop() is called at random moments while publishes complete, so it lands as a send finishes
(the moment Python 3.11's wait_for swallows a cancellation, bpo-42130).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared.messaging.enqueue import OrderDispatcher

ROUNDS = 300
STOP_BOUND_SECONDS = 10.0  # "does not hang", not a speed claim


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def _published_ids(redis: Redis, queue: str) -> list[str]:
    ids: list[str] = []
    for raw in await redis.lrange(queue, 0, -1):
        body = json.loads(base64.b64decode(json.loads(raw)["body"]))
        ids.extend(body[0][0])
    return ids


async def test_stop_returns_and_flushes_every_order_submitted_before_it(redis: Redis) -> None:
    rng = random.Random(42)
    queue = f"test-dispatch-{uuid.uuid4().hex}"
    submitted: list[str] = []
    try:
        for _ in range(ROUNDS):
            dispatcher = OrderDispatcher(redis, timeout=2.0)
            dispatcher.start()
            for _ in range(rng.randint(1, 3)):
                order_id = str(uuid.uuid4())
                dispatcher.submit(order_id, queue)
                submitted.append(order_id)
                # Let the loop start sending, then stop at a random point of the send.
                await asyncio.sleep(rng.uniform(0, 0.002))
            async with asyncio.timeout(STOP_BOUND_SECONDS):
                await dispatcher.stop()
            assert dispatcher.pending == 0
        published = await _published_ids(redis, queue)
        assert sorted(published) == sorted(submitted)
    finally:
        await redis.delete(queue)


async def test_stop_is_bounded_when_redis_hangs(redis: Redis) -> None:
    # A Redis that accepts the connection but never answers: the flush gives up in bounded
    # time and the orders are left to the sweeper (each order row is its own outbox).
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # hold the socket open, answer nothing
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hung = Redis.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        dispatcher = OrderDispatcher(hung, timeout=0.5)
        dispatcher.start()
        for _ in range(5):
            dispatcher.submit(str(uuid.uuid4()), "test-dispatch-hung")
        await asyncio.sleep(0.05)
        async with asyncio.timeout(STOP_BOUND_SECONDS):
            await dispatcher.stop()
    finally:
        await hung.aclose(close_connection_pool=True)
        server.close()
        await server.wait_closed()
