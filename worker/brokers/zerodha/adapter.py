"""Zerodha Kite Connect v3 over httpx: the BrokerAdapter of one Kite account.

Every call carries `X-Kite-Version: 3` and `Authorization: token api_key:access_token`; order
forms are form-encoded. MARKET and SL-M orders carry the connection's market protection
(automatic unless it chose a percentage). The wire format lives in `shared.brokers.zerodha.wire`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from shared.brokers.catalog import CAPABILITIES, Broker, Capabilities
from shared.brokers.india import market_protection
from shared.brokers.payload import UNREADABLE, identifier
from shared.brokers.types import (
    BrokerFill,
    BrokerFunds,
    BrokerOrder,
    BrokerPosition,
    BrokerSession,
    Modify,
    NotSent,
    PlaceRequest,
    Unknown,
)
from shared.brokers.zerodha import wire
from shared.domain.enums import OrderStatus
from shared.settings import Settings
from worker.brokers import transport


class ZerodhaAdapter:
    """Orders, fills, positions and funds of one Kite account."""

    broker: Broker = Broker.ZERODHA
    capabilities: Capabilities = CAPABILITIES[Broker.ZERODHA]

    def __init__(self, session: BrokerSession, settings: Settings, *,
                 timeout: float | None = None) -> None:
        self._root = settings.zerodha_root_url.rstrip("/")
        self._protection = market_protection(session.extra)
        self._client = httpx.AsyncClient(
            timeout=timeout if timeout is not None else settings.broker_http_timeout_seconds,
            headers={"X-Kite-Version": "3",
                     "Authorization": f"token {session.api_key}:{session.access_token}"})

    async def _call(self, method: str, path: str, *, changes_state: bool,
                    form: dict[str, str] | None = None) -> Any:
        response = await transport.request(self._client, method, self._root + path,
                                           broker=self.broker, changes_state=changes_state,
                                           data=form)
        return wire.unwrap(response.status_code, response.content, changes_state=changes_state,
                           retry_after=response.headers.get("Retry-After"))

    async def place(self, request: PlaceRequest) -> BrokerOrder:
        """Place a regular order tagged with `request.tag`; never retried here."""
        form = wire.place_form(request, self._protection)
        data = await self._call("POST", "/orders/regular", changes_state=True, form=form)
        try:
            order_id = identifier(data.get("order_id") if isinstance(data, dict) else None)
        except ValueError:
            raise Unknown("Kite accepted the order without naming an order_id we can read",
                          broker=self.broker, code="no_order_id") from None
        # Kite's answer carries only the id: the status is known at the next read.
        return BrokerOrder(broker_order_id=order_id, status=OrderStatus.SUBMITTED,
                           raw_status="", quantity=request.quantity,
                           filled_quantity=Decimal(0), tag=request.tag,
                           price=request.price)

    async def modify(self, broker_order_id: str, change: Modify) -> BrokerOrder:
        """Change a working order, then read it back."""
        current_type = None
        if change.order_type is None:
            # Whether the order stays MARKET / SL-M (and needs market protection) is Kite's.
            history = _rows(await self._call("GET", f"/orders/{broker_order_id}",
                                             changes_state=False))
            current_type = str(history[-1].get("order_type") or "") if history else None
        form = wire.modify_form(change, current_type=current_type,
                                market_protection=self._protection)
        await self._call("PUT", f"/orders/regular/{broker_order_id}", changes_state=True,
                         form=form)
        return await self.order(broker_order_id)

    async def cancel(self, broker_order_id: str) -> None:
        """Ask Kite to cancel; CANCELLED shows in the order's history."""
        await self._call("DELETE", f"/orders/regular/{broker_order_id}", changes_state=True)

    async def order(self, broker_order_id: str) -> BrokerOrder:
        """The last row of the order's history."""
        history = await self._call("GET", f"/orders/{broker_order_id}", changes_state=False)
        with _readable("an order"):
            return wire.current_order(_rows(history), broker_order_id)

    async def find_by_tag(self, tag: str) -> BrokerOrder | None:
        """The newest order of today's order book carrying `tag` (Kite has no lookup by tag)."""
        book = _rows(await self._call("GET", "/orders", changes_state=False))
        tagged = [row for row in book if wire.has_tag(row, tag)]
        with _readable("an order"):
            return wire.parse_order(tagged[-1]) if tagged else None

    async def fills(self, broker_order_id: str | None = None,
                    since: datetime | None = None) -> list[BrokerFill]:
        """Today's trades of one order (or of the account), oldest first."""
        path = f"/orders/{broker_order_id}/trades" if broker_order_id else "/trades"
        rows = _rows(await self._call("GET", path, changes_state=False))
        with _readable("a trade"):
            trades = [wire.parse_trade(row) for row in rows]
        if since is not None:
            trades = [fill for fill in trades if fill.executed_at >= since]
        # Stable: fills within one second keep the order Kite listed them in.
        return sorted(trades, key=lambda fill: fill.executed_at)

    async def positions(self) -> list[BrokerPosition]:
        """Net positions and holdings, a CNC position counting both."""
        positions = await self._call("GET", "/portfolio/positions", changes_state=False)
        holdings = await self._call("GET", "/portfolio/holdings", changes_state=False)
        if not isinstance(positions, dict):
            raise NotSent("Kite's positions answer is not an object", broker=self.broker,
                          code="unreadable_answer")
        with _readable("a position"):
            return wire.parse_positions(positions, _rows(holdings))

    async def funds(self) -> BrokerFunds:
        """The equity segment's net available margin."""
        margins = await self._call("GET", "/user/margins", changes_state=False)
        if not isinstance(margins, dict):
            raise NotSent("Kite's margins answer is not an object", broker=self.broker,
                          code="unreadable_answer")
        with _readable("margins"):
            return wire.parse_funds(margins)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.aclose()


@contextmanager
def _readable(what: str) -> Iterator[None]:
    # A malformed answer to a read changed nothing: reading again is safe.
    try:
        yield
    except UNREADABLE as exc:
        raise NotSent(f"Kite sent {what} this adapter cannot read: {exc!r}",
                      broker=Broker.ZERODHA, code="unreadable_answer") from exc


def _rows(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise NotSent("Kite sent a list answer that is not a list of objects",
                      broker=Broker.ZERODHA, code="unreadable_answer")
    return data


def build(session: BrokerSession, settings: Settings) -> ZerodhaAdapter:
    """The adapter of one Kite account (the registry's AdapterFactory)."""
    return ZerodhaAdapter(session, settings)
