"""Async engine construction: one engine per process, made by the process's edge."""

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.settings import Settings


def make_engine(settings: Settings, *, pool_size: int | None = None) -> AsyncEngine:
    """Create the async engine for DATABASE_URL with sane pool settings."""
    return create_async_engine(
        settings.database_url,
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=pool_size or settings.db_pool_size,
        pool_pre_ping=True,
        # Waiting long for a connection only builds a queue; fail fast and let callers retry.
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_recycle=1800,
    )
