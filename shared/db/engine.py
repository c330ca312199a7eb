"""Async engine construction: one engine per process, made by the process's edge."""

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.settings import Settings


def make_engine(settings: Settings, *, pool_size: int | None = None) -> AsyncEngine:
    """Create the async engine for DATABASE_URL with sane pool settings."""
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
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_recycle=1800,
    )
