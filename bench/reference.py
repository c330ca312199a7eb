"""The yardstick of issue 3: a POST that does one asyncpg INSERT and one Redis LPUSH, no more.

Served like the real API (`uvicorn bench.reference:create_app --factory --workers 2`), on the
same framework, so the ratio measures what ordergate's own work costs per order.
`bench_reference` is created by the bench before the servers start (two workers racing on
CREATE TABLE IF NOT EXISTS can fail on the catalog's unique index).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request, Response
from redis.asyncio import Redis

from shared.settings import get_settings

PATH = "/reference"
REDIS_KEY = "bench:reference"
CREATE_TABLE = """
    CREATE TABLE IF NOT EXISTS bench_reference (
        id bigserial PRIMARY KEY,
        idempotency_key text,
        payload text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )"""
INSERT = "INSERT INTO bench_reference (idempotency_key, payload) VALUES ($1, $2)"
ACCEPTED = b'{"status":"accepted"}'


def create_app() -> FastAPI:
    """Build the reference app; its pool is as large as the real API's."""
    settings = get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(
            settings.asyncpg_dsn, min_size=2, max_size=settings.db_pool_size)
        app.state.redis = Redis.from_url(settings.redis_url)
        try:
            yield
        finally:
            await app.state.redis.aclose()
            await app.state.pool.close()

    app = FastAPI(title="ordergate bench reference", lifespan=lifespan)

    @app.post(PATH, status_code=202)
    async def reference(request: Request) -> Response:
        """Insert the body as one row, push it to Redis, answer 202."""
        body = await request.body()
        await app.state.pool.execute(INSERT, request.headers.get("idempotency-key"),
                                     body.decode())
        await app.state.redis.lpush(REDIS_KEY, body)
        return Response(ACCEPTED, status_code=202, media_type="application/json")

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Answer while the process is alive."""
        return {"status": "ok"}

    return app
