"""Streams read the database through a pool of their own: they cannot starve order entry."""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from api.stream.service import StreamServices

pytestmark = pytest.mark.integration

LIMIT_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "1",
             "price": "100.00"}


async def test_an_order_is_accepted_while_every_stream_connection_is_taken(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    services: StreamServices = app.state.stream
    pool = services.engine.pool
    assert isinstance(pool, QueuePool)
    async with AsyncExitStack() as held:
        # What a thousand streams polling on a starved loop do: hold every stream connection.
        for _ in range(pool.size()):
            conn = await held.enter_async_context(services.engine.connect())
            await conn.execute(text("SELECT 1"))
        assert pool.checkedout() == pool.size()

        response = await client.post("/api/v1/orders", json=LIMIT_BUY, headers=auth)

    assert response.status_code == 202, response.text
