"""Publish order changes to Redis: the results cache and each user's event stream."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from shared import metrics
from shared.domain.orders import Change
from shared.messaging.order_view import order_resource

STREAM_MAXLEN = 10_000

# Concurrent workers may publish the same order out of order; the cache keeps the newest version.
_SET_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], 'version')
if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'user_id', ARGV[2], 'body', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


def order_cache_key(order_id: str) -> str:
    """Name the results-cache hash of one order."""
    return f"ordergate:order:{order_id}"


def user_stream_key(user_id: str) -> str:
    """Name the per-user event stream (a Redis stream, so a reader can resume by id)."""
    return f"ordergate:events:{user_id}"


async def publish_order_changes(redis: Redis, changes: Sequence[Change],
                                ttl_seconds: int) -> None:
    """Cache each order's newest snapshot and append every step to its owner's stream.

    One round trip. The cache entry lives `ttl_seconds` after the order's last change, so a
    publish lost after a commit leaves a stale snapshot for at most that long. Every committed
    change passes here, so here its transitions are counted, even when Redis is down.
    """
    metrics.observe_changes(changes)
    async with redis.pipeline(transaction=False) as pipe:
        for change in changes:
            for step in change.steps:
                body = order_resource(step.order)
                user_id, snapshot = str(step.order.user_id), json.dumps(body)
                if step is change.steps[-1]:  # the steps before it would be overwritten at once
                    pipe.eval(_SET_IF_NEWER, 1, order_cache_key(body["id"]), step.order.version,
                              user_id, snapshot, ttl_seconds)
                pipe.xadd(user_stream_key(user_id), {
                    "type": "order", "order_id": body["id"], "version": str(step.order.version),
                    "from_status": step.from_status.value, "to_status": step.order.status.value,
                    "order": snapshot}, maxlen=STREAM_MAXLEN, approximate=True)
        await pipe.execute()


async def forget_orders(redis: Redis, changes: Sequence[Change]) -> None:
    """Drop cached snapshots whose newer version could not be published (GET reads the DB)."""
    await redis.delete(*{order_cache_key(str(change.before.id)) for change in changes})


async def cached_order(redis: Redis, order_id: str, user_id: str) -> dict[str, Any] | None:
    """Return the cached order resource if this user owns it, else None."""
    owner, body = await redis.hmget(order_cache_key(order_id), ["user_id", "body"])
    if body is None or owner is None or _text(owner) != user_id:
        return None
    resource: dict[str, Any] = json.loads(body)
    return resource


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
