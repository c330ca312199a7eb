"""The per-broker circuit breaker against real Redis, as several worker processes share it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared.brokers.catalog import Broker
from shared.brokers.circuit import CircuitBreaker, CircuitState, CircuitStatus
from shared.settings import Settings

pytestmark = pytest.mark.integration

RESET = 0.3  # seconds; short so the tests stay fast
MARGIN = 0.05  # sleep a little past a returned deadline (timer granularity)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    # REDIS_URL may be shared: each test uses keys of its own and removes them.
    name = f"test:circuit:{uuid.uuid4().hex}"
    yield name
    async for key in redis.scan_iter(match=f"{name}:*"):
        await redis.delete(key)


@pytest.fixture
def breaker(redis: Redis, prefix: str) -> CircuitBreaker:
    return CircuitBreaker(redis, failure_threshold=3, reset_seconds=RESET, prefix=prefix)


async def _fail(breaker: CircuitBreaker, times: int, broker: Broker = Broker.ZERODHA) -> None:
    for _ in range(times):
        await breaker.record_failure(broker)


async def _open_then_wait_out(breaker: CircuitBreaker) -> None:
    await _fail(breaker, 3)
    wait = await breaker.allow(Broker.ZERODHA)
    assert wait is not None
    await asyncio.sleep(wait + MARGIN)


async def test_stays_closed_below_the_threshold_and_opens_at_it(breaker: CircuitBreaker) -> None:
    await _fail(breaker, 2)
    assert await breaker.allow(Broker.ZERODHA) is None
    assert await breaker.status(Broker.ZERODHA) == CircuitStatus(
        Broker.ZERODHA, CircuitState.CLOSED, 2, None)

    await _fail(breaker, 1)

    wait = await breaker.allow(Broker.ZERODHA)
    assert wait is not None
    assert 0 < wait <= RESET
    status = await breaker.status(Broker.ZERODHA)
    assert (status.state, status.consecutive_failures) == (CircuitState.OPEN, 3)
    assert status.retry_in_seconds is not None
    assert 0 < status.retry_in_seconds <= RESET


async def test_a_success_resets_the_failure_count(breaker: CircuitBreaker) -> None:
    await _fail(breaker, 2)
    await breaker.record_success(Broker.ZERODHA)
    await _fail(breaker, 2)

    assert await breaker.allow(Broker.ZERODHA) is None
    assert (await breaker.status(Broker.ZERODHA)).consecutive_failures == 2


async def test_after_the_reset_time_a_successful_probe_closes_the_circuit(
    breaker: CircuitBreaker,
) -> None:
    await _open_then_wait_out(breaker)
    assert (await breaker.status(Broker.ZERODHA)).state is CircuitState.HALF_OPEN

    assert await breaker.allow(Broker.ZERODHA) is None  # this caller is the probe
    assert (await breaker.status(Broker.ZERODHA)).state is CircuitState.HALF_OPEN
    await breaker.record_success(Broker.ZERODHA)

    assert await breaker.status(Broker.ZERODHA) == CircuitStatus(
        Broker.ZERODHA, CircuitState.CLOSED, 0, None)
    assert await breaker.allow(Broker.ZERODHA) is None
    assert await breaker.allow(Broker.ZERODHA) is None


async def test_a_failed_probe_opens_the_circuit_again(breaker: CircuitBreaker) -> None:
    await _open_then_wait_out(breaker)
    assert await breaker.allow(Broker.ZERODHA) is None

    await breaker.record_failure(Broker.ZERODHA)

    wait = await breaker.allow(Broker.ZERODHA)
    assert wait is not None
    assert 0 < wait <= RESET
    status = await breaker.status(Broker.ZERODHA)
    assert (status.state, status.consecutive_failures) == (CircuitState.OPEN, 4)


async def test_only_one_of_many_concurrent_callers_gets_the_probe(
    redis_url: str, prefix: str,
) -> None:
    # One client per "worker process"; a longer reset so the probe's lease outlasts the burst.
    clients = [Redis.from_url(redis_url) for _ in range(4)]
    breakers = [CircuitBreaker(c, reset_seconds=2.0, prefix=prefix) for c in clients]
    try:
        await _fail(breakers[0], 3)
        wait = await breakers[1].allow(Broker.ZERODHA)
        assert wait is not None
        await asyncio.sleep(wait + MARGIN)

        answers = await asyncio.gather(
            *(breakers[i % 4].allow(Broker.ZERODHA) for i in range(40)))

        assert answers.count(None) == 1
        assert all(a is not None and a > 0 for a in answers if a is not None)
    finally:
        for client in clients:
            await client.aclose()


async def test_a_probe_that_never_reports_is_replaced_after_the_reset_time(
    breaker: CircuitBreaker,
) -> None:
    await _open_then_wait_out(breaker)
    assert await breaker.allow(Broker.ZERODHA) is None  # its caller then dies silently

    wait = await breaker.allow(Broker.ZERODHA)
    assert wait is not None
    assert 0 < wait <= RESET
    await asyncio.sleep(wait + MARGIN)

    assert await breaker.allow(Broker.ZERODHA) is None


async def test_brokers_have_independent_circuits(breaker: CircuitBreaker) -> None:
    await _fail(breaker, 3, Broker.ZERODHA)
    await _fail(breaker, 1, Broker.UPSTOX)

    assert await breaker.allow(Broker.ZERODHA) is not None
    assert await breaker.allow(Broker.UPSTOX) is None
    found = await breaker.statuses([Broker.UPSTOX, Broker.ZERODHA, Broker.GROWW])
    assert [(s.broker, s.state, s.consecutive_failures) for s in found] == [
        (Broker.UPSTOX, CircuitState.CLOSED, 1),
        (Broker.ZERODHA, CircuitState.OPEN, 3),
        (Broker.GROWW, CircuitState.CLOSED, 0),
    ]
    assert await breaker.statuses([]) == []


async def test_circuit_keys_expire(breaker: CircuitBreaker, redis: Redis, prefix: str) -> None:
    await _fail(breaker, 3, Broker.ZERODHA)
    await _fail(breaker, 1, Broker.UPSTOX)

    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    assert len(keys) == 2
    for key in keys:
        assert await redis.pttl(key) > 0


async def test_from_settings_uses_the_configured_threshold_and_reset(
    redis: Redis, prefix: str,
) -> None:
    settings = Settings(circuit_failure_threshold=1, circuit_reset_seconds=RESET)
    breaker = CircuitBreaker.from_settings(redis, settings, prefix=prefix)

    await breaker.record_failure(Broker.ANGELONE)

    wait = await breaker.allow(Broker.ANGELONE)
    assert wait is not None
    assert 0 < wait <= RESET


@pytest.mark.parametrize(("threshold", "reset"), [(0, 1.0), (3, 0.0)])
def test_refuses_a_meaningless_configuration(redis: Redis, threshold: int, reset: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        CircuitBreaker(redis, failure_threshold=threshold, reset_seconds=reset)
