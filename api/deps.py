"""Request-scoped dependencies: settings, database, Redis, the caller. All `async def`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.errors import ApiError
from api.security import Principal, verify_access_token
from shared.messaging.enqueue import OrderDispatcher
from shared.settings import Settings

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_settings_dep(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> AsyncEngine:
    """The process's async engine."""
    engine: AsyncEngine = request.app.state.engine
    return engine


async def get_redis(request: Request) -> Redis:
    """The process's Redis client (results cache, event stream, task queue)."""
    redis: Redis = request.app.state.redis
    return redis


async def get_dispatcher(request: Request) -> OrderDispatcher:
    """The process's order dispatcher (publishes accepted orders after commit)."""
    dispatcher: OrderDispatcher = request.app.state.dispatcher
    return dispatcher


async def get_transaction(engine: Annotated[AsyncEngine, Depends(get_engine)]
                          ) -> AsyncIterator[AsyncConnection]:
    """One transaction per request: committed when the handler returns, rolled back if it raises."""
    async with engine.begin() as connection:
        yield connection


async def current_principal(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """The authenticated caller; 401 for a missing, expired or forged token."""
    principal = verify_access_token(request.app.state.settings, token) if token else None
    if principal is None:
        raise ApiError(401, "a valid bearer access token is required", code="unauthorized",
                       headers={"WWW-Authenticate": "Bearer"})
    return principal


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
RedisDep = Annotated[Redis, Depends(get_redis)]
TransactionDep = Annotated[AsyncConnection, Depends(get_transaction)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
DispatcherDep = Annotated[OrderDispatcher, Depends(get_dispatcher)]
