"""The Celery queues of a deployment and how many messages wait in each (Redis lists)."""

from __future__ import annotations

from typing import Final

from redis.asyncio import Redis

from shared.brokers.catalog import REAL_BROKERS, queue_for
from shared.messaging import tasks

# Paper orders, housekeeping, then one queue per real broker.
QUEUES: Final = (tasks.ORDERS_QUEUE, tasks.DEFAULT_QUEUE,
                 *(queue_for(broker) for broker in sorted(REAL_BROKERS)))


async def depths(redis: Redis) -> dict[str, int]:
    """Messages waiting in each queue, read in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            pipe.llen(queue)
        counts = await pipe.execute()
    return {queue: int(count) for queue, count in zip(QUEUES, counts, strict=True)}
