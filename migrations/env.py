"""Alembic environment: runs migrations over the async engine of DATABASE_URL."""

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db.models import metadata
from shared.settings import get_settings

# `ordergate migrate` shows a progress bar instead of the ini file's log lines and counts
# each applied revision through on_version_apply.
if (context.config.config_file_name is not None
        and context.config.attributes.get("configure_logger", True)):
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True,
                      on_version_apply=context.config.attributes.get("on_version_apply"))
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = context.config.attributes.get("database_url") or get_settings().database_url
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
asyncio.run(_run_async())
