"""The live stream over real TCP: an in-process uvicorn, real PostgreSQL and Redis, and a
real worker where an order must reach FILLED."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from fastapi import FastAPI
from sqlalchemy import text
from websockets.asyncio.client import ClientConnection

from api.main import create_app
from api.stream.service import SLOW_CONSUMER, StreamServices
from shared import logs
from shared.settings import Settings
from tests.e2e.conftest import WorkerFactory
from tests.helpers import place, register_and_login

MARKET_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "MARKET", "quantity": "1"}
RESTING_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "1",
               "price": "1.00"}
PATIENCE = 60.0


class Server:
    """The API served by uvicorn in this process (so a test can patch its publisher)."""

    def __init__(self, app: FastAPI, server: uvicorn.Server, port: int) -> None:
        self.app = app
        self.server = server
        self.address = ("127.0.0.1", port)
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
        self.ws = f"ws://127.0.0.1:{port}/api/v1/stream"


@asynccontextmanager
async def _serving(settings: Settings, listener: socket.socket) -> AsyncIterator[Server]:
    """Serve the API on this bound socket until the block ends."""
    app = create_app(settings)
    # Logging as production configures it: uvicorn's own lines reach the root logger too.
    config = uvicorn.Config(app, log_level="warning", lifespan="on",
                            log_config=str(logs.CONFIG_FILE))
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve(sockets=[listener]))
    while not running.started:
        assert not task.done(), "uvicorn exited before it started"
        await asyncio.sleep(0.05)
    served = Server(app, running, listener.getsockname()[1])
    try:
        yield served
    finally:
        await served.http.aclose()
        running.should_exit = True
        await task
        listener.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    settings = Settings(redis_url=os.environ["REDIS_URL"], paper_always_open=True,
                        stream_send_timeout_seconds=1.0, stream_max_queued=10,
                        stream_heartbeat_seconds=1.0)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    async with _serving(settings, listener) as served:
        yield served


async def _user(server: Server) -> tuple[dict[str, str], str]:
    auth = await register_and_login(server.http)
    return auth, auth["Authorization"].removeprefix("Bearer ")


async def _connect(server: Server, token: str, **auth: Any) -> ClientConnection:
    connection = await websockets.connect(server.ws)
    await connection.send(json.dumps({"action": "auth", "token": token, **auth}))
    return connection


async def _next(connection: ClientConnection, *types: str) -> dict[str, Any]:
    """The next message of one of these types (heartbeats and quotes pass by)."""
    async with asyncio.timeout(PATIENCE):
        while True:
            message: dict[str, Any] = json.loads(await connection.recv())
            if message["type"] in types:
                return message


async def _events_until(connection: ClientConnection, done: Any) -> list[dict[str, Any]]:
    """Order and fill events, until `done(events)` holds."""
    events: list[dict[str, Any]] = []
    while not done(events):
        events.append(await _next(connection, "order", "fill"))
    return events


def _filled(order_id: str) -> Any:
    return lambda events: any(e["order_id"] == order_id and e["status"] == "FILLED"
                              for e in events)


async def test_two_users_each_see_only_their_own_order_reach_filled(
    server: Server, worker_factory: WorkerFactory,
) -> None:
    worker_factory(os.environ["REDIS_URL"], {"PAPER_ALWAYS_OPEN": "true"}).start()
    (alice, alice_token), (bob, bob_token) = await _user(server), await _user(server)
    alice_ws, bob_ws = await _connect(server, alice_token), await _connect(server, bob_token)
    async with alice_ws, bob_ws:
        alice_order = await place(server.http, alice, **MARKET_BUY)
        bob_order = await place(server.http, bob, **MARKET_BUY)
        alice_events = await _events_until(alice_ws, _filled(alice_order))
        bob_events = await _events_until(bob_ws, _filled(bob_order))
    assert {e["order_id"] for e in alice_events} == {alice_order}
    assert {e["order_id"] for e in bob_events} == {bob_order}
    for events in (alice_events, bob_events):
        assert events[0]["status"] == "PENDING_NEW"  # never published, read from the log
        assert [e["seq"] for e in events] == list(range(events[0]["seq"],
                                                        events[0]["seq"] + len(events)))
        fill = next(e for e in events if e["type"] == "fill")
        assert fill["fill"]["quantity"] == "1"
        assert fill["fill"]["trade_id"]


async def test_a_fill_is_followed_by_its_position_and_account_as_they_stand(
    server: Server, worker_factory: WorkerFactory,
) -> None:
    worker_factory(os.environ["REDIS_URL"], {"PAPER_ALWAYS_OPEN": "true"}).start()
    auth, token = await _user(server)
    async with await _connect(server, token) as connection:
        order_id = await place(server.http, auth, **{**MARKET_BUY, "quantity": "3"})
        fill = await _next(connection, "fill")
        while fill["status"] != "FILLED":  # the paper venue may fill it in parts
            fill = await _next(connection, "fill")
        position = await _next(connection, "position")
        account = await _next(connection, "account")
    assert fill["order_id"] == order_id
    assert position["as_of_seq"] >= fill["seq"]
    assert account["as_of_seq"] >= fill["seq"]
    positions = (await server.http.get("/api/v1/positions", headers=auth)).json()
    held = next(p for p in positions if p["symbol"] == "AAPL")
    steady = ("account_id", "symbol", "quantity", "avg_price", "realized_pnl", "currency")
    assert {key: position[key] for key in steady} == {key: held[key] for key in steady}
    assert position["quantity"] == "3"
    now = (await server.http.get("/api/v1/account", headers=auth)).json()
    assert {key: account[key] for key in ("account_id", "cash", "buying_power", "currency")} == {
        key: now[key] for key in ("account_id", "cash", "buying_power", "currency")}


async def test_a_reservation_and_its_release_reach_the_stream_as_account_snapshots(
    server: Server,
) -> None:
    """Placing and canceling move buying power with no fill: the stream says so each time."""
    auth, token = await _user(server)
    before = (await server.http.get("/api/v1/account", headers=auth)).json()
    async with await _connect(server, token) as connection:
        order_id = await place(server.http, auth, **RESTING_BUY)
        reserved = await _next(connection, "account")
        assert reserved["buying_power"] != before["buying_power"]
        assert reserved == {"type": "account", "as_of_seq": reserved["as_of_seq"],
                            **(await server.http.get("/api/v1/account", headers=auth)).json()}
        cancel = await server.http.delete(f"/api/v1/orders/{order_id}", headers=auth)
        assert cancel.status_code == 202, cancel.text
        released = await _next(connection, "account")
        while released["buying_power"] != before["buying_power"]:  # PENDING_CANCEL, then CANCELED
            released = await _next(connection, "account")
    assert released["as_of_seq"] > reserved["as_of_seq"]
    assert released["cash"] == before["cash"]


async def test_a_client_reconnecting_with_last_seq_sees_every_missed_event_exactly_once(
    server: Server,
) -> None:
    auth, token = await _user(server)
    placed: list[str] = []
    seen: list[dict[str, Any]] = []

    async def keep_placing() -> None:
        for _ in range(12):
            placed.append(await place(server.http, auth, **RESTING_BUY))

    producer = asyncio.create_task(keep_placing())
    for _ in range(3):  # disconnect and reconnect while orders keep coming
        last = {"last_seq": seen[-1]["seq"]} if seen else {"last_seq": 0}
        async with await _connect(server, token, **last) as connection:
            seen.append(await _next(connection, "order"))
    await producer
    async with await _connect(server, token, last_seq=seen[-1]["seq"]) as connection:
        seen += await _events_until(
            connection, lambda events: len(events) + 3 >= len(placed))
    assert [e["seq"] for e in seen] == list(range(1, len(placed) + 1))
    assert sorted(e["order_id"] for e in seen) == sorted(placed)


async def test_a_lost_redis_publish_does_not_lose_a_streamed_event(
    server: Server, monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def dropped(*_: Any, **__: Any) -> None:
        """The publish a Redis outage loses after the commit."""

    monkeypatch.setattr("api.orders.cancels.publish_order_changes", dropped)
    auth, token = await _user(server)
    async with await _connect(server, token) as connection:
        order_id = await place(server.http, auth, **RESTING_BUY)
        cancel = await server.http.delete(f"/api/v1/orders/{order_id}", headers=auth)
        assert cancel.status_code == 202, cancel.text
        events = await _events_until(
            connection, lambda events: any(e["status"] != "PENDING_NEW" for e in events))
    assert [e["from_status"] for e in events] == [None, "PENDING_NEW"]
    assert events[-1]["status"] in {"CANCELED", "PENDING_CANCEL"}



async def test_sse_carries_the_same_events_with_seq_as_their_id(server: Server) -> None:
    auth, token = await _user(server)
    placed = [await place(server.http, auth, **RESTING_BUY) for _ in range(2)]
    async with await _connect(server, token, last_seq=0) as connection:
        over_ws = await _events_until(connection, lambda events: len(events) == 2)
    over_sse: list[tuple[str, dict[str, Any]]] = []
    async with server.http.stream("GET", "/api/v1/stream/sse", params={"token": token},
                                  headers={"Last-Event-ID": "0"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event_id = None
        async with asyncio.timeout(PATIENCE):
            async for line in response.aiter_lines():
                if line.startswith("id:"):
                    event_id = line[3:].strip()
                elif line.startswith("data:") and event_id is not None:
                    over_sse.append((event_id, json.loads(line[5:])))
                    event_id = None
                if len(over_sse) == 2:
                    break
    assert [message for _, message in over_sse] == over_ws
    assert [event_id for event_id, _ in over_sse] == [str(m["seq"]) for m in over_ws]
    assert [m["order_id"] for m in over_ws] == placed


FLOOD_BATCHES = 4  # 400 events of ~0.5 KB: far past the jammed client's buffers
SMALL_BUFFER = 4096  # bytes of socket buffer, each way, for the client that stops reading


@pytest.fixture
async def jammable_server() -> AsyncIterator[Server]:
    """A server whose sockets have small send buffers, so a client that stops reading jams."""
    settings = Settings(redis_url=os.environ["REDIS_URL"], paper_always_open=True,
                        stream_send_timeout_seconds=0.5, stream_max_queued=10,
                        stream_heartbeat_seconds=1.0)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)  # accepted ones inherit
    listener.bind(("127.0.0.1", 0))
    async with _serving(settings, listener) as served:
        yield served


async def _stopped_reader(server: Server, token: str) -> ClientConnection:
    """A client that reads its handshake and then nothing: its receive buffer fills."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, server.address)
    connection = await websockets.connect(server.ws, sock=sock, max_queue=1, compression=None,
                                          ping_interval=None)
    await connection.send(json.dumps({"action": "auth", "token": token, "last_seq": 0}))
    return connection


