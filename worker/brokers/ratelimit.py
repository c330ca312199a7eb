"""The outbound request budget of each (broker, account), enforced in Redis across processes.

Brokers count requests per user in windows (Kite: 10 a second and 200 a minute), and answer
429 beyond them. We keep a sliding-window log: one sorted set per (broker, account) holding the
Redis-clock time of every request granted in the last minute. A request is granted only if
fewer than `per_second` entries fall in the last second AND fewer than `per_minute` in the last
minute; the check and the append are one Lua script, so concurrent workers can never overshoot.

Why a log and not GCRA or a token bucket: those allow a full burst plus the refill within one
window (up to twice the budget in some 60-second span), which a broker counting strict windows
would answer with 429s. The log never holds more than `per_minute` entries, and when a request
is refused the answer is exact: the time until the entry that blocks it leaves its window.
A refused request adds nothing, so callers that wait and ask again do not starve each other.

After a broker's 429, `penalize` parks that (broker, account) alone for the time the broker
asked; every key expires on its own, so a gone deployment leaves nothing behind.
"""

from __future__ import annotations

import math

from redis.asyncio import Redis

from shared.brokers.catalog import Broker, RateLimit

SECOND_MS = 1000
MINUTE_MS = 60_000

# KEYS log, penalty; ARGV per_second, per_minute, SECOND_MS, MINUTE_MS.
# Returns 0 if a slot was taken, else the milliseconds to wait.
# Scores are Redis-clock milliseconds to the microsecond (a double holds them to ~0.25 µs).
_ACQUIRE = """
local penalty = redis.call('PTTL', KEYS[2])
if penalty > 0 then return penalty end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local function wait_for(window, limit)
  -- An entry counts while now - window < score; the (count - limit + 1)th oldest must leave.
  local since = '(' .. string.format('%.3f', now - window)
  local count = redis.call('ZCOUNT', KEYS[1], since, '+inf')
  if count < limit then return 0 end
  local blocker = redis.call('ZRANGEBYSCORE', KEYS[1], since, '+inf', 'WITHSCORES',
                             'LIMIT', count - limit, 1)
  return math.max(1, math.ceil(tonumber(blocker[2]) + window - now))
end
local second, minute = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.3f', now - minute))
local wait = math.max(wait_for(second, tonumber(ARGV[1])), wait_for(minute, tonumber(ARGV[2])))
if wait > 0 then return wait end
-- The set's size makes the member unique even for two grants in the same microsecond.
local stamp = string.format('%.3f', now)
redis.call('ZADD', KEYS[1], stamp, stamp .. '/' .. redis.call('ZCARD', KEYS[1]))
redis.call('PEXPIRE', KEYS[1], minute + second)
return 0
"""

# KEYS penalty; ARGV ms. A shorter penalty never cuts a longer one short.
_PENALIZE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
"""


class RateLimiter:
    """Take request slots from each (broker, account) budget that all workers share."""

    def __init__(self, redis: Redis, prefix: str = "ordergate:ratelimit") -> None:
        self._prefix = prefix
        self._acquire = redis.register_script(_ACQUIRE)
        self._penalize = redis.register_script(_PENALIZE)

    def _keys(self, broker: Broker, account_id: str) -> list[str]:
        # The hash tag keeps both keys of one account in one Redis Cluster slot (a script's
        # keys must share a slot).
        base = f"{self._prefix}:{{{broker.value}:{account_id}}}"
        return [f"{base}:log", f"{base}:penalty"]

    async def acquire(self, broker: Broker, account_id: str, limit: RateLimit) -> float:
        """Take a request slot and return 0.0, or return the seconds to wait, taking nothing."""
        if limit.per_second < 1 or limit.per_minute < 1:
            raise ValueError(f"a rate limit needs at least one request per window, was {limit}")
        wait_ms = await self._acquire(
            keys=self._keys(broker, account_id),
            args=[limit.per_second, limit.per_minute, SECOND_MS, MINUTE_MS])
        return int(wait_ms) / 1000

    async def penalize(self, broker: Broker, account_id: str, seconds: float) -> None:
        """Make this (broker, account) wait `seconds` (a broker's 429); others are unaffected."""
        ms = math.ceil(seconds * 1000)
        if ms <= 0:
            return  # "retry now" from the broker: nothing to wait for
        await self._penalize(keys=self._keys(broker, account_id)[1:], args=[ms])
