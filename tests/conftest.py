"""Session infrastructure: real PostgreSQL and Redis, a fresh migrated database.

Runs in pytest_configure, before any test module is imported, so shared.settings sees the
URLs below. Without DATABASE_URL / REDIS_URL the embedded servers of scripts/devstack.py
(profile "test") are started and stopped again at the end of the session.

The suite never touches the database named in a given DATABASE_URL: it drops and recreates
`<name>_test` on the same server (or the name itself if it already ends in `_test`).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis

from scripts import devstack

ROOT = Path(__file__).resolve().parent.parent
ALEMBIC_INI = ROOT / "migrations" / "alembic.ini"
EMBEDDED_FLAG = "ORDERGATE_EMBEDDED_STACK"  # "1" when this session runs the embedded servers


class _Session:
    """What pytest_configure set up, for pytest_unconfigure to undo."""

    started_stack = False
    own_redis = False
    lock: IO[str] | None = None


def _test_database_url(url: str) -> str:
    """Point `url` at its `_test` twin so a suite can never drop a real database."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "ordergate"
    if not name.endswith("_test"):
        name += "_test"
    return urlunsplit(parts._replace(path=f"/{name}"))


def _asyncpg_dsn(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith(("postgresql", "postgres")) else url


async def _recreate_database(url: str) -> None:
    parts = urlsplit(_asyncpg_dsn(url))
    name = parts.path.lstrip("/")
    quoted = '"' + name.replace('"', '""') + '"'
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        # FORCE ends sessions a crashed earlier run may have left behind.
        await conn.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {quoted}")
    finally:
        await conn.close()


def _run_coroutine(coro: Coroutine[Any, Any, None]) -> None:
    # A private loop: pytest-asyncio owns the session loop and must not find it replaced.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(coro)
    finally:
        loop.close()


def _migrate() -> None:
    if not ALEMBIC_INI.exists():
        return  # no schema yet: nothing to migrate
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "upgrade", "head"],
        cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise pytest.UsageError(f"alembic upgrade head failed:\n{result.stdout}{result.stderr}")


def _lock_embedded_stack() -> IO[str]:
    """Hold the test stack for this session: parallel sessions would drop each other's DB."""
    path = devstack.DATA_DIR / "test" / ".session.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "w")  # held open (and locked) until pytest_unconfigure
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.stderr.write("waiting for another test session to release the embedded stack...\n")
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def _start_stack() -> None:
    missing = [key for key in ("DATABASE_URL", "REDIS_URL") if key not in os.environ]
    os.environ[EMBEDDED_FLAG] = "1" if len(missing) == 2 else "0"
    _Session.own_redis = "REDIS_URL" in missing
    if missing:
        _Session.lock = _lock_embedded_stack()
        _Session.started_stack = True  # also on failure: stop what did come up
        try:
            os.environ.update(devstack.start("test"))
        except devstack.DevstackError as err:
            raise pytest.UsageError(f"could not start the embedded test servers: {err}") from None
    os.environ["DATABASE_URL"] = _test_database_url(os.environ["DATABASE_URL"])


def _reset_state() -> None:
    _run_coroutine(_recreate_database(os.environ["DATABASE_URL"]))
    if _Session.own_redis:
        # Only our own throwaway Redis is flushed; a given REDIS_URL may hold someone's data.
        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        try:
            client.flushall()
        finally:
            client.close()
    _migrate()


def pytest_configure(config: pytest.Config) -> None:
    """Provide the servers and a fresh migrated database before tests are collected."""
    if config.option.help or config.option.version:
        return
    # Exchange hours are the default; tests not about sessions (and the worker processes they
    # start, which inherit this environment) trade at any time of day. Session tests opt out.
    os.environ.setdefault("PAPER_ALWAYS_OPEN", "true")
    # Every test signs up and logs in from one address; the request budgets' own tests set
    # theirs (tests/integration/test_rate_limits.py).
    for budget in ("IP", "API", "ORDERS", "LOGIN", "LOGIN_ACCOUNT", "REGISTER", "OTP"):
        os.environ.setdefault(f"RATE_LIMIT_{budget}", "1000000/minute")
    try:
        _start_stack()
        _reset_state()
    except BaseException:
        pytest_unconfigure(config)
        raise


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the embedded servers if this session started them."""
    if _Session.started_stack:
        devstack.stop("test")
        _Session.started_stack = False
    if _Session.lock is not None:
        _Session.lock.close()  # closing releases the flock
        _Session.lock = None


@pytest.fixture(scope="session")
def embedded_stack() -> bool:
    """True when both servers are the embedded ones (safe to stop, flush or restart)."""
    return os.environ.get(EMBEDDED_FLAG) == "1"


@pytest.fixture(scope="session")
def database_url() -> str:
    """The migrated test database (postgresql+asyncpg:// or as given)."""
    return os.environ["DATABASE_URL"]


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis every process of this session uses."""
    return os.environ["REDIS_URL"]