async def _flood(server: Server, auth: dict[str, str], batch: int) -> list[str]:
    body = {"orders": [{**RESTING_BUY, "client_order_id": f"flood-{batch}-{n}"}
                       for n in range(100)]}
    response = await server.http.post("/api/v1/orders/batch", json=body, headers=auth)
    assert response.status_code == 207, response.text
    return [item["order"]["id"] for item in response.json()["items"]]


async def test_a_slow_consumer_is_cut_off_while_other_clients_keep_receiving(
    jammable_server: Server, caplog: pytest.LogCaptureFixture,
) -> None:
    server = jammable_server
    caplog.set_level(logging.INFO)
    (alice, alice_token), (bob, bob_token) = await _user(server), await _user(server)
    stuck = await _stopped_reader(server, alice_token)
    alice_ws = await _connect(server, alice_token, last_seq=0)
    bob_ws = await _connect(server, bob_token, last_seq=0)
    async with stuck, alice_ws, bob_ws:
        flooded: list[str] = []
        for batch in range(FLOOD_BATCHES):
            flooded += await _flood(server, alice, batch)
            bob_order = await place(server.http, bob, **RESTING_BUY)
            # Another user's stream is live while Alice's stuck one jams.
            assert (await _next(bob_ws, "order"))["order_id"] == bob_order
        # So is Alice's other stream: every event, in order.
        alice_seen = await _events_until(alice_ws, lambda events: len(events) == len(flooded))
        assert [e["order_id"] for e in alice_seen] == flooded
        stuck_seen, code = await _drain(stuck)
    assert len(stuck_seen) < len(flooded)  # cut off, not buffered without end
    assert [e["order_id"] for e in stuck_seen] == flooded[:len(stuck_seen)]
    assert code in {SLOW_CONSUMER, 1006}, code  # 1006: the close frame could not get through
    # A cut-off is an outcome, not a failure of the server: one line, no traceback.
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR
            or "Exception in ASGI" in r.getMessage()] == []
    assert len([r for r in caplog.records if r.levelno == logging.WARNING
                and "slow consumer" in r.getMessage()]) == 1


