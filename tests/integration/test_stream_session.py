"""A stream session's background work ends when the session does, whatever its libraries do."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fastapi import FastAPI

from api.stream.service import Session, StreamServices

pytestmark = pytest.mark.integration


async def test_a_closed_session_stops_reading_even_when_its_cancel_was_lost(
    app: FastAPI,
) -> None:
    services: StreamServices = app.state.stream
    warm = uuid.uuid4()  # the doorbell's Redis client holds a connection from now on
    services.doorbell.leave(warm, await services.doorbell.join(warm))
    for _ in range(5):
        session = await Session.open(services, uuid.uuid4(), last_seq=0)
        pump = asyncio.create_task(session.pump())
        await asyncio.sleep(0)  # it is joining the doorbell: a Redis read
        # redis-py often finishes that read and drops the cancellation: the pump must end
        # anyway once its session is closed.
        pump.cancel()
        session.close()

        done, _ = await asyncio.wait({pump}, timeout=services.settings.stream_poll_seconds + 2)
        assert pump in done, "the pump went on reading after its session was closed"
