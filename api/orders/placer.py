"""Placing orders for routes that place several (batches, position closes): the very path of
POST /orders, with its checks, reservation, clock, calendar and rate limit, and the dispatch
to the worker after each order's commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine

from api.deps import (
    AutocommitEngineDep,
    CalendarDep,
    ClockDep,
    DispatcherDep,
    InstrumentsDep,
    OrderRateDep,
    PrincipalDep,
    SettingsDep,
)
from api.market.service import InstrumentCache
from api.orders import service
from api.orders.rate import OrderRate
from api.orders.schemas import PlaceOrder
from shared.brokers.catalog import Broker, queue_for
from shared.clock import Clock
from shared.db.repositories import orders
from shared.domain.orders import Order
from shared.domain.sessions import Calendar
from shared.messaging.enqueue import OrderDispatcher
from shared.settings import Settings


@dataclass(frozen=True, slots=True)
class Placer:
    """Places one user's orders, each in its own atomic insert."""

    user_id: uuid.UUID
    autocommit: AsyncEngine
    instruments: InstrumentCache
    settings: Settings
    dispatcher: OrderDispatcher
    clock: Clock
    calendar: Calendar
    rate: OrderRate

    async def place(self, body: PlaceOrder, idempotency_key: str | None) -> tuple[Order, bool]:
        """Place an order (or find the one this key made); returns (order, replayed?)."""
        async with self.autocommit.connect() as conn:
            row, replayed = await service.place_order(
                conn, user_id=self.user_id, body=body, idempotency_key=idempotency_key,
                instruments=self.instruments, settings=self.settings, clock=self.clock,
                calendar=self.calendar, rate=self.rate)
        order = orders.to_order(row)
        if not replayed:
            self.dispatcher.submit(str(order.id), queue_for(Broker(order.broker)))
        return order, replayed


async def get_placer(principal: PrincipalDep, autocommit: AutocommitEngineDep,
                     instruments: InstrumentsDep, settings: SettingsDep,
                     dispatcher: DispatcherDep, clock: ClockDep, calendar: CalendarDep,
                     rate: OrderRateDep) -> Placer:
    """The caller's Placer."""
    return Placer(principal.user_id, autocommit, instruments, settings, dispatcher, clock,
                  calendar, rate)


PlacerDep = Annotated[Placer, Depends(get_placer)]
