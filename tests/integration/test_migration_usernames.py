"""Migration 0010 refuses to guess which of two users differing only by case keeps the name."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.conftest import ALEMBIC_INI, ROOT

pytestmark = pytest.mark.integration


def _dsn(url: str, name: str) -> str:
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
async def scratch_url(database_url: str) -> AsyncIterator[str]:
    """An empty database of its own (the suite's must stay at head)."""
    name = f"{urlsplit(database_url).path.lstrip('/')}_m{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(database_url, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _upgrade(url: str, revision: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "upgrade", revision],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True,
        check=False)


async def test_users_differing_only_by_case_stop_the_upgrade_with_their_names(
    scratch_url: str,
) -> None:
    assert _upgrade(scratch_url, "0009").returncode == 0
    conn = await asyncpg.connect(_dsn(scratch_url, urlsplit(scratch_url).path.lstrip("/")))
    try:
        for username in ("demo", "DEMO", "alice"):
            await conn.execute(
                "INSERT INTO users (id, email, username, password_hash) VALUES ($1, $2, $3, 'x')",
                uuid.uuid4(), f"{uuid.uuid4().hex}@example.com", username)
    finally:
        await conn.close()

    refused = _upgrade(scratch_url, "0010")

    assert refused.returncode != 0
    assert ("usernames taken by more than one user when case is ignored: DEMO, demo;"
            in refused.stderr)
