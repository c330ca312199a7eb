"""The bench's own stack: servers, a fresh database, uvicorn (API and reference), Celery.

The bench runs on devstack's "bench" profile (unless DATABASE_URL and REDIS_URL are given):
embedded servers of its own with production durability (fsync on, Redis AOF), so a test
session can neither flush them nor stop them under it. Everything started here is stopped on
the way out, whatever the way out is.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import redis

from bench import procs, reference
from scripts import devstack

ROOT = devstack.ROOT
OUT_DIR = devstack.DATA_DIR / "bench"
PY = sys.executable
HOST = "127.0.0.1"
PROFILE = "bench"
DATABASE_SUFFIX = "_bench"  # <name>_bench beside the database a DATABASE_URL names
REDIS_DB = 3  # the test suite uses 0; a separate number keeps queues apart
START_TIMEOUT_S = 60.0
API_FLAGS = ["--workers", "2", "--log-level", "warning", "--loop", "uvloop", "--host", HOST]
# The reference is plain uvicorn; api.server picks its own HTTP protocol and access log.
UVICORN_FLAGS = [*API_FLAGS, "--no-access-log", "--http", "httptools"]


@dataclass
class Stack:
    """What the phases need to know about the running stack."""

    env: dict[str, str]
    dsn: str  # asyncpg DSN of the bench database
    database: str
    api_port: int
    reference_port: int
    children: dict[str, procs.Child] = field(default_factory=dict)
    redis_pid: int | None = None

    def cpu_groups(self) -> dict[str, list[int]]:
        """Processes per component, for CPU accounting of each phase."""
        groups = {name: procs.group_pids(c.proc.pid) for name, c in self.children.items()}
        # The bench database's own backends: on a shared server the others' are not ours.
        groups["postgres"] = procs.backends_of(self.database)
        if self.redis_pid is not None:
            groups["redis"] = [self.redis_pid]
        return groups


@contextlib.contextmanager
def running() -> Iterator[Stack]:
    """Start the whole stack; stop all of it on exit (normal, error or Ctrl-C)."""
    with contextlib.ExitStack() as exits:
        urls = _start_servers(exits)
        stack = _prepare(urls, own_redis="REDIS_URL" not in os.environ)
        children: list[procs.Child] = []
        exits.callback(procs.stop, children)  # registered before the first spawn
        _start_children(stack, children)
        yield stack


# ---------------------------------------------------------------- servers and data


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _start_servers(exits: contextlib.ExitStack) -> dict[str, str]:
    cfg = devstack.PROFILES[PROFILE]
    was_up = _port_open(cfg.pg_port) and _port_open(cfg.redis_port)
    print(f"==> starting PostgreSQL and Redis (devstack profile {PROFILE})", flush=True)
    urls = devstack.start(PROFILE)
    uses_embedded = not ("DATABASE_URL" in os.environ and "REDIS_URL" in os.environ)
    if uses_embedded and not was_up:  # only stop what this run started
        exits.callback(devstack.stop, PROFILE)
    return urls


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _asyncpg_dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def _prepare(urls: dict[str, str], own_redis: bool) -> Stack:
    database = (urlsplit(urls["DATABASE_URL"]).path.lstrip("/") or "ordergate") + DATABASE_SUFFIX
    database_url = _with_database(urls["DATABASE_URL"], database)
    redis_url = urls["REDIS_URL"]
    if own_redis:
        redis_url = urlunsplit(urlsplit(redis_url)._replace(path=f"/{REDIS_DB}"))
        with contextlib.closing(redis.Redis.from_url(redis_url)) as client:
            client.flushdb()  # leftover task messages of an interrupted run
    dsn = _asyncpg_dsn(database_url)
    asyncio.run(_recreate_database(dsn, database))
    env = _child_env(database_url, redis_url)
    _migrate(env, database)
    asyncio.run(_create_reference_table(dsn))
    stack = Stack(env=env, dsn=dsn, database=database, api_port=_free_port(),
                  reference_port=_free_port())
    if own_redis:
        stack.redis_pid = _pidfile(devstack.DATA_DIR / PROFILE / "redis" / "redis-server.pid")
    return stack


async def _recreate_database(dsn: str, database: str) -> None:
    conn = await asyncpg.connect(_with_database(dsn, "postgres"))
    try:
        # FORCE ends sessions an interrupted earlier run may have left behind.
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def _create_reference_table(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(reference.CREATE_TABLE)
    finally:
        await conn.close()


def _child_env(database_url: str, redis_url: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "ENVIRONMENT": "production", "LOG_LEVEL": "WARNING",
           # Fresh secrets per run: the bench's tokens must not work anywhere else.
           "JWT_SECRET": secrets.token_urlsafe(48),
           "CREDENTIALS_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
           "BROKER_WEBHOOK_SECRET": secrets.token_urlsafe(32),
           # Production refuses a plain-http public address; no broker calls the bench back.
           "PUBLIC_BASE_URL": "https://bench.invalid",
           # Throughput is measured whatever the hour: the paper exchange trades around the clock.
           "PAPER_ALWAYS_OPEN": "true",
           # The bench measures the gateway, not its request budgets (its users sign up and log
           # in from one address).
           **{f"RATE_LIMIT_{budget}": "1000000/minute"
              for budget in ("IP", "API", "ORDERS", "REGISTER", "LOGIN")}}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _migrate(env: dict[str, str], database: str) -> None:
    print(f"==> migrating {database}", flush=True)
    result = subprocess.run(
        [PY, "-m", "alembic", "-c", "migrations/alembic.ini", "upgrade", "head"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise procs.BenchError(f"alembic upgrade head failed:\n{result.stdout}{result.stderr}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _pidfile(path: Path) -> int | None:
    try:
        first = path.read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() else None


# ---------------------------------------------------------------- app processes


def _commands(stack: Stack) -> dict[str, list[str]]:
    celery = [PY, "-m", "celery", "-A", "worker.app"]
    return {
        # Served as in production (api.server's protocol, its settings check): so measured.
        "api": [PY, "-m", "api.server", "--port", str(stack.api_port), *API_FLAGS],
        "reference": [PY, "-m", "uvicorn", "bench.reference:create_app", "--factory",
                      "--port", str(stack.reference_port), *UVICORN_FLAGS],
        # -B: beat in the worker, for the sweeper that re-drives lost dispatches.
        "worker": [*celery, "worker", "-B", "-Q", "orders,default", "--concurrency", "2",
                   "-l", "warning", "-n", "bench@%h",
                   "-s", str(OUT_DIR / "celerybeat-schedule")],
    }


def _start_children(stack: Stack, children: list[procs.Child]) -> None:
    print("==> starting the API (2 workers), the reference app and a Celery worker", flush=True)
    for name, cmd in _commands(stack).items():
        child = procs.spawn(name, cmd, stack.env, ROOT, OUT_DIR / "logs")
        children.append(child)
        stack.children[name] = child
    api = f"http://{HOST}:{stack.api_port}"
    procs.wait_http_ok(f"{api}/health", stack.children["api"], START_TIMEOUT_S)
    procs.wait_http_ok(f"http://{HOST}:{stack.reference_port}/health",
                       stack.children["reference"], START_TIMEOUT_S)
    # /ready needs a worker heartbeat in Redis, so the worker is consuming once it is 200.
    procs.wait_http_ok(f"{api}/ready", stack.children["worker"], START_TIMEOUT_S)
