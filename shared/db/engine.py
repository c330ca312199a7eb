"""Async engine construction: one engine per process, made by the process's edge."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.settings import Settings

# The client waits this much longer than statement_timeout, so that a slow but living server
# answers with its own clean cancel (the connection stays usable) before the client gives up.
CLIENT_TIMEOUT_MARGIN_SECONDS = 1.0


def connect_args(settings: Settings) -> dict[str, Any]:
    """asyncpg connect arguments: bounded connect, bounded statements on both ends."""
    statement_ms = max(1, round(settings.db_statement_timeout_seconds * 1000))
    return {
        "timeout": settings.db_connect_timeout_seconds,
        # A stopped server never answers, not even a cancel: only a client timeout ends the wait.
        "command_timeout": settings.db_statement_timeout_seconds + CLIENT_TIMEOUT_MARGIN_SECONDS,
        "server_settings": {"statement_timeout": str(statement_ms)},
    }


def make_engine(settings: Settings, *, pool_size: int | None = None,
                pool_timeout: float | None = None) -> AsyncEngine:
    """Create the async engine for DATABASE_URL with sane pool settings and timeouts."""
    return create_async_engine(
        settings.database_url,
        pool_size=pool_size or settings.db_pool_size,
        # Overflow connections are opened and closed per burst: a fixed pool is cheaper.
        max_overflow=0,
        # No pre-ping: it costs three round trips per checkout. A connection broken by a
        # PostgreSQL restart fails one request (503, or a task the sweeper re-drives) and the
        # pool then discards every connection of the old server.
        pool_pre_ping=False,
        # Waiting long for a connection only builds a queue; fail fast and let callers retry.
        pool_timeout=pool_timeout or settings.db_pool_timeout_seconds,
        pool_recycle=1800,
        connect_args=connect_args(settings),
    )
