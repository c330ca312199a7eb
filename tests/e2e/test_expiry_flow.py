"""DAY expiry at the close, with a real worker and beat, the clock set to just before 16:00."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from tests.e2e.conftest import ClientFactory, WorkerFactory, order_statuses, wait_for
from tests.helpers import register_and_login, set_quote

pytestmark = pytest.mark.e2e
NY = ZoneInfo("America/New_York")
CLOSE = datetime(2026, 12, 1, 16, 0, tzinfo=NY)  # a Tuesday
# The clock starts here, so that the worker has time to come up before the order is placed.
START = CLOSE - timedelta(seconds=40)
PLACE_AT = CLOSE - timedelta(seconds=6)


async def test_a_resting_day_order_expires_at_the_close_and_frees_its_cash(
        client_for: ClientFactory, worker_factory: WorkerFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    offset = (START - datetime.now(UTC)).total_seconds()
    clock = {"CLOCK_OFFSET_SECONDS": repr(offset), "EXPIRY_INTERVAL_SECONDS": "0.5"}
    for name, value in clock.items():
        monkeypatch.setenv(name, value)  # the API of this test reads the same clock
    worker_factory(os.environ["REDIS_URL"], env=clock).start()
    client, engine = await client_for(os.environ["REDIS_URL"])
    auth = await register_and_login(client)
    await set_quote(engine, "JPM", "249.99", "250.01")
    await asyncio.sleep(max(0.0, (PLACE_AT - _now(offset)).total_seconds()))
    assert _now(offset) < CLOSE - timedelta(seconds=2), "the worker took too long to start"

    response = await client.post("/api/v1/orders", headers=auth, json={
        "symbol": "JPM", "side": "BUY", "order_type": "LIMIT", "quantity": "10",
        "price": "200.00", "time_in_force": "DAY"})
    assert response.status_code == 202, response.text
    order_id = response.json()["id"]
    assert datetime.fromisoformat(response.json()["expire_at"]) == CLOSE
    account = (await client.get("/api/v1/account", headers=auth)).json()
    assert Decimal(account["buying_power"]) == Decimal(account["cash"]) - 2000

    async def status_is(wanted: str) -> bool:
        return (await order_statuses(engine, [order_id])).get(order_id) == wanted

    await wait_for(lambda: status_is("ACCEPTED"), 10, "the paper exchange to rest the order")
    await wait_for(lambda: status_is("EXPIRED"), 30, "the order to expire at the close")

    order = (await client.get(f"/api/v1/orders/{order_id}", headers=auth)).json()
    assert order["status"] == "EXPIRED"
    assert order["reject_reason"] == (
        "DAY order expired at the close of its session, 2026-12-01T21:00:00+00:00")
    account = (await client.get("/api/v1/account", headers=auth)).json()
    assert account["buying_power"] == account["cash"] == "100000"
    async with engine.connect() as conn:
        expired = (await conn.execute(text(
            "SELECT actor, created_at FROM order_events"
            " WHERE order_id = :id AND to_status = 'EXPIRED'"), {"id": order_id})).one()
    assert expired.actor == "expiry"
    # On the worker's clock it ended at the close, not before it.
    assert expired.created_at + timedelta(seconds=offset) >= CLOSE


def _now(offset: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=offset)
