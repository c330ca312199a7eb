"""An account's orders per second, counted in Redis so that every API process shares it.

A sliding-window log, as the brokers' request budgets (worker/brokers/ratelimit.py): a sorted
set per account holds the Redis-clock time of each order let through in the last second; the
check and the append are one Lua script, so concurrent requests in any number of processes
never let more than the limit through in any one-second span (a fixed window would allow twice
the limit across a boundary). Redis rather than PostgreSQL: counting recent orders in SQL
cannot see the orders other requests are inserting at the same moment without a lock on the
account that every order would then queue for.
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

WINDOW_US = 1_000_000
PREFIX = "ordergate:order-rate"

# KEYS log; ARGV limit, window (µs). Returns 0 when let through (and logged), else the
# microseconds until the oldest entry in the way leaves the window.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local blocker = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  return math.max(1, tonumber(blocker[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, now .. '/' .. count)
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
return 0
"""


class OrderRate:
    """Let an account's orders through at most `limit` in any second."""

    def __init__(self, redis: Redis) -> None:
        self._take = redis.register_script(_TAKE)

    async def take(self, account_id: uuid.UUID, limit: int) -> float:
        """Count one order and return 0.0, or return the seconds to wait, counting nothing."""
        if limit < 1:
            raise ValueError(f"an order rate needs at least one order a second, was {limit}")
        wait_us = await self._take(keys=[f"{PREFIX}:{account_id}"], args=[limit, WINDOW_US])
        return int(wait_us) / 1_000_000
