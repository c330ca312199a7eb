"""The one small interface every broker adapter implements (the paper exchange included later).

Adapters never touch the database: they turn our requests into the broker's wire format and the
broker's answers into `shared.brokers.types` values, raising a `BrokerError` subclass that says
whether a retry is safe (`NotSent`), needs a lookup first (`Unknown`), is final (`Rejected`) or
needs a new login (`SessionExpired`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from shared.brokers.catalog import Broker, Capabilities
from shared.brokers.types import (
    BrokerFill,
    BrokerFunds,
    BrokerOrder,
    BrokerPosition,
    BrokerSession,
    Modify,
    PlaceRequest,
)
from shared.settings import Settings


class BrokerAdapter(Protocol):
    """Async operations on one broker account."""

    broker: Broker
    capabilities: Capabilities

    async def place(self, request: PlaceRequest) -> BrokerOrder:
        """Place an order tagged with `request.tag`; the broker's order id comes back."""
        ...

    async def modify(self, broker_order_id: str, change: Modify) -> BrokerOrder:
        """Change a working order in place; returns the order as the broker now reports it."""
        ...

    async def cancel(self, broker_order_id: str) -> None:
        """Ask the broker to cancel; the outcome arrives with the order's status."""
        ...

    async def order(self, broker_order_id: str) -> BrokerOrder:
        """The order's current state at the broker; OrderNotFound if it has none."""
        ...

    async def find_by_tag(self, tag: str) -> BrokerOrder | None:
        """The order we placed with `tag` today, or None: the lookup after an unknown place."""
        ...

    async def fills(self, broker_order_id: str | None = None,
                    since: datetime | None = None) -> list[BrokerFill]:
        """Executions of one order (or of the account), oldest first."""
        ...

    async def positions(self) -> list[BrokerPosition]:
        """Positions and holdings as the broker reports them."""
        ...

    async def funds(self) -> BrokerFunds:
        """Cash available for trading."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


AdapterFactory = Callable[[BrokerSession, Settings], BrokerAdapter]
