"""Against a real paper IB Gateway / TWS: not part of `make test` (tests/live is outside its
collection, pyproject's norecursedirs); run it by name, and it fails unless IB_HOST is set:

    IB_HOST=127.0.0.1 IB_PORT=4002 IB_CLIENT_ID=90 IB_ACCOUNT=DU1234567 pytest tests/live

Places a one-share BUY LIMIT of AAPL at $1.00 (far below any recent price, so it cannot fill)
and cancels it. Refuses to run on anything but a paper account (ids starting with "D").
"""

from __future__ import annotations

import asyncio
import os
import uuid
from decimal import Decimal

import pytest

from shared.brokers.types import BrokerSession, Instrument, PlaceRequest
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from shared.settings import Settings
from worker.brokers.ibkr.adapter import build
from worker.brokers.ibkr.connection import shared_connection


async def test_a_far_from_market_limit_is_placed_and_canceled_on_a_paper_account() -> None:
    if not os.environ.get("IB_HOST"):
        pytest.fail("live IBKR test: set IB_HOST (and IB_PORT, IB_CLIENT_ID, IB_ACCOUNT) to a "
                    "paper IB Gateway")
    account = os.environ.get("IB_ACCOUNT", "")
    if not account.startswith("D"):
        pytest.fail(f"IB_ACCOUNT must name a paper account (DU...), was {account!r}")
    settings = Settings()  # IB_HOST, IB_PORT, IB_CLIENT_ID come from the environment
    adapter = build(BrokerSession(broker_user_id=account), settings)
    order_id = str(uuid.uuid4())
    request = PlaceRequest(
        order_id=order_id, tag=order_id,
        instrument=Instrument(symbol="AAPL", exchange="NASDAQ", currency="USD"),
        side=Side.BUY, order_type=OrderType.LIMIT, quantity=Decimal(1),
        time_in_force=TimeInForce.DAY, price=Decimal("1.00"))
    try:
        placed = await adapter.place(request)
        assert placed.status in {OrderStatus.SUBMITTED, OrderStatus.ACCEPTED}
        found = await adapter.find_by_tag(order_id)
        assert found is not None
        assert found.broker_order_id == placed.broker_order_id
        await adapter.cancel(placed.broker_order_id)
        status = (await adapter.order(placed.broker_order_id)).status
        for _ in range(20):  # the exchange's confirmation may take a moment
            if status is OrderStatus.CANCELED:
                break
            await asyncio.sleep(0.5)
            status = (await adapter.order(placed.broker_order_id)).status
        assert status is OrderStatus.CANCELED
    finally:
        await adapter.aclose()
        shared_connection(settings).close()
