"""Real network faults between ordergate and PostgreSQL (tests/netfault.py).

A frozen database (every socket open, nothing answers, as with a SIGSTOPped postmaster) makes
requests answer 503 + Retry-After within a few seconds instead of hanging, and the app recovers
alone once it answers again. The quote simulator survives dropped and frozen connections.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from api.main import create_app
from shared.settings import Settings
from tests.helpers import register_and_login
from tests.netfault import FaultProxy
from worker.runtime import Runtime

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 2.0  # statement and connect timeout of the app under test
ANSWER_BOUND_S = 15.0  # "does not hang": generous against a 2 s timeout
RECOVER_BOUND_S = 20.0
LIMIT_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "1",
             "price": "100.00"}


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[FaultProxy]:
    fault = FaultProxy.for_url(database_url)
    await fault.start()
    yield fault
    await fault.stop()


@pytest.fixture
async def direct_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, pool_size=1)
    yield engine
    await engine.dispose()


@pytest.fixture
async def faulty_client(proxy: FaultProxy,
                        database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=proxy.url_through(database_url),
                        db_statement_timeout_seconds=TIMEOUT_S,
                        db_connect_timeout_seconds=TIMEOUT_S, db_pool_timeout_seconds=TIMEOUT_S)
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


Call = Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[httpx.Response]]
CALLS: dict[str, Call] = {
    "POST /orders": lambda c, auth: c.post("/api/v1/orders", json=LIMIT_BUY, headers=auth),
    "GET /orders": lambda c, auth: c.get("/api/v1/orders", headers=auth),
    "GET /account": lambda c, auth: c.get("/api/v1/account", headers=auth),
}


def _assert_unavailable(name: str, response: httpx.Response) -> None:
    assert response.status_code == 503, f"{name}: {response.status_code} {response.text}"
    assert int(response.headers["retry-after"]) >= 1
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    assert set(error) == {"code", "message", "details", "request_id"}


async def _until_ok(client: httpx.AsyncClient, auth: dict[str, str], call: Call) -> int:
    deadline = time.monotonic() + RECOVER_BOUND_S
    status = 0
    while time.monotonic() < deadline:
        status = (await call(client, auth)).status_code
        if status < 300:
            return status
        await asyncio.sleep(0.2)
    return status


@pytest.mark.parametrize("name", list(CALLS))
async def test_a_frozen_database_answers_503_with_retry_after_then_recovers(
    faulty_client: httpx.AsyncClient, proxy: FaultProxy, name: str
) -> None:
    auth = await register_and_login(faulty_client)
    call = CALLS[name]
    assert (await call(faulty_client, auth)).status_code < 300  # warm: pooled connections
    proxy.freeze()
    try:
        for _ in range(2):  # a pooled connection that hangs, then a new one that cannot connect
            async with asyncio.timeout(ANSWER_BOUND_S):
                _assert_unavailable(name, await call(faulty_client, auth))
    finally:
        proxy.resume()
    assert 200 <= await _until_ok(faulty_client, auth, call) < 300


async def test_a_dropped_database_connection_answers_503_then_recovers(
    faulty_client: httpx.AsyncClient, proxy: FaultProxy
) -> None:
    auth = await register_and_login(faulty_client)
    await proxy.drop()
    call = CALLS["GET /account"]
    async with asyncio.timeout(ANSWER_BOUND_S):
        response = await call(faulty_client, auth)
    if response.status_code != 200:  # the broken pooled connection fails one request
        _assert_unavailable("GET /account", response)
    assert await _until_ok(faulty_client, auth, call) == 200


async def test_a_worker_gives_up_on_a_frozen_database_within_its_timeouts(
    proxy: FaultProxy, database_url: str
) -> None:
    settings = Settings(database_url=proxy.url_through(database_url),
                        db_statement_timeout_seconds=TIMEOUT_S,
                        db_connect_timeout_seconds=TIMEOUT_S)
    runtime = Runtime(settings)  # the worker process's engine, as worker_process_init builds it
    try:
        async with runtime.engine.connect() as conn:  # warm: a pooled connection
            await conn.execute(text("SELECT 1"))
        proxy.freeze()
        for _ in range(2):  # the pooled connection hangs, then a new one cannot connect
            async with asyncio.timeout(ANSWER_BOUND_S):
                with pytest.raises((OSError, DBAPIError)):
                    async with runtime.engine.connect() as conn:
                        await conn.execute(text("SELECT 1"))
    finally:
        proxy.resume()
        await runtime.engine.dispose()
        await runtime.redis.aclose()


# ---------------------------------------------------------------- the quote simulator


async def _latest_quote(engine: AsyncEngine) -> datetime:
    async with engine.connect() as conn:
        latest: datetime = (await conn.execute(text("SELECT max(ts) FROM quotes"))).scalar_one()
    return latest


async def _quotes_move(engine: AsyncEngine, simulator: Simulator) -> bool:
    before = await _latest_quote(engine)
    deadline = time.monotonic() + RECOVER_BOUND_S
    while time.monotonic() < deadline and simulator.alive():
        if await _latest_quote(engine) > before:
            return True
        await asyncio.sleep(0.1)
    return False


@dataclass
class Simulator:
    """The `python -m worker.simulator` process and the file its log goes to."""

    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self) -> str:
        return self.log.read_text()[-2000:]


@pytest.fixture
async def simulator(proxy: FaultProxy, database_url: str,
                    tmp_path: Path) -> AsyncIterator[Simulator]:
    env = {**os.environ, "DATABASE_URL": proxy.url_through(database_url),
           "SIMULATOR_INTERVAL_SECONDS": "0.1", "DB_STATEMENT_TIMEOUT_SECONDS": str(TIMEOUT_S),
           "DB_CONNECT_TIMEOUT_SECONDS": str(TIMEOUT_S), "PYTHONPATH": str(ROOT)}
    log = tmp_path / "simulator.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "worker.simulator"], cwd=ROOT,
                                   env=env, stdout=sink, stderr=subprocess.STDOUT)
    yield Simulator(process, log)
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def test_the_simulator_keeps_quoting_through_dropped_and_frozen_connections(
    simulator: Simulator, proxy: FaultProxy, direct_engine: AsyncEngine
) -> None:
    assert await _quotes_move(direct_engine, simulator), simulator.tail()
    for _ in range(3):  # a PostgreSQL restart: every connection aborted, repeatedly
        await proxy.drop()
        await asyncio.sleep(0.3)
    assert await _quotes_move(direct_engine, simulator), simulator.tail()
    proxy.freeze()
    await asyncio.sleep(2 * TIMEOUT_S + 2)  # past the timeouts: the simulator fails, retries
    proxy.resume()
    assert await _quotes_move(direct_engine, simulator), simulator.tail()
    assert simulator.alive()
    assert "retrying in" in simulator.log.read_text()  # it said what it was doing
