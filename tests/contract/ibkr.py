"""What the IBKR contract tests share: an adapter over a FakeIB, its clock, order requests."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.brokers.types import BrokerOrder, Instrument, PlaceRequest
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from tests.stubs.ibkr.fake_ib import ACCOUNT, BookOrder, FakeIB
from worker.brokers.ibkr.adapter import IbAdapter
from worker.brokers.ibkr.connection import Endpoint, IbConnection

CLIENT_ID = 7
SPY = Instrument(symbol="SPY", exchange="NYSEARCA", currency="USD")
WORKING = {OrderStatus.SUBMITTED, OrderStatus.ACCEPTED}
D = Decimal


@dataclass
class Clock:
    """The adapter's wall clock, moved forward by tests instead of sleeping."""

    ahead: timedelta = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.ahead


def make_adapter(fake: FakeIB, clock: Clock, timeout: float = 2.0,
                 client_id: int = CLIENT_ID) -> IbAdapter:
    """An adapter of ACCOUNT over its own connection to `fake` as API client `client_id`."""
    connection = IbConnection(fake, Endpoint("127.0.0.1", 4002, client_id), timeout=timeout)
    return IbAdapter(connection, ACCOUNT, commission_grace_seconds=10, now=clock.now,
                     owns_connection=True)


def order_request(*, quantity: str = "10", order_type: OrderType = OrderType.LIMIT,
                  price: str | None = "100.05", stop: str | None = None,
                  tif: TimeInForce = TimeInForce.DAY, side: Side = Side.BUY,
                  **terms: Any) -> PlaceRequest:
    """A request for SPY with a fresh order id; `terms` sets the other PlaceRequest fields."""
    order_id = str(uuid.uuid4())
    return PlaceRequest(
        order_id=order_id, tag=order_id, instrument=SPY, side=side, order_type=order_type,
        quantity=D(quantity), time_in_force=tif, price=D(price) if price else None,
        stop_price=D(stop) if stop else None, **terms)


async def arrive() -> None:
    """Let what TWS sent arrive (one event-loop turn, as over the socket)."""
    await asyncio.sleep(0)


def book_order(fake: FakeIB, placed: BrokerOrder) -> BookOrder:
    """The order as TWS holds it."""
    return fake.book[int(placed.broker_order_id)]
