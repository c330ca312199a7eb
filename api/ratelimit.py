"""Request budgets, counted in Redis by the `limits` library (moving window) across processes.

Each budget is a limit (RATE_LIMIT_<NAME>, in limits' notation: "10/minute") on one key: the
client IP, the API key or user, or the e-mail a login names. A moving window never lets more
than the limit through in any span of the window's length (a fixed window lets twice the limit
through across a boundary); a refused request is not counted, so waiting Retry-After is enough.

When Redis cannot answer, each budget decides: the ones guarding credentials (login, register,
OTP) refuse with 503, since an unmetered password guesser is worse than a minute without
logins; the rest let the request through, since reads and trading must not stop because a
counter is unreachable (orders keep their own risk limits).

Every answer carries the tightest budget the request was held to as RateLimit-Limit,
RateLimit-Remaining and RateLimit-Reset (draft-ietf-httpapi-ratelimit-headers, the separate
fields; Reset in seconds until the oldest counted request leaves the window).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from fastapi import Depends, Request
from limits import RateLimitItem, parse
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import NoScriptError, RedisError
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from api.errors import ApiError
from api.middleware import send_error
from shared.settings import Settings

log = logging.getLogger(__name__)

KEY_PREFIX: Final = "ordergate:ratelimit"
STATE_KEY: Final = "rate_limits"
# Brokers post webhooks from a few addresses in bursts; those routes check signatures instead.
UNMETERED_PREFIXES: Final = ("/api/v1/webhooks/",)
METERED_PREFIX: Final = "/api/"


@dataclass(frozen=True)
class Budget:
    """A named limit; `fail_open` says whether it lets requests through when Redis is down."""

    name: str
    fail_open: bool


IP = Budget("ip", fail_open=True)
API = Budget("api", fail_open=True)
ORDERS = Budget("orders", fail_open=True)
LOGIN = Budget("login", fail_open=False)
LOGIN_ACCOUNT = Budget("login_account", fail_open=False)
REGISTER = Budget("register", fail_open=False)
# For the one-time-code login routes of issue 11; their limit is configurable already.
OTP = Budget("otp", fail_open=False)
BUDGETS: Final = (IP, API, ORDERS, LOGIN, LOGIN_ACCOUNT, REGISTER, OTP)


@dataclass(frozen=True)
class Guarded:
    """What `Limiter.hit_all_unless` did: whether it counted the request (False: the guard key
    held another value), the guard's value (None: absent, or Redis down), the verdicts."""

    counted: bool
    guard: str | None
    verdicts: list[Verdict]


@dataclass(frozen=True)
class Verdict:
    """One budget's count after a request: whether it was let through, and what is left."""

    budget: str
    allowed: bool
    limit: int
    window_seconds: int
    remaining: int
    reset_seconds: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The RateLimit-* fields (and Retry-After on a refusal)."""
        fields = [("ratelimit-limit", self.limit), ("ratelimit-remaining", self.remaining),
                  ("ratelimit-reset", self.reset_seconds)]
        if not self.allowed:
            fields.append(("retry-after", self.reset_seconds))
        return [(name.encode(), str(value).encode()) for name, value in fields]

    def error(self) -> dict[str, Any]:
        """The 429's code, message and details."""
        return {"code": "rate_limited",
                "message": f"too many requests for the {self.budget!r} budget"
                           f" ({self.limit} per {self.window_seconds} s);"
                           f" retry in {self.reset_seconds} s",
                "details": {"budget": self.budget, "limit": self.limit,
                            "window_seconds": self.window_seconds,
                            "retry_after": self.reset_seconds}}


