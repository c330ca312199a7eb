"""Upstox over REST: v3 place/modify/cancel on the order host, v2 reads on the API host.

v3 is the documented current version of the order calls (the v2 ones are marked deprecated);
reads, trades, positions and funds are v2. Every request goes through
`worker.brokers.transport.request`, and every refusal is classified by `wire.error_from`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, TypeVar

import httpx

from shared.brokers.catalog import CAPABILITIES, Broker
from shared.brokers.india import market_protection
from shared.brokers.payload import UNREADABLE
from shared.brokers.types import (
    BrokerFill,
    BrokerFunds,
    BrokerOrder,
    BrokerPosition,
    BrokerSession,
    Modify,
    OrderNotFound,
    PlaceRequest,
    Unknown,
)
from shared.brokers.upstox import wire
from shared.domain.enums import OrderStatus
from shared.settings import Settings
from worker.brokers.transport import request as send

T = TypeVar("T")
R = TypeVar("R")

# The documented first status of every order Upstox accepts for processing.
FIRST_STATUS: Final = "put order req received"


class UpstoxAdapter:
    """One Upstox account, through its access token."""

    broker: Broker = Broker.UPSTOX
    capabilities = CAPABILITIES[Broker.UPSTOX]

    def __init__(self, session: BrokerSession, settings: Settings, *,
                 timeout: float | None = None) -> None:
        self._api = settings.upstox_base_url.rstrip("/")
        self._order_host = settings.upstox_order_url.rstrip("/")
        self._protection = market_protection(session.extra)
        # No Api-Version header: Upstox's request structure (upstox.com/developer/
        # api-documentation/request-structure) no longer asks for one since its 2024 URLs.
        self._client = httpx.AsyncClient(
            timeout=timeout if timeout is not None else settings.broker_http_timeout_seconds,
            headers={"Authorization": f"Bearer {session.access_token}",
                     "Accept": "application/json"})

    async def place(self, request: PlaceRequest) -> BrokerOrder:
        """Place one order (slicing off) with our id in `tag`; never retried here."""
        body = wire.dumps(wire.place_payload(request, self._protection))
        data = await self._call("POST", self._order_host + "/v3/order/place",
                                changes_state=True, content=body,
                                headers={"Content-Type": "application/json"})
        order_id = _read(wire.placed_order_id, data)
        return BrokerOrder(broker_order_id=order_id, status=OrderStatus.SUBMITTED,
                           raw_status=FIRST_STATUS, quantity=request.quantity,
                           filled_quantity=Decimal(0), tag=request.tag,
                           price=request.price)

    async def modify(self, broker_order_id: str, change: Modify) -> BrokerOrder:
        """Change a working order; fields left as None are resent as Upstox holds them."""
        current = await self._details(broker_order_id)
        body = wire.dumps(_read(lambda row: wire.modify_payload(
            broker_order_id, change, row, self._protection), current))
        await self._call("PUT", self._order_host + "/v3/order/modify", changes_state=True,
                         content=body, headers={"Content-Type": "application/json"})
        return await self.order(broker_order_id)

    async def cancel(self, broker_order_id: str) -> None:
        """Ask Upstox to cancel; the outcome arrives with the order's status."""
        await self._call("DELETE", self._order_host + "/v3/order/cancel", changes_state=True,
                         params={"order_id": broker_order_id})

    async def order(self, broker_order_id: str) -> BrokerOrder:
        """The order's latest state (GET /v2/order/details)."""
        return _read(wire.parse_order, await self._details(broker_order_id))

    async def find_by_tag(self, tag: str) -> BrokerOrder | None:
        """The order placed with `tag` today, from the order history by tag."""
        try:
            rows = await self._call("GET", self._api + "/v2/order/history",
                                    params={"tag": tag})
        except OrderNotFound:
            return None
        orders = _read(wire.latest_by_order, rows or [])
        return _read(wire.parse_order, orders[0]) if orders else None

    async def fills(self, broker_order_id: str | None = None,
                    since: datetime | None = None) -> list[BrokerFill]:
        """Trades of one order (or of the account today), oldest first."""
        if broker_order_id is None:
            rows = await self._call("GET", self._api + "/v2/order/trades/get-trades-for-day")
        else:
            rows = await self._call("GET", self._api + "/v2/order/trades",
                                    params={"order_id": broker_order_id})
        fills = [_read(wire.parse_fill, row) for row in rows or []]
        fills.sort(key=lambda fill: fill.executed_at)
        return [f for f in fills if since is None or f.executed_at >= since]

    async def positions(self) -> list[BrokerPosition]:
        """Short-term positions and long-term holdings, a delivery position counting both."""
        rows = await self._call("GET", self._api + "/v2/portfolio/short-term-positions")
        held = await self._call("GET", self._api + "/v2/portfolio/long-term-holdings")
        return _read(lambda both: wire.parse_positions(*both), (rows or [], held or []))

    async def funds(self) -> BrokerFunds:
        """Margin available in the equity segment."""
        data = await self._call("GET", self._api + "/v2/user/get-funds-and-margin",
                                params={"segment": "SEC"})
        return _read(wire.parse_funds, data)

    async def aclose(self) -> None:
        """Release connections."""
        await self._client.aclose()

    async def _details(self, broker_order_id: str) -> dict[str, Any]:
        data = await self._call("GET", self._api + "/v2/order/details",
                                params={"order_id": broker_order_id})
        if not isinstance(data, dict):
            raise Unknown("upstox answered an order lookup without the order",
                          broker=self.broker, code="unreadable")
        return data

    async def _call(self, method: str, url: str, *, changes_state: bool = False,
                    **kwargs: Any) -> Any:
        response = await send(self._client, method, url, broker=self.broker,
                              changes_state=changes_state, **kwargs)
        try:
            envelope = wire.loads(response.content)
        except ValueError:
            envelope = None
        refused = isinstance(envelope, dict) and envelope.get("status") == "error"
        if response.status_code >= 400 or refused:
            raise wire.error_from(response.status_code, response.content,
                                  changes_state=changes_state,
                                  retry_after=response.headers.get("Retry-After"))
        return _read(wire.data_of, envelope)


def _read(parse: Callable[[T], R], value: T) -> R:
    """Parse a broker answer; a shape we cannot read is Unknown, never a raw exception."""
    try:
        return parse(value)
    except UNREADABLE as exc:
        raise Unknown(f"upstox answered with a shape we cannot read: {exc}",
                      broker=Broker.UPSTOX, code="unreadable") from exc


def build(session: BrokerSession, settings: Settings) -> UpstoxAdapter:
    """The adapter of one Upstox connection."""
    return UpstoxAdapter(session, settings)
