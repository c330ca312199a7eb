"""What every command shares: exit codes, the configuration, connections, failures in one line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from enum import IntEnum
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine

    from shared.settings import Settings

T = TypeVar("T")


class ExitCode(IntEnum):
    """What `ordergate`'s exit status means; README "Operator command line" lists them too."""

    OK = 0
    FAILED = 1  # not found, or a check or part of the work failed
    USAGE = 2  # a bad option or argument (Typer's own code)
    UNREACHABLE = 3  # PostgreSQL or Redis could not be reached
    CONFIG = 4  # the configuration (environment or .env) was refused


class Failure(Exception):
    """What a command could not do, told to the operator in one line, with its exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.code = code


def settings() -> Settings:
    """The process's settings, or a CONFIG failure naming each refused variable."""
    from pydantic import ValidationError

    from shared.settings import get_settings, refusal

    try:
        return get_settings()
    except ValidationError as error:
        raise Failure(f"the configuration is refused: {refusal(error)}",
                      ExitCode.CONFIG) from None


def run(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a connection lost on the way is an UNREACHABLE failure."""
    return guarded(lambda: asyncio.run(work))


def guarded(call: Callable[[], T]) -> T:
    """Call `call`; a connection lost on the way is an UNREACHABLE failure."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import InterfaceError

    try:
        return call()
    except (OSError, TimeoutError, RedisConnectionError, RedisTimeoutError,
            InterfaceError) as error:
        raise Failure(f"lost the connection to PostgreSQL or Redis: {_reason(error)}",
                      ExitCode.UNREACHABLE) from None


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine for DATABASE_URL that has answered once; UNREACHABLE if it does not."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from shared.db.engine import make_engine

    engine = make_engine(settings, pool_size=1)
    try:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (OSError, TimeoutError, DBAPIError) as error:
            raise unreachable("the database", settings.database_url, error) from None
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """A client of REDIS_URL that has answered a PING; UNREACHABLE if it does not."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(settings.redis_url, socket_timeout=settings.db_connect_timeout_seconds,
                            socket_connect_timeout=settings.db_connect_timeout_seconds)
    try:
        try:
            await client.ping()
        except (OSError, RedisError) as error:
            raise unreachable("Redis", settings.redis_url, error) from None
        yield client
    finally:
        await client.aclose()


def unreachable(what: str, url: str, error: BaseException) -> Failure:
    """The UNREACHABLE failure for a server, naming its URL without the password."""
    return Failure(f"cannot reach {what} at {redacted(url)}: {_reason(error)}",
                   ExitCode.UNREACHABLE)


def redacted(url: str) -> str:
    """The URL with its password masked."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an unparsable URL)"


def _reason(error: BaseException) -> str:
    # SQLAlchemy's text adds the statement and a link on further lines: the driver's own
    # message is the reason.
    cause = getattr(error, "orig", None) or error
    text = " ".join(str(cause).split()) or type(cause).__name__
    return text[:300]
