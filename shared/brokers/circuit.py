"""A per-broker circuit breaker whose state lives in Redis, shared by every worker process.

After `failure_threshold` consecutive failures a broker's circuit opens: callers are told to
wait instead of calling a broker that is down, so an order fails fast with a definite "not
sent" rather than a timeout whose outcome is unknown. After `reset_seconds` exactly one caller
gets a half-open probe; its success closes the circuit, its failure opens it again. A probe
whose caller never reports (the process died) is presumed lost after another `reset_seconds`,
and the next caller gets a new probe, so a crash cannot wedge a broker's circuit open.

Each transition is one Lua script, timed by Redis's own clock (`TIME`), so every machine sees
the same deadlines whatever its local clock says. Only broker trouble should be recorded as a
failure: a business rejection (insufficient margin, unknown symbol) shows the broker is up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from shared.brokers.catalog import Broker
from shared.settings import Settings

# A circuit untouched this long is forgotten (its key expires): stale failure counts do not
# carry over to another day, and a deployment that is gone leaves nothing behind.
IDLE_EXPIRY_SECONDS = 3600
DEFAULT_PREFIX = "ordergate:circuit"

# Fields of a circuit's hash: state ("closed" | "open" | "half_open"; absent = closed),
# failures (consecutive), until (Redis-clock ms: end of the open period, or of the probe's lease).
_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1] circuit; ARGV reset_ms, expiry_ms. Returns {1, 0} to go ahead, else {0, wait_ms}.
_ALLOW = _NOW_MS + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'closed' then return {1, 0} end
local deadline = tonumber(redis.call('HGET', KEYS[1], 'until'))
if now < deadline then return {0, deadline - now} end
-- The open period is over (or a probe's caller never reported): this caller alone probes.
redis.call('HSET', KEYS[1], 'state', 'half_open',
           'until', string.format('%d', now + tonumber(ARGV[1])))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, 0}
"""

# KEYS[1] circuit; ARGV threshold, reset_ms, expiry_ms. Returns the consecutive failures.
_FAILURE = _NOW_MS + """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if state == 'half_open' or (state == 'closed' and failures >= tonumber(ARGV[1])) then
  redis.call('HSET', KEYS[1], 'state', 'open',
             'until', string.format('%d', now + tonumber(ARGV[2])))
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return failures
"""

# KEYS circuits. Returns per key {state, failures, ms until its deadline (or -1 if none)}.
_STATUS = _NOW_MS + """
local out = {}
for i, key in ipairs(KEYS) do
  local fields = redis.call('HMGET', key, 'state', 'failures', 'until')
  local remaining = -1
  if fields[3] then remaining = math.max(tonumber(fields[3]) - now, 0) end
  out[i] = {fields[1] or 'closed', tonumber(fields[2] or '0'), remaining}
end
return out
"""


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class CircuitStatus:
    """A broker's circuit as the API shows it; `retry_in_seconds` is None while closed."""

    broker: Broker
    state: CircuitState
    consecutive_failures: int
    retry_in_seconds: float | None


class CircuitBreaker:
    """Gate calls to each broker on the circuit state all worker processes share in Redis."""

    def __init__(self, redis: Redis, *, failure_threshold: int = 3, reset_seconds: float = 10.0,
                 prefix: str = DEFAULT_PREFIX) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure threshold must be at least 1, was {failure_threshold}")
        if reset_seconds <= 0:
            raise ValueError(f"reset seconds must be positive, was {reset_seconds}")
        self._redis = redis
        self._threshold = failure_threshold
        self._reset_ms = max(1, math.ceil(reset_seconds * 1000))
        self._expiry_ms = 2 * self._reset_ms + IDLE_EXPIRY_SECONDS * 1000
        self._prefix = prefix
        self._allow = redis.register_script(_ALLOW)
        self._failure = redis.register_script(_FAILURE)
        self._status = redis.register_script(_STATUS)

    @classmethod
    def from_settings(cls, redis: Redis, settings: Settings, *,
                      prefix: str = DEFAULT_PREFIX) -> CircuitBreaker:
        """Build a breaker with the threshold and reset time the deployment configured."""
        return cls(redis, failure_threshold=settings.circuit_failure_threshold,
                   reset_seconds=settings.circuit_reset_seconds, prefix=prefix)

    def _key(self, broker: Broker) -> str:
        return f"{self._prefix}:{broker.value}"

    async def allow(self, broker: Broker) -> float | None:
        """Return None if a call may go now (closed, or as the probe), else seconds to wait."""
        allowed, wait_ms = await self._allow(keys=[self._key(broker)],
                                             args=[self._reset_ms, self._expiry_ms])
        return None if int(allowed) else int(wait_ms) / 1000

    async def record_success(self, broker: Broker) -> None:
        """Close the broker's circuit and forget its failures: the broker answered."""
        await self._redis.delete(self._key(broker))

    async def record_failure(self, broker: Broker) -> None:
        """Count a failure; open the circuit at the threshold, or again after a failed probe."""
        await self._failure(keys=[self._key(broker)],
                            args=[self._threshold, self._reset_ms, self._expiry_ms])

    async def status(self, broker: Broker) -> CircuitStatus:
        """Describe one broker's circuit."""
        (found,) = await self.statuses([broker])
        return found

    async def statuses(self, brokers: Iterable[Broker]) -> list[CircuitStatus]:
        """Describe the circuits of `brokers`, in their order, in one round trip."""
        wanted = list(brokers)
        if not wanted:
            return []
        rows = await self._status(keys=[self._key(b) for b in wanted])
        return [_status(broker, row) for broker, row in zip(wanted, rows, strict=True)]


def _status(broker: Broker, row: Sequence[Any]) -> CircuitStatus:
    raw_state, failures, remaining_ms = row
    state = CircuitState(raw_state.decode() if isinstance(raw_state, bytes) else raw_state)
    if state is CircuitState.CLOSED:
        return CircuitStatus(broker, state, int(failures), None)
    remaining = int(remaining_ms) / 1000
    if state is CircuitState.OPEN and remaining == 0:
        # The open period is over: the next caller gets the probe, so it is half open in effect.
        state = CircuitState.HALF_OPEN
    return CircuitStatus(broker, state, int(failures), remaining)
