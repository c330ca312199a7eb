"""SIGTERM to real processes: the API ends its streams with a reason and answers what is in
flight; a worker finishes or returns its tasks, and every order still ends exactly once."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import websockets
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection
from websockets.frames import Close

from api.server import command, graceful_seconds
from shared.messaging import tasks
from shared.settings import Settings
from tests.e2e.apiserver import wait_healthy
from tests.e2e.conftest import (
    ROOT,
    ClientFactory,
    WorkerFactory,
    exactly_once_report,
    order_statuses,
    wait_for,
)
from tests.helpers import PASSWORD, place, register_and_login, set_quote, user_id_of
from tests.stubs.server import free_port

pytestmark = pytest.mark.e2e
PATIENCE = 30.0
GRACEFUL_SECONDS = graceful_seconds(Settings())  # the most uvicorn waits for requests in flight
MARKET_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "MARKET", "quantity": "1"}


@pytest.fixture(params=[1, 2], ids=["one process", "two workers"])
def api(tmp_path: Path, request: pytest.FixtureRequest
        ) -> Iterator[tuple[subprocess.Popen[bytes], int, int]]:
    """The API in a uvicorn process of its own (which SIGTERM must stop cleanly), alone or
    as `make run` and the image serve it, two worker processes under uvicorn's supervisor."""
    port = free_port()
    log = tmp_path / "api.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command(sys.executable, "127.0.0.1", port, request.param),
                                   cwd=ROOT, env=os.environ.copy(), stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, log)
        yield process, port, request.param
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


async def _login(base: str) -> tuple[bytes, str]:
    """A new user's login request body, and its access token."""
    email = f"shutdown-{os.urandom(6).hex()}@example.com"
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    async with httpx.AsyncClient(base_url=base) as http:
        assert (await http.post("/api/v1/auth/register", content=body,
                                headers={"content-type": "application/json"})).status_code == 201
        login = await http.post("/api/v1/auth/login", content=body,
                                headers={"content-type": "application/json"})
    return body, login.json()["access_token"]


