"""Publishing committed order changes to Redis: every step on its owner's stream in order, and
the results cache holding each order's newest snapshot, however the batch is split."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

import pytest
from redis.asyncio import Redis

from shared.domain import events as ev
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from shared.domain.orders import Change, Order
from shared.messaging.publish import (
    CHANGES_PER_COMMAND,
    order_cache_key,
    publish_order_changes,
    user_stream_key,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def _order(user_id: uuid.UUID) -> Order:
    now = datetime.now(UTC)
    return Order(id=uuid.uuid4(), user_id=user_id, account_id=uuid.uuid4(), broker="paper",
                 symbol="AAPL", side=Side.BUY, order_type=OrderType.MARKET,
                 quantity=Decimal(1), price=None, stop_price=None,
                 time_in_force=TimeInForce.DAY, status=OrderStatus.PENDING_NEW, version=1,
                 created_at=now, updated_at=now)


def _submitted(order: Order) -> Change:
    return Change(order).then(ev.Submitted(f"paper-{order.id}")).then(ev.Accepted())


async def test_a_batch_longer_than_one_command_publishes_every_step_in_order(
    redis: Redis,
) -> None:
    users = [uuid.uuid4(), uuid.uuid4()]
    changes = [_submitted(_order(users[n % 2])) for n in range(CHANGES_PER_COMMAND + 6)]

    await publish_order_changes(redis, changes, 60)

    for user in users:
        entries = cast(list[tuple[bytes, dict[bytes, bytes]]],
                       await redis.xrange(user_stream_key(str(user))))
        assert [(e[b"order_id"].decode(), e[b"to_status"].decode()) for _, e in entries] == [
            (str(c.before.id), status) for c in changes if c.before.user_id == user
            for status in ("SUBMITTED", "ACCEPTED")]
    for change in changes:
        cached = await redis.hgetall(order_cache_key(str(change.before.id)))
        assert cached[b"version"] == b"3"
        assert json.loads(cached[b"body"])["status"] == "ACCEPTED"
    await redis.delete(*(user_stream_key(str(u)) for u in users),
                       *(order_cache_key(str(c.before.id)) for c in changes))


async def test_an_older_version_published_late_leaves_the_newer_snapshot_cached(
    redis: Redis,
) -> None:
    order = _order(uuid.uuid4())
    newer = _submitted(order)
    older = Change(order).then(ev.Submitted(f"paper-{order.id}"))

    await publish_order_changes(redis, [newer], 60)
    await publish_order_changes(redis, [older], 60)

    cached = await redis.hgetall(order_cache_key(str(order.id)))
    assert (cached[b"version"], json.loads(cached[b"body"])["status"]) == (b"3", "ACCEPTED")
    assert await redis.ttl(order_cache_key(str(order.id))) > 0
    assert await redis.xlen(user_stream_key(str(order.user_id))) == 3  # every step appended
    await redis.delete(user_stream_key(str(order.user_id)), order_cache_key(str(order.id)))
