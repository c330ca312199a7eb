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

# One command publishes a whole batch: per order its newest snapshot into the results cache
# (concurrent workers may publish the same order out of order, so the cache keeps the newest
# version), and every step appended to its owner's stream. KEYS are taken in turn by the ops in
# ARGV after the TTL and the stream cap: "C" version user_id body (the cache) or
# "X" n field value ... (a stream entry of n fields).
_PUBLISH = """
local ttl, maxlen = ARGV[1], ARGV[2]
local k, i = 1, 3
while i <= #ARGV do
  local key = KEYS[k]
  k = k + 1
  if ARGV[i] == 'C' then
    local current = redis.call('HGET', key, 'version')
    if not (current and tonumber(current) >= tonumber(ARGV[i + 1])) then
      redis.call('HSET', key, 'version', ARGV[i + 1], 'user_id', ARGV[i + 2], 'body', ARGV[i + 3])
      redis.call('EXPIRE', key, ttl)
    end
    i = i + 4
  else
    local n = tonumber(ARGV[i + 1])
    redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', unpack(ARGV, i + 2, i + 1 + 2 * n))
    i = i + 2 + 2 * n
  end
end
return 1
"""
# Orders per command: a sweeper's batch of hundreds is several short scripts, not one long one.
CHANGES_PER_COMMAND = 64


def order_cache_key(order_id: str) -> str:
    """Name the results-cache hash of one order."""
    return f"ordergate:order:{order_id}"


def user_stream_key(user_id: str) -> str:
    """Name the per-user event stream (a Redis stream, so a reader can resume by id)."""
    return f"ordergate:events:{user_id}"


async def publish_order_changes(redis: Redis, changes: Sequence[Change],
                                ttl_seconds: int) -> None:
    """Cache each order's newest snapshot and append every step to its owner's stream.

    One round trip, one command per CHANGES_PER_COMMAND orders (not one per step). The cache
    entry lives `ttl_seconds` after the order's last change, so a publish lost after a commit
    leaves a stale snapshot for at most that long. Every committed change passes here, so here
    its transitions are counted, even when Redis is down.
    """
    metrics.observe_changes(changes)
    commands = [_command(changes[start:start + CHANGES_PER_COMMAND], ttl_seconds)
                for start in range(0, len(changes), CHANGES_PER_COMMAND)]
    commands = [(keys, args) for keys, args in commands if keys]
    if len(commands) == 1:
        keys, args = commands[0]
        await redis.eval(_PUBLISH, len(keys), *keys, *args)
        return
    async with redis.pipeline(transaction=False) as pipe:
        for keys, args in commands:
            pipe.eval(_PUBLISH, len(keys), *keys, *args)
        await pipe.execute()


def _command(changes: Sequence[Change], ttl_seconds: int) -> tuple[list[str], list[Any]]:
    keys: list[str] = []
    args: list[Any] = [ttl_seconds, STREAM_MAXLEN]
    for change in changes:
        for step in change.steps:
            body = order_resource(step.order)
            user_id, snapshot = str(step.order.user_id), json.dumps(body)
            if step is change.steps[-1]:  # the steps before it would be overwritten at once
                keys.append(order_cache_key(body["id"]))
                args += ["C", step.order.version, user_id, snapshot]
            keys.append(user_stream_key(user_id))
            entry = ("type", "order", "order_id", body["id"], "version", str(step.order.version),
                     "from_status", step.from_status.value, "to_status", step.order.status.value,
                     "order", snapshot)
            args += ["X", len(entry) // 2, *entry]
    return keys, args


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
