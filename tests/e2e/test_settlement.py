"""The end-of-day settlement run by a real Celery worker's beat: the latest closed NASDAQ day
is settled into holdings by the schedule, once."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import text

from shared.domain.sessions import Calendar
from shared.domain.settlement import last_closed_day
from tests.e2e.conftest import ClientFactory, WorkerFactory, wait_for
from tests.helpers import get_ok, register_and_login

pytestmark = pytest.mark.e2e


async def test_beat_settles_the_last_closed_day_into_holdings_once(
        client_for: ClientFactory, worker_factory: WorkerFactory) -> None:
    client, engine = await client_for(os.environ["REDIS_URL"])
    auth = await register_and_login(client)
    day = last_closed_day(Calendar.build(), "NASDAQ", datetime.now(UTC))
    assert day is not None
    traded = datetime.combine(day, time(15), UTC)  # inside the session (10:00 or 11:00 in NY)
    response = await client.post("/api/v1/trades", headers=auth, json={
        "symbol": "AAPL", "side": "BUY", "quantity": "3", "price": "100",
        "executed_at": traded.isoformat()})
    assert response.status_code == 201, response.text
    async with engine.begin() as conn:  # an earlier test's beat may have settled the day
        await conn.execute(text("DELETE FROM settlement_runs WHERE exchange = 'NASDAQ'"
                                " AND trading_day = :day"), {"day": day})

    worker_factory(os.environ["REDIS_URL"],
                   env={"SETTLEMENT_INTERVAL_SECONDS": "0.5"}).start()

    async def settled() -> bool:
        items = (await get_ok(client, auth, "/api/v1/holdings"))["items"]
        return [(h["symbol"], h["t1_quantity"], h["trading_day"]) for h in items] == [
            ("AAPL", "3", day.isoformat())]

    await wait_for(settled, 30, "the day's buy in holdings as t1_quantity")
    # A trade journaled afterwards into the settled day waits for the next day's run: the
    # beats that follow settle nothing again.
    later = await client.post("/api/v1/trades", headers=auth, json={
        "symbol": "AAPL", "side": "BUY", "quantity": "2", "price": "100",
        "executed_at": (traded + timedelta(minutes=30)).isoformat()})
    assert later.status_code == 201, later.text
    await asyncio.sleep(2)  # four more beats
    assert await settled()
