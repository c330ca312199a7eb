"""The Groww adapter: Groww Trade API v1 over httpx (the growwapi SDK calls the network when
constructed and is synchronous, so we speak its documented REST ourselves).

Groww sends no HTTP postbacks; order changes are polled, or arrive as relayed order-detail
payloads signed with the generic scheme (shared.brokers.webhooks).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, TypeVar
from urllib.parse import quote

import httpx

from shared.brokers.catalog import CAPABILITIES, Broker, Capabilities
from shared.brokers.groww import wire
from shared.brokers.payload import UNREADABLE
from shared.brokers.types import (
    BrokerFill,
    BrokerFunds,
    BrokerOrder,
    BrokerPosition,
    BrokerSession,
    Modify,
    NotSent,
    OrderNotFound,
    PlaceRequest,
    Rejected,
    Unknown,
)
from shared.settings import Settings
from worker.brokers import transport

_ORDER_PAGE: Final = 100  # the order list's largest page
_TRADE_PAGE: Final = 50  # the trade list's largest page
_MAX_PAGES: Final = 50
_T = TypeVar("_T")
Body = Mapping[str, str | int | Decimal | None]


class GrowwAdapter:
    """One Groww account, through its access token."""

    broker: Broker = Broker.GROWW
    capabilities: Capabilities = CAPABILITIES[Broker.GROWW]

    def __init__(self, session: BrokerSession, settings: Settings, *,
                 timeout: float | None = None) -> None:
        self._base = settings.groww_base_url.rstrip("/") + "/v1"
        self._client = httpx.AsyncClient(
            headers=wire.headers(session.access_token),
            timeout=timeout if timeout is not None else settings.broker_http_timeout_seconds)

    async def _call(self, method: str, path: str, *, changes_state: bool = False,
                    names_order: bool = False, params: Mapping[str, str | int] | None = None,
                    body: Body | None = None) -> dict[str, Any]:
        response = await transport.request(
            self._client, method, self._base + path, broker=self.broker,
            changes_state=changes_state, params=params,
            content=wire.encode(body) if body is not None else None,
            headers={"x-request-id": str(uuid.uuid4())})
        return wire.read_payload(response.status_code, response.content,
                                 changes_state=changes_state, names_order=names_order,
                                 retry_after=response.headers.get("Retry-After"))

    def _parsed(self, parse: Callable[..., _T], *args: Any, changes_state: bool = False) -> _T:
        """Run a parser; a SUCCESS answer we cannot read is not proof of anything."""
        try:
            return parse(*args)
        except UNREADABLE as exc:
            kind = Unknown if changes_state else NotSent
            raise kind(f"groww answered in an unexpected shape: {exc}", broker=self.broker,
                       code="malformed") from exc

    async def place(self, request: PlaceRequest) -> BrokerOrder:
        """Place an order with `request.tag` as its order_reference_id."""
        body = wire.place_payload(request)
        try:
            data = await self._call("POST", "/order/create", changes_state=True, body=body)
        except Rejected as exc:
            if exc.code != wire.DUPLICATE_REFERENCE:
                raise
            # Groww's own idempotency: this reference already made an order; it is ours.
            found = await self.find_by_tag(request.tag)
            if found is None:
                raise Unknown(f"groww says reference {request.tag} is taken but shows no "
                              "order with it", broker=self.broker, code=exc.code) from exc
            return found
        return self._parsed(wire.parse_ack, data, request, changes_state=True)

    async def _detail(self, broker_order_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/order/detail/{quote(broker_order_id, safe='')}",
                                names_order=True, params={"segment": wire.SEGMENT})

    async def modify(self, broker_order_id: str, change: Modify) -> BrokerOrder:
        """Change a working order; Groww wants its full quantity and type with every change."""
        current = await self._detail(broker_order_id)
        body = self._parsed(wire.modify_payload, broker_order_id, change, current)
        await self._call("POST", "/order/modify", changes_state=True, names_order=True,
                         body=body)
        return await self.order(broker_order_id)

    async def cancel(self, broker_order_id: str) -> None:
        """Ask Groww to cancel; the order reads CANCELLATION_REQUESTED, then CANCELLED."""
        await self._call("POST", "/order/cancel", changes_state=True, names_order=True,
                         body={"segment": wire.SEGMENT, "groww_order_id": broker_order_id})

    async def order(self, broker_order_id: str) -> BrokerOrder:
        """The order's detail at Groww; OrderNotFound if Groww has none."""
        data = await self._detail(broker_order_id)
        return self._parsed(wire.parse_order, data)

    async def find_by_tag(self, tag: str) -> BrokerOrder | None:
        """The order placed with reference `tag`, through Groww's by-reference lookup."""
        if not wire.valid_reference(tag):
            return None
        try:
            status = await self._call(
                "GET", f"/order/status/reference/{quote(tag, safe='')}", names_order=True,
                params={"segment": wire.SEGMENT})
        except OrderNotFound:
            return None
        # The status answer has no quantity or price: the detail has everything.
        return await self.order(self._parsed(_order_id, status))

    async def _orders(self) -> list[BrokerOrder]:
        orders: list[BrokerOrder] = []
        for page in range(_MAX_PAGES):
            data = await self._call("GET", "/order/list", params={
                "segment": wire.SEGMENT, "page": page, "page_size": _ORDER_PAGE})
            rows = data.get("order_list") or []
            orders.extend(self._parsed(wire.parse_order, row) for row in rows)
            if len(rows) < _ORDER_PAGE:
                break
        return orders

    async def _trades(self, broker_order_id: str) -> list[BrokerFill]:
        fills: list[BrokerFill] = []
        for page in range(_MAX_PAGES):
            data = await self._call(
                "GET", f"/order/trades/{quote(broker_order_id, safe='')}", names_order=True,
                params={"segment": wire.SEGMENT, "page": page, "page_size": _TRADE_PAGE})
            batch = self._parsed(wire.parse_trades, data)
            fills.extend(batch)
            if len(batch) < _TRADE_PAGE:
                break
        return fills

    async def fills(self, broker_order_id: str | None = None,
                    since: datetime | None = None) -> list[BrokerFill]:
        """Trades of one order, or of every order that filled today (Groww has no account
        trade book), oldest first."""
        if broker_order_id is not None:
            fills = await self._trades(broker_order_id)
        else:
            fills = []
            for order in await self._orders():
                if order.filled_quantity > 0:
                    fills.extend(await self._trades(order.broker_order_id))
        if since is not None:
            fills = [fill for fill in fills if fill.executed_at >= since]
        return sorted(fills, key=lambda fill: fill.executed_at)

    async def positions(self) -> list[BrokerPosition]:
        """Today's cash-segment positions and the demat holdings, a CNC position counting both."""
        data = await self._call("GET", "/positions/user", params={"segment": wire.SEGMENT})
        held = await self._call("GET", "/holdings/user")
        return self._parsed(wire.merge_positions, data, held)

    async def funds(self) -> BrokerFunds:
        """The delivery balance available (net of margin used) and margin used, in rupees."""
        data = await self._call("GET", "/margins/detail/user")
        return self._parsed(wire.parse_funds, data)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.aclose()


def _order_id(status: Mapping[str, Any]) -> str:
    return str(status["groww_order_id"])


def build(session: BrokerSession, settings: Settings) -> GrowwAdapter:
    """The Groww adapter of one connection."""
    return GrowwAdapter(session, settings)