# KEYS: one moving-window list per budget, then the guard's key if there is one; ARGV: now,
# the value the guard must hold ('' for no guard), then each budget's limit and window (s).
# limits' acquire_entry and get_moving_window (limits.aio.storage.redis.bridge), the same list
# of timestamps on the same keys, for several budgets at once and all or none: a request one
# budget refuses is counted by none of them. A guard key that holds another value counts
# nothing. Returns the index (from 1) of the first refusing budget, 0, or -1 for a guard
# holding another value; then the guard's value (false when absent or no guard); then each
# window's oldest timestamp (false when empty) and count.
_COUNT = """
local now = tonumber(ARGV[1])
local budgets, guard = #KEYS, false
if ARGV[2] ~= '' then
  budgets = budgets - 1
  guard = redis.call('get', KEYS[#KEYS])
  if guard and guard ~= ARGV[2] then return {-1, guard} end
end
local function oldest_entry(key, high, target)
  local low, result = 0, nil
  while low <= high do
    local mid = math.floor((low + high) / 2)
    local val = tonumber(redis.call('lindex', key, mid))
    if val and val >= target then result = mid; low = mid + 1 else high = mid - 1 end
  end
  return result
end
local refused = 0
for i = 1, budgets do
  local limit, expiry = tonumber(ARGV[2 * i + 1]), tonumber(ARGV[2 * i + 2])
  local entry = redis.call('lindex', KEYS[i], limit - 1)
  if entry and tonumber(entry) >= now - expiry then refused = i; break end
end
if refused == 0 then
  for i = 1, budgets do
    local limit, expiry = tonumber(ARGV[2 * i + 1]), tonumber(ARGV[2 * i + 2])
    redis.call('lpush', KEYS[i], ARGV[1])
    redis.call('ltrim', KEYS[i], 0, limit - 1)
    redis.call('expire', KEYS[i], expiry)
  end
end
local out = {refused, guard}
for i = 1, budgets do
  local limit, expiry = tonumber(ARGV[2 * i + 1]), tonumber(ARGV[2 * i + 2])
  local index = oldest_entry(KEYS[i], limit - 1, now - expiry)
  if index then
    out[#out + 1] = redis.call('lindex', KEYS[i], index)
    out[#out + 1] = index + 1
  else
    out[#out + 1] = false
    out[#out + 1] = 0
  end
end
return out
"""


class Limiter:
    """The budgets of the settings, on their own connection pool to Redis.

    Counted as `limits`' moving window (limits.aio.strategies.MovingWindowRateLimiter over
    its Redis storage) counts, on the same keys, but all of a request's budgets in one script
    call: the library takes two round trips per budget (hit, then get_window_stats), and a
    placement held to three budgets spent some 0.9 ms of the API's CPU on them (`python -m
    bench.ratelimit`).
    """

    def __init__(self, settings: Settings) -> None:
        url = settings.rate_limit_storage_url or settings.redis_url
        self._pool = ConnectionPool.from_url(
            url, socket_timeout=settings.publish_timeout_seconds,
            socket_connect_timeout=settings.publish_timeout_seconds)
        self._redis = Redis(connection_pool=self._pool)
        self._script = _sha1(_COUNT.encode())
        self._items: dict[Budget, RateLimitItem] = {
            budget: parse(getattr(settings, f"rate_limit_{budget.name}")) for budget in BUDGETS}

    async def hit(self, budget: Budget, key: str) -> Verdict | None:
        """Count one request against `key`'s budget; None when Redis is down and it fails open.

        A budget that fails closed raises 503 then.
        """
        verdicts = await self.hit_all([(budget, key)])
        return verdicts[0] if verdicts else None

    async def hit_all(self, budgets: Sequence[tuple[Budget, str]]) -> list[Verdict]:
        """Count one request against each (budget, key), all or none, in one round trip; a
        verdict per budget, or none at all when Redis is down and every budget fails open.

        If any budget fails closed, Redis being down raises 503.
        """
        return (await self.hit_all_unless(budgets, None)).verdicts

    async def hit_all_unless(self, budgets: Sequence[tuple[Budget, str]],
                             guard: tuple[str, str] | None) -> Guarded:
        """`hit_all`, in the same round trip reading the `guard` (key, value): a guard key
        that holds another value counts nothing (api/auth/generations.py keeps one per user)."""
        items = [self._items[budget] for budget, _ in budgets]
        try:
            refused, seen, windows = await self._count([
                (item, f"{KEY_PREFIX}:{item.key_for(budget.name, key)}")
                for item, (budget, key) in zip(items, budgets, strict=True)], guard)
        except (RedisError, OSError) as exc:
            names = ", ".join(budget.name for budget, _ in budgets)
            log.warning("rate limits unavailable (%s budget): %s", names, exc)
            closed = next((budget for budget, _ in budgets if not budget.fail_open), None)
            if closed is None:
                return Guarded(counted=True, guard=None, verdicts=[])
            raise ApiError(503, "requests of this kind cannot be metered right now; retry"
                                " shortly", code="unavailable", details={"budget": closed.name},
                           headers={"Retry-After": "1"}) from None
        if refused < 0:
            return Guarded(counted=False, guard=seen, verdicts=[])
        now = time.time()
        verdicts = []
        for index, ((budget, _), item, (window_start, counted)) in enumerate(
                zip(budgets, items, windows, strict=True), start=1):
            reset = max(1, math.ceil(window_start + item.get_expiry() - now))
            verdicts.append(Verdict(
                budget=budget.name, allowed=index != refused,
                limit=item.amount, window_seconds=item.get_expiry(),
                remaining=max(0, item.amount - counted), reset_seconds=reset))
        return Guarded(counted=True, guard=seen, verdicts=verdicts)

    async def _count(self, keyed: list[tuple[RateLimitItem, str]], guard: tuple[str, str] | None
                     ) -> tuple[int, str | None, list[tuple[float, int]]]:
        now = time.time()
        args: list[Any] = [now, guard[1] if guard else ""]
        for item, _ in keyed:
            args += [item.amount, item.get_expiry()]
        keys = [key for _, key in keyed] + ([guard[0]] if guard else [])
        try:
            answer = await self._redis.evalsha(self._script, len(keys), *keys, *args)
        except NoScriptError:  # a new or flushed Redis: load it, once
            await self._redis.script_load(_COUNT)
            answer = await self._redis.evalsha(self._script, len(keys), *keys, *args)
        refused, seen, flat = int(answer[0]), answer[1], answer[2:]
        # An empty window (nil from Lua) counts from now, as limits reads it.
        windows = [(float(flat[i]) if flat[i] is not None else now, int(flat[i + 1]))
                   for i in range(0, len(flat), 2)]
        return refused, seen.decode() if isinstance(seen, bytes) else seen, windows

    @property
    def redis(self) -> Redis:
        """The client of the budgets' Redis (the token generations' mirror lives there too)."""
        return self._redis

    async def aclose(self) -> None:
        """Close the connections to Redis."""
        await self._redis.aclose()
        await self._pool.disconnect()