async def _request_waiting_for_its_body(port: int, body: bytes) -> tuple[
        asyncio.StreamReader, asyncio.StreamWriter]:
    """A login whose body is held back until the app has asked for it (100-continue)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /api/v1/auth/login HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                 b"content-type: application/json\r\nexpect: 100-continue\r\n"
                 b"content-length: " + str(len(body)).encode() + b"\r\n\r\n")
    await writer.drain()
    async with asyncio.timeout(PATIENCE):
        assert (await reader.readline()).startswith(b"HTTP/1.1 100")
        await reader.readline()  # the blank line closing the interim answer
    return reader, writer


async def _close_frame(connection: ClientConnection) -> Close | None:
    """Read until the server closes the connection; the close frame it sent, if any."""
    try:
        while True:
            await connection.recv()
    except websockets.ConnectionClosed as closed:
        return closed.rcvd


async def _refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def test_sigterm_closes_streams_with_1001_answers_the_request_in_flight_and_exits(
    api: tuple[subprocess.Popen[bytes], int, int],
) -> None:
    process, port, workers = api
    base = f"http://127.0.0.1:{port}"
    body, token = await _login(base)
    socket_stream = await websockets.connect(f"ws://127.0.0.1:{port}/api/v1/stream"
                                             f"?token={token}")
    await socket_stream.send(json.dumps({"action": "subscribe", "symbols": ["AAPL"]}))
    async with asyncio.timeout(PATIENCE):
        while json.loads(await socket_stream.recv())["type"] != "subscribed":
            pass
    sse_client = httpx.AsyncClient(base_url=base, timeout=PATIENCE)
    sse = await sse_client.send(sse_client.build_request(
        "GET", "/api/v1/stream/sse", params={"token": token, "symbols": "AAPL"}), stream=True)
    sse_lines = sse.aiter_lines()
    assert (await anext(sse_lines)).startswith("event: ")
    reader, writer = await _request_waiting_for_its_body(port, body)

    process.send_signal(signal.SIGTERM)

    async with asyncio.timeout(PATIENCE):
        frame = await _close_frame(socket_stream)
        async for _ in sse_lines:  # the SSE response completes
            pass
    assert frame is not None, "the connection dropped without a close frame"
    assert (frame.code, frame.reason) == (1001, "server shutting down")

    async def refusing() -> bool:
        return await _refused(port)

    if workers == 1:
        # Under the supervisor the listening socket is the parent's until it exits: new
        # connections wait in the kernel's queue, unserved, and are reset then.
        await wait_for(refusing, PATIENCE, "the API to stop accepting connections")
    assert process.poll() is None, "the API exited with a request in flight"
    writer.write(body)
    await writer.drain()
    async with asyncio.timeout(PATIENCE):
        answer = await reader.read()
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer[:500]
    assert json.loads(payload)["access_token"]
    writer.close()
    await sse_client.aclose()
    process.wait(GRACEFUL_SECONDS + PATIENCE)
    # A lone uvicorn re-raises the signal it handled once it is done; its supervisor exits 0.
    assert process.returncode == (-signal.SIGTERM if workers == 1 else 0)


async def _waiting_on_a_lock(engine: AsyncEngine) -> int:
    """How many sessions of this database wait for a lock another holds."""
    async with engine.connect() as conn:
        waiting: int = (await conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'"))).scalar_one()
    return waiting


def _queued_order_ids(redis_url: str) -> set[str]:
    """The orders that submit messages waiting in the orders queue carry."""
    client = redis.Redis.from_url(redis_url)
    try:
        envelopes = client.lrange(tasks.ORDERS_QUEUE, 0, -1)
    finally:
        client.close()
    carried: set[str] = set()
    for envelope in envelopes:
        message = json.loads(envelope)
        if message["headers"]["task"] == tasks.SUBMIT_ORDERS:
            args, _, _ = json.loads(base64.b64decode(message["body"]))
            carried.update(args[0])
    return carried


async def test_sigterm_to_a_worker_mid_batch_finishes_or_requeues_every_order(
    client_for: ClientFactory, worker_factory: WorkerFactory, redis_url: str,
) -> None:
    # The sweeper re-drives nothing within the test: only the queue can deliver an order.
    client, engine = await client_for(redis_url, dispatch_grace_seconds=3600)
    auth = await register_and_login(client)
    await set_quote(engine, "AAPL", "228.49", "228.51")
    ids = [await place(client, auth, **MARKET_BUY) for _ in range(80)]  # queued, no worker yet
    # The account's row held, so that the worker's first batches wait on it mid-transaction:
    # SIGTERM then finds them in flight, however fast the worker would have filled them all.
    async with engine.connect() as holder:
        await holder.execute(text("SELECT id FROM accounts WHERE user_id = :user_id"
                                  " FOR UPDATE"), {"user_id": user_id_of(auth)})
        # Small batches, so that most orders are still queued behind the ones in flight.
        first = worker_factory(redis_url, env={"WORKER_BATCH_ORDERS": "4"})
        first.start()

        async def batch_waiting() -> bool:
            return await _waiting_on_a_lock(engine) > 0

        await wait_for(batch_waiting, PATIENCE, "a batch to wait on the account's row")
        first.terminate()
        await asyncio.sleep(1)  # the worker takes the signal and stops taking messages
        await holder.rollback()
    assert first.process is not None
    try:
        exit_code = first.process.wait(PATIENCE)
    except subprocess.TimeoutExpired:  # seen once in CI: keep what the worker was doing
        pytest.fail(f"no warm shutdown within {PATIENCE:.0f}s; the worker's log ends:\n"
                    f"{first.log.read_text()[-4000:]}")
    assert exit_code == 0, "the worker's warm shutdown failed"

    statuses = await order_statuses(engine, ids)
    waiting = {order_id for order_id, status in statuses.items() if status != "FILLED"}
    assert "FILLED" in statuses.values(), "the batches in flight did not finish"
    assert waiting, "the worker filled every order before SIGTERM; nothing was in flight"
    assert {statuses[order_id] for order_id in waiting} == {"PENDING_NEW"}  # none half-done
    assert waiting <= _queued_order_ids(redis_url)  # back in the queue, not lost
    second = worker_factory(redis_url)
    second.start()

    async def all_filled() -> bool:
        return set((await order_statuses(engine, ids)).values()) == {"FILLED"}

    await wait_for(all_filled, 90, "the second worker to fill the rest")
    assert set((await exactly_once_report(engine, ids)).values()) == {(1, 1)}
    [position] = (await client.get("/api/v1/positions", headers=auth)).json()
    assert position["quantity"] == "80"
