"""A stream session's background work ends when the session does, whatever its libraries do."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from api.stream.doorbell import QuoteFeed
from api.stream.service import Session, StreamServices
from tests.helpers import new_instrument, set_quote

pytestmark = pytest.mark.integration


async def test_a_closed_session_stops_reading_even_when_its_cancel_was_lost(
    app: FastAPI,
) -> None:
    services: StreamServices = app.state.stream
    warm = uuid.uuid4()  # the doorbell's Redis client holds a connection from now on
    services.doorbell.leave(warm, await services.doorbell.join(warm))
    for _ in range(5):
        session = await Session.open(services, uuid.uuid4(), last_seq=0)
        pump = asyncio.create_task(session.pump())
        await asyncio.sleep(0)  # it is joining the doorbell: a Redis read
        # redis-py often finishes that read and drops the cancellation: the pump must end
        # anyway once its session is closed.
        pump.cancel()
        session.close()

        done, _ = await asyncio.wait({pump}, timeout=services.settings.stream_poll_seconds + 2)
        assert pump in done, "the pump went on reading after its session was closed"


async def test_a_subscriber_gets_each_quote_once_starting_with_the_current_one(
    app: FastAPI, engine: AsyncEngine,
) -> None:
    symbol = await new_instrument(engine)
    live: StreamServices = app.state.stream
    # A feed of the test's own, read when the test says: no other stream moves its state.
    feed = QuoteFeed(live.engine, interval=3600)
    services = replace(live, quotes=feed, settings=live.settings.model_copy(
        update={"stream_heartbeat_seconds": 0.05}))  # an empty queue answers a heartbeat
    early = await Session.open(services, uuid.uuid4(), last_seq=0)
    first = await set_quote(engine, symbol, "99.98", "100.02")
    await early.subscribe([symbol])
    await feed.tick()  # nothing changed since the subscribe read
    second = await set_quote(engine, symbol, "99.97", "100.01")
    # Subscribing after a change the feed has not read yet: the subscribe read has it.
    late = await Session.open(services, uuid.uuid4(), last_seq=0)
    await late.subscribe([symbol])
    await feed.tick()
    await feed.tick()

    assert await _quotes(early) == [first, second]
    assert await _quotes(late) == [second]
    for session in (early, late):
        session.close()


async def _quotes(session: Session) -> list[int]:
    """The quote seqs queued for this session, until its queue is empty."""
    seqs: list[int] = []
    while (message := await session.next_message())["type"] != "heartbeat":
        assert message["type"] == "quote", message
        seqs.append(int(message["quote_seq"]))
    return seqs
