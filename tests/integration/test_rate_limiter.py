"""The per-(broker, account) outbound rate limiter against real Redis, shared across clients."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared.brokers.catalog import Broker, RateLimit
from worker.brokers.ratelimit import RateLimiter

pytestmark = pytest.mark.integration

MARGIN = 0.05  # sleep a little past a returned wait (timer granularity)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    # REDIS_URL may be shared: each test uses keys of its own and removes them.
    name = f"test:ratelimit:{uuid.uuid4().hex}"
    yield name
    async for key in redis.scan_iter(match=f"{name}:*"):
        await redis.delete(key)


@pytest.fixture
def limiter(redis: Redis, prefix: str) -> RateLimiter:
    return RateLimiter(redis, prefix=prefix)


async def _take(limiter: RateLimiter, times: int, limit: RateLimit,
                broker: Broker = Broker.ZERODHA, account: str = "acct-1") -> list[float]:
    return [await limiter.acquire(broker, account, limit) for _ in range(times)]


async def test_the_per_second_budget_then_a_wait_that_consumes_nothing(
    limiter: RateLimiter,
) -> None:
    limit = RateLimit(per_second=3, per_minute=100)
    assert await _take(limiter, 3, limit) == [0.0, 0.0, 0.0]

    refused = await _take(limiter, 5, limit)

    assert all(0 < wait <= 1.0 for wait in refused)
    await asyncio.sleep(refused[-1] + MARGIN)
    # Had the refused requests taken slots, the window would still be full.
    assert await limiter.acquire(Broker.ZERODHA, "acct-1", limit) == 0.0


async def test_the_per_minute_budget_holds_once_the_second_has_passed(
    limiter: RateLimiter,
) -> None:
    limit = RateLimit(per_second=2, per_minute=3)
    assert await _take(limiter, 2, limit) == [0.0, 0.0]
    wait = await limiter.acquire(Broker.ZERODHA, "acct-1", limit)
    assert 0 < wait <= 1.0
    await asyncio.sleep(wait + MARGIN)
    assert await limiter.acquire(Broker.ZERODHA, "acct-1", limit) == 0.0

    wait = await limiter.acquire(Broker.ZERODHA, "acct-1", limit)

    # The minute's third slot is used: the first request must leave the minute window.
    assert 1.0 < wait <= 60.0


async def test_accounts_and_brokers_have_separate_budgets(limiter: RateLimiter) -> None:
    limit = RateLimit(per_second=2, per_minute=10)
    await _take(limiter, 2, limit, Broker.ZERODHA, "acct-1")
    assert await limiter.acquire(Broker.ZERODHA, "acct-1", limit) > 0

    assert await _take(limiter, 2, limit, Broker.ZERODHA, "acct-2") == [0.0, 0.0]
    assert await _take(limiter, 2, limit, Broker.UPSTOX, "acct-1") == [0.0, 0.0]


async def test_penalize_makes_only_that_account_wait(limiter: RateLimiter) -> None:
    limit = RateLimit(per_second=10, per_minute=100)

    await limiter.penalize(Broker.ZERODHA, "acct-1", 30)

    wait = await limiter.acquire(Broker.ZERODHA, "acct-1", limit)
    assert 1.0 < wait <= 30.0
    assert await limiter.acquire(Broker.ZERODHA, "acct-2", limit) == 0.0
    assert await limiter.acquire(Broker.UPSTOX, "acct-1", limit) == 0.0


async def test_a_penalty_ends_and_consumed_nothing(limiter: RateLimiter) -> None:
    limit = RateLimit(per_second=10, per_minute=100)
    await limiter.penalize(Broker.ZERODHA, "acct-1", 0.2)

    wait = await limiter.acquire(Broker.ZERODHA, "acct-1", limit)
    assert 0 < wait <= 0.2
    await asyncio.sleep(wait + MARGIN)

    assert await _take(limiter, 10, limit) == [0.0] * 10


async def test_a_shorter_penalty_never_cuts_a_longer_one_short(limiter: RateLimiter) -> None:
    await limiter.penalize(Broker.ZERODHA, "acct-1", 30)
    await limiter.penalize(Broker.ZERODHA, "acct-1", 0.1)

    wait = await limiter.acquire(Broker.ZERODHA, "acct-1", RateLimit(10, 100))

    assert 1.0 < wait <= 30.0


async def test_many_concurrent_acquirers_never_exceed_the_budget(
    redis_url: str, prefix: str,
) -> None:
    # One client per "worker process", all asking at once.
    clients = [Redis.from_url(redis_url) for _ in range(4)]
    limiters = [RateLimiter(c, prefix=prefix) for c in clients]
    limit = RateLimit(per_second=5, per_minute=7)
    try:
        answers = await asyncio.gather(
            *(limiters[i % 4].acquire(Broker.ZERODHA, "acct-1", limit) for i in range(60)))
        assert answers.count(0.0) == 5
        assert all(0 < a <= 1.0 for a in answers if a != 0.0)

        await asyncio.sleep(1.0 + MARGIN)
        answers = await asyncio.gather(
            *(limiters[i % 4].acquire(Broker.ZERODHA, "acct-1", limit) for i in range(60)))
        assert answers.count(0.0) == 2  # the minute's budget of 7 is spent
    finally:
        for client in clients:
            await client.aclose()


async def test_rate_limit_keys_expire(limiter: RateLimiter, redis: Redis, prefix: str) -> None:
    await limiter.acquire(Broker.ZERODHA, "acct-1", RateLimit(per_second=1, per_minute=1))
    await limiter.penalize(Broker.ZERODHA, "acct-1", 5)

    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    assert len(keys) == 2
    for key in keys:
        assert await redis.pttl(key) > 0


async def test_refuses_a_budget_of_nothing(limiter: RateLimiter) -> None:
    with pytest.raises(ValueError, match="at least one request"):
        await limiter.acquire(Broker.ZERODHA, "acct-1", RateLimit(per_second=0, per_minute=10))
