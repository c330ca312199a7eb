"""Worker liveness through Redis: workers beat, the API counts who beat recently."""

from __future__ import annotations

import time

from redis import Redis as SyncRedis
from redis.asyncio import Redis

WORKERS_KEY = "ordergate:workers"
STALE_AFTER_SECONDS = 15.0
BEAT_EVERY_SECONDS = 5.0


def beat(redis: SyncRedis, worker_name: str) -> None:
    """Record that this worker is alive now."""
    redis.zadd(WORKERS_KEY, {worker_name: time.time()})


def leave(redis: SyncRedis, worker_name: str) -> None:
    """Remove this worker at a clean shutdown."""
    redis.zrem(WORKERS_KEY, worker_name)


async def workers_online(redis: Redis) -> list[str]:
    """Return the workers that beat within the staleness window."""
    since = time.time() - STALE_AFTER_SECONDS
    names = await redis.zrangebyscore(WORKERS_KEY, since, "+inf")
    return [name.decode() if isinstance(name, bytes) else str(name) for name in names]
