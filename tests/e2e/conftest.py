"""End-to-end fixtures: a real Celery worker process (with beat for the sweeper)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
import redis
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from scripts import devstack
from shared.brokers.catalog import REAL_BROKERS, queue_for
from shared.messaging import tasks
from shared.messaging.heartbeat import WORKERS_KEY
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Short deadlines so the sweeper's re-drive shows within a test's patience.
FAST_RECOVERY = {"DISPATCH_GRACE_SECONDS": "1", "SWEEP_INTERVAL_SECONDS": "0.5",
                 "CIRCUIT_RESET_SECONDS": "1", "RECONCILE_INTERVAL_SECONDS": "2",
                 "RECONCILE_MIN_AGE_SECONDS": "2"}
ALL_QUEUES = ",".join([tasks.ORDERS_QUEUE, tasks.DEFAULT_QUEUE,
                       *(queue_for(b) for b in sorted(REAL_BROKERS))])


class WorkerProcess:
    """`celery worker -B` in its own process group, so SIGKILL can take all of it at once."""

    def __init__(self, redis_url: str, workdir: Path, env: dict[str, str] | None = None,
                 args: Sequence[str] = ()) -> None:
        self.redis_url = redis_url
        self.workdir = workdir
        self.env = env or {}
        self.args = list(args)
        self.name = f"e2e-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"{self.name}.log"

    def start(self) -> None:
        env = {**os.environ, **FAST_RECOVERY, "REDIS_URL": self.redis_url, "LOG_LEVEL": "INFO",
               **self.env}
        command = [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "-B",
                   "-Q", ALL_QUEUES, "--concurrency", "2", "-l", "INFO",
                   "-n", self.name, "-s", str(self.workdir / "beat-schedule"),
                   "--without-gossip", "--without-mingle", *self.args]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        client = redis.Redis.from_url(self.redis_url)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"worker exited early:\n{self.log.read_text()[-3000:]}")
                if client.zscore(WORKERS_KEY, self.name) is not None:
                    return
                time.sleep(0.2)
        finally:
            client.close()
        raise RuntimeError(f"worker not ready in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def restart_if_exited(self) -> bool:
        """Do what a supervisor (compose's `restart: unless-stopped`) does; True if it had to.

        Celery 5.7's consumer can exit on a lost Redis connection (an AttributeError from
        kombu while closing the broken connection), so the worker must run supervised.
        """
        assert self.process is not None
        if self.process.poll() is None:
            return False
        self.start()
        return True

    def kill(self) -> None:
        """SIGKILL the worker, its children and its beat: no cleanup, like a power cut."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> None:
        """SIGTERM to the main process only, as `docker stop` and `make run` send it: Celery's
        warm shutdown (running tasks finish, the prefetched go back to the queue)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        """Warm shutdown, then SIGKILL whatever is left."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()


class PrivateRedis:
    """A redis-server of the test's own, so the test can stop and restart it."""

    def __init__(self, workdir: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(devstack.redis_server_binary()), "--port", str(self.port), "--bind",
             "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


class WorkerFactory(Protocol):
    def __call__(self, redis_url: str, env: dict[str, str] | None = None,
                 args: Sequence[str] = ()) -> WorkerProcess: ...


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[WorkerFactory]:
    """Make worker processes for a Redis URL; every one is stopped after the test."""
    made: list[WorkerProcess] = []

    def make(redis_url: str, env: dict[str, str] | None = None,
             args: Sequence[str] = ()) -> WorkerProcess:
        made.append(WorkerProcess(redis_url, tmp_path, env, args))
        return made[-1]

    yield make
    for worker in made:
        worker.stop()


async def running_app(redis_url: str, **overrides: Any) -> AsyncIterator[FastAPI]:
    """The API in-process, with the same fast recovery settings as the worker (or others)."""
    settings = Settings(redis_url=redis_url, **{"dispatch_grace_seconds": 1.0, **overrides})
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


class ClientFactory(Protocol):
    def __call__(self, redis_url: str,
                 **settings: Any) -> Awaitable[tuple[httpx.AsyncClient, AsyncEngine]]: ...


@pytest.fixture
async def client_for() -> AsyncIterator[ClientFactory]:
    """A factory of (client, engine) pairs bound to a given Redis URL."""
    stacks: list[AsyncIterator[FastAPI]] = []
    clients: list[httpx.AsyncClient] = []

    async def make(redis_url: str, **settings: Any) -> tuple[httpx.AsyncClient, AsyncEngine]:
        stack = running_app(redis_url, **settings)
        stacks.append(stack)
        application = await anext(stack)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=application),
                                   base_url="http://testserver")
        clients.append(client)
        return client, application.state.engine

    yield make
    for client in clients:
        await client.aclose()
    for stack in stacks:
        await anext(stack, None)


async def order_statuses(engine: AsyncEngine, ids: list[str]) -> dict[str, str]:
    """Current status of each order."""
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT id::text, status FROM orders WHERE id::text ="
                                       " ANY(:ids)"), {"ids": ids})
        return {row.id: row.status for row in rows}


async def exactly_once_report(engine: AsyncEngine, ids: list[str]) -> dict[str, tuple[int, int]]:
    """For each order: (fills recorded, FILLED events logged)."""
    async with engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT o.id::text AS id,"
            " (SELECT count(*) FROM fills f WHERE f.order_id = o.id) AS fills,"
            " (SELECT count(*) FROM order_events e WHERE e.order_id = o.id"
            "   AND e.to_status = 'FILLED') AS filled_events"
            " FROM orders o WHERE o.id::text = ANY(:ids)"), {"ids": ids})
        return {row.id: (row.fills, row.filled_events) for row in rows}


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll `predicate` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