async def enforce(request: Request, budget: Budget, key: str) -> None:
    """Count this request against a budget; 429 `rate_limited` once it is spent."""
    await enforce_all(request, [(budget, key)])


async def enforce_all(request: Request, budgets: Sequence[tuple[Budget, str]]) -> None:
    """Count this request against each (budget, key) at once; 429 `rate_limited` naming the
    first budget that is spent (and then none of them counts the request)."""
    limiter: Limiter = request.app.state.limiter
    record(request, await limiter.hit_all(budgets))


def record(request: Request, verdicts: Sequence[Verdict]) -> None:
    """Keep a request's verdicts for its RateLimit-* fields; 429 `rate_limited` naming the
    first budget that refused it."""
    request.scope.setdefault("state", {}).setdefault(STATE_KEY, []).extend(verdicts)
    for verdict in verdicts:
        if not verdict.allowed:
            error = verdict.error()
            # RateLimits adds Retry-After and the RateLimit-* fields from the recorded verdict.
            raise ApiError(429, error["message"], code=error["code"], details=error["details"])


def _sha1(script: bytes) -> str:
    return hashlib.sha1(script).hexdigest()  # how Redis names a script


def client_ip(scope: AsgiScope) -> str:
    """The caller's address as the ASGI server saw it (behind a proxy: --proxy-headers)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def per_ip(budget: Budget) -> Any:
    """A route dependency: count the request against the caller IP's `budget`."""

    async def limit_ip(request: Request) -> None:
        await enforce(request, budget, client_ip(request.scope))

    limit_ip.__name__ = f"limit_{budget.name}_per_ip"
    return Depends(limit_ip)


def subject_key(text: str) -> str:
    """A key for a budget on something the client names (an e-mail), never stored readable."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RateLimits:
    """Hold every /api/ request to its IP's budget, and label answers with the tightest budget.

    Routes add budgets of their own through `enforce` (login, register, per key or user,
    order placement); the verdicts they record land in the same headers.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_metered(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        verdicts: list[Verdict] = []
        state = scope.setdefault("state", {})
        state[STATE_KEY] = verdicts
        limiter: Limiter = scope["app"].state.limiter
        verdict = await limiter.hit(IP, client_ip(scope))
        if verdict is not None:
            verdicts.append(verdict)
            if not verdict.allowed:
                await send_error(send, scope, 429, **verdict.error(), headers=verdict.headers())
                return

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start" and verdicts:
                message.setdefault("headers", []).extend(_tightest(verdicts).headers())
            await send(message)

        await self.app(scope, receive, send_with_limits)


def is_metered(path: str) -> bool:
    """Whether requests to this path count against the client address's budget."""
    return path.startswith(METERED_PREFIX) and not path.startswith(UNMETERED_PREFIXES)


def _tightest(verdicts: list[Verdict]) -> Verdict:
    # A refusal first, else the budget closest to running out.
    return min(verdicts, key=lambda v: (v.allowed, v.remaining, -v.reset_seconds))
