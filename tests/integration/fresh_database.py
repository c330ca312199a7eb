"""A database of a test's own, for what must see a first start (`ordergate seed` on an empty
schema) without the suite's other data, nor leaving its own to the suite's other tests:
created beside the suite's database, migrated by `ordergate migrate`, dropped afterwards."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from tests.conftest import _asyncpg_dsn
from tests.integration.cli import ordergate


async def _on_server(url: str, statement: str) -> None:
    parts = urlsplit(_asyncpg_dsn(url))
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _run(url: str, statement: str) -> None:
    # A private loop: the caller may be a sync fixture beside pytest-asyncio's loop.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_on_server(url, statement))
    finally:
        loop.close()


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new, migrated database on the suite's server; dropped on exit."""
    base = os.environ["DATABASE_URL"]
    parts = urlsplit(base)
    name = f"{parts.path.lstrip('/')}_{uuid.uuid4().hex[:8]}"
    url = urlunsplit(parts._replace(path=f"/{name}"))
    _run(base, f'CREATE DATABASE "{name}"')
    try:
        migrated = ordergate("migrate", env={"DATABASE_URL": url})
        assert migrated.returncode == 0, migrated.stderr
        yield url
    finally:
        _run(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
