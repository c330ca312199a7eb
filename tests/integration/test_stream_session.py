"""A stream session's background work ends when the session does, whatever its libraries do."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Message, Scope

from api.main import create_app
from api.stream.doorbell import QuoteFeed
from api.stream.messages import heartbeat
from api.stream.reader import Readers, read_log
from api.stream.service import Session, StreamServices
from shared.messaging.publish import user_stream_key
from shared.settings import Settings
from tests.helpers import new_instrument, place, register_and_login, set_quote

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


STREAMS = 10  # of one user, in one process
RESTING_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "1",
               "price": "1.00"}


async def test_the_streams_of_one_user_share_one_read_of_the_log_per_doorbell_ring(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str], redis_url: str,
) -> None:
    live: StreamServices = app.state.stream
    # Readers of the test's own that only a ring wakes (no poll within the test).
    readers = Readers(live.engine, live.doorbell, poll_seconds=3600)
    services = replace(live, readers=readers)
    user_id = uuid.UUID((await client.get("/api/v1/me", headers=auth)).json()["id"])
    missed = await place(client, auth, **RESTING_BUY)
    sessions = [await Session.open(services, user_id, last_seq=0) for _ in range(STREAMS)]
    pumps = [asyncio.create_task(session.pump()) for session in sessions]
    bell = Redis.from_url(redis_url)
    try:
        for session in sessions:  # each reads what it missed on its own
            assert [m["order_id"] for m in await _events(session, 1)] == [missed]
        async with asyncio.timeout(30):
            while readers.following(user_id) < STREAMS:
                await asyncio.sleep(0.01)
        with _log_reads(live.engine, user_id) as reads:
            live_one = await place(client, auth, **RESTING_BUY)
            await bell.xadd(user_stream_key(str(user_id)), {"order_id": live_one})
            for session in sessions:
                assert [m["order_id"] for m in await _events(session, 1)] == [live_one]
        # One read for all ten (two if the reader's first read, as it started, came late).
        assert 1 <= len(reads) <= 2
    finally:
        await bell.aclose()
        for session in sessions:
            session.close()
        await asyncio.gather(*pumps, return_exceptions=True)
    assert readers.following(user_id) == 0


async def _events(session: Session, count: int) -> list[dict[str, Any]]:
    """The next `count` order events queued for this session (snapshots pass by)."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(30):
        while len(events) < count:
            message = await session.next_message()
            if message["type"] == "order":
                events.append(message)
    return events


@contextmanager
def _log_reads(engine: AsyncEngine, user_id: uuid.UUID) -> Iterator[list[str]]:
    """The reads of this user's order events made through this engine in the block."""
    reads: list[str] = []

    def counted(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM order_events" in statement and user_id in tuple(parameters or ()):
            reads.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", counted)
    try:
        yield reads
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", counted)


@pytest.fixture
def impatient_app() -> FastAPI:
    """Made before the test (its logging setup would drop caplog's handler within it)."""
    return create_app(Settings(stream_send_timeout_seconds=0.5))


async def test_a_slow_sse_client_is_cut_off_with_one_warning_and_no_traceback(
    impatient_app: FastAPI, caplog: pytest.LogCaptureFixture,
) -> None:
    app = impatient_app
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            token = (await register_and_login(http))["Authorization"].removeprefix("Bearer ")
        arrived: list[Message] = [{"type": "http.request", "body": b"", "more_body": False}]
        sent: list[Message] = []

        async def receive() -> Message:
            if arrived:
                return arrived.pop()
            await asyncio.Event().wait()  # the client never hangs up
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and message.get("body"):
                await asyncio.Event().wait()  # it stopped reading after its first event

        scope: Scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                        "method": "GET", "scheme": "http", "path": "/api/v1/stream/sse",
                        "raw_path": b"/api/v1/stream/sse", "root_path": "",
                        "query_string": f"token={token}&symbols=AAPL".encode(),
                        "headers": [(b"host", b"testserver")],
                        "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
        with caplog.at_level(logging.INFO):
            async with asyncio.timeout(30):
                await app(scope, receive, send)  # ends: no exception for the server
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 200
    assert [r.getMessage() for r in caplog.records
            if r.exc_info or r.levelno >= logging.ERROR] == []
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "slow consumer" in warning.getMessage()


async def test_a_stream_without_room_for_a_batch_reads_alone_and_skips_none(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    live: StreamServices = app.state.stream
    services = replace(live, settings=live.settings.model_copy(update={"stream_max_queued": 10}))
    user_id = uuid.UUID((await client.get("/api/v1/me", headers=auth)).json()["id"])
    for _ in range(4):
        await place(client, auth, **RESTING_BUY)
    rows, _ = await read_log(live.engine, user_id, after=0)
    session = Session(services, user_id, after=0)
    for _ in range(9):  # one place left in its queue
        session.offer(heartbeat(0))
    session.take(rows[:3], [])  # no room: it goes back to reading alone, from seq 0
    while session.queued:
        await session.next_message()
    session.take(rows[3:], [])  # room now, but taking it would skip the three before it
    assert session.cursor == 0
    assert session.queued == 0
    session.close()