async def _drain(connection: ClientConnection) -> tuple[list[dict[str, Any]], int | None]:
    """What a stopped reader finds when it reads again: its events, then the end."""
    events: list[dict[str, Any]] = []
    with contextlib.suppress(websockets.ConnectionClosed):
        async with asyncio.timeout(PATIENCE):
            async for raw in connection:
                message = json.loads(raw)
                if message["type"] == "order":
                    events.append(message)
    return events, connection.close_code


@pytest.fixture
async def one_connection_server() -> AsyncIterator[Server]:
    """A server whose streams share one database connection and wait briefly for it."""
    settings = Settings(redis_url=os.environ["REDIS_URL"], paper_always_open=True,
                        stream_db_pool_size=1, stream_db_pool_timeout_seconds=0.5,
                        stream_heartbeat_seconds=1.0)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    async with _serving(settings, listener) as served:
        yield served


@pytest.mark.parametrize("failing", ["opening", "serving"])
async def test_a_stream_whose_database_read_fails_closes_1011_with_one_warning_no_traceback(
    one_connection_server: Server, caplog: pytest.LogCaptureFixture, failing: str,
) -> None:
    server = one_connection_server
    services: StreamServices = server.app.state.stream
    auth, token = await _user(server)
    user_id = (await server.http.get("/api/v1/me", headers=auth)).json()["id"]
    with caplog.at_level(logging.INFO):
        async with contextlib.AsyncExitStack() as stack:
            if failing == "serving":
                connection = await stack.enter_async_context(
                    await _connect(server, token, last_seq=0))
                await _next(connection, "heartbeat")  # authenticated and pumping
            # The streams' only connection is taken: their next read waits past its timeout.
            held = await stack.enter_async_context(services.engine.connect())
            await held.execute(text("SELECT 1"))
            if failing == "opening":
                connection = await stack.enter_async_context(
                    await _connect(server, token, last_seq=0))
            await connection.send(json.dumps({"action": "subscribe", "symbols": ["AAPL"]}))
            with contextlib.suppress(websockets.ConnectionClosed):
                await _next(connection, "never")
    assert connection.close_code == 1011
    assert "reconnect" in (connection.close_reason or "")
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR
            or "Exception in ASGI" in r.getMessage()] == []
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "QueuePool limit" in warning.getMessage()
    if failing == "serving":
        assert user_id in warning.getMessage()


@pytest.fixture
async def patient_server() -> AsyncIterator[Server]:
    """One stream connection, and requests that give up on their pool after half a second."""
    settings = Settings(redis_url=os.environ["REDIS_URL"], paper_always_open=True,
                        stream_db_pool_size=1, db_pool_timeout_seconds=0.5)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    async with _serving(settings, listener) as served:
        yield served


async def test_a_stream_waits_its_turn_for_a_busy_stream_pool_rather_than_failing(
    patient_server: Server,
) -> None:
    server = patient_server
    services: StreamServices = server.app.state.stream
    auth, token = await _user(server)
    async with services.engine.connect() as held:
        await held.execute(text("SELECT 1"))
        connection = await _connect(server, token, last_seq=0)
        # Longer than a request waits for its pool: a stream's reads queue, and reconnecting
        # (a handshake, an auth, the catch-up again) would only add to what is queued.
        await asyncio.sleep(1.5)
    async with connection:
        order_id = await place(server.http, auth, **RESTING_BUY)
        assert (await _next(connection, "order"))["order_id"] == order_id
    assert connection.close_code in {None, 1000}
