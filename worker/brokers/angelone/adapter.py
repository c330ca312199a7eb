"""Angel One SmartAPI adapter: JSON over httpx, every call through the shared transport."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from shared.brokers.angelone import wire
from shared.brokers.catalog import CAPABILITIES, Broker
from shared.brokers.india import IST
from shared.brokers.payload import identifier
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
from shared.domain.enums import OrderStatus
from shared.settings import Settings
from worker.brokers.transport import request


class AngelOneAdapter:
    """One Angel One account, spoken to with its session's jwt."""

    broker = Broker.ANGELONE
    capabilities = CAPABILITIES[Broker.ANGELONE]

    def __init__(self, session: BrokerSession, *, base_url: str, timeout: float,
                 client: httpx.AsyncClient | None = None) -> None:
        self._base = base_url.rstrip("/")
        self._headers = wire.headers(session.api_key, session.access_token, session.extra)
        self._client = client or httpx.AsyncClient(timeout=timeout)
        # orderid -> uniqueorderid: the details endpoint (10 req/s) needs the latter, the
        # order book (1 req/s) is the fallback for orders this process has not seen.
        self._unique: dict[str, str] = {}

    async def _call(self, method: str, path: str, *, changes_state: bool,
                    body: Mapping[str, str] | None = None) -> Any:
        response = await request(
            self._client, method, self._base + path, broker=self.broker,
            changes_state=changes_state, headers=self._headers,
            content=json.dumps(body) if body is not None else None)
        return wire.data_of(response.status_code, response.text, changes_state=changes_state,
                            retry_after=response.headers.get("Retry-After"))

    def _learn(self, data: Any) -> None:
        if isinstance(data, Mapping) and data.get("orderid") and data.get("uniqueorderid"):
            try:
                self._unique[identifier(data["orderid"])] = identifier(data["uniqueorderid"])
            except ValueError:  # only a shortcut to the details endpoint: go without it
                return

    async def place(self, request: PlaceRequest) -> BrokerOrder:
        """Place one order with our tag as its ordertag; never retried here."""
        try:
            payload = wire.place_payload(request)
        except ValueError as exc:
            raise Rejected(str(exc), broker=self.broker, code="unsupported_order") from exc
        data = await self._call("POST", wire.PLACE_PATH, changes_state=True, body=payload)
        try:
            order_id = identifier(data.get("orderid") if isinstance(data, Mapping) else None)
        except ValueError:
            raise Unknown("Angel One accepted the order without an orderid we can read",
                          broker=self.broker, code="no_order_id") from None
        self._learn(data)
        # placeOrder says nothing of the status: the order is submitted until a read tells.
        return BrokerOrder(broker_order_id=order_id, status=OrderStatus.SUBMITTED,
                           raw_status="", quantity=request.quantity,
                           filled_quantity=Decimal(0), tag=request.tag,
                           price=request.price)

    async def _book(self) -> list[Mapping[str, Any]]:
        found = wire.rows(await self._call("GET", wire.ORDER_BOOK_PATH, changes_state=False))
        for row in found:
            self._learn(row)
        return found

    async def _row(self, broker_order_id: str) -> Mapping[str, Any]:
        unique = self._unique.get(broker_order_id)
        if unique is not None:
            try:
                data = await self._call("GET", wire.DETAILS_PATH + unique, changes_state=False)
            except OrderNotFound:
                data = None
            if isinstance(data, Mapping):
                return data
        for row in await self._book():
            if str(row.get("orderid")) == broker_order_id:
                return row
        raise OrderNotFound(f"Angel One has no order {broker_order_id} today",
                            broker=self.broker, code="not_in_order_book")

    async def modify(self, broker_order_id: str, change: Modify) -> BrokerOrder:
        """Change a working order; the new state comes from a fresh read."""
        row = await self._row(broker_order_id)
        try:
            payload = wire.modify_payload(row, change)
        except ValueError as exc:
            raise Rejected(str(exc), broker=self.broker, code="unsupported_change") from exc
        self._learn(await self._call("POST", wire.MODIFY_PATH, changes_state=True, body=payload))
        return await self.order(broker_order_id)

    async def cancel(self, broker_order_id: str) -> None:
        """Ask Angel One to cancel (with the order's own variety)."""
        row = await self._row(broker_order_id)
        self._learn(await self._call("POST", wire.CANCEL_PATH, changes_state=True,
                                     body=wire.cancel_payload(row)))

    async def order(self, broker_order_id: str) -> BrokerOrder:
        """The order's current state; OrderNotFound when Angel One has none today."""
        return wire.parse_order(await self._row(broker_order_id))

    async def find_by_tag(self, tag: str) -> BrokerOrder | None:
        """Today's order with our tag, from the order book (ordertag)."""
        for row in await self._book():
            if wire.tag_of(row.get("ordertag")) == tag:
                return wire.parse_order(row)
        return None

    async def fills(self, broker_order_id: str | None = None,
                    since: datetime | None = None) -> list[BrokerFill]:
        """Today's executions from the trade book, oldest first."""
        data = await self._call("GET", wire.TRADE_BOOK_PATH, changes_state=False)
        today = datetime.now(IST).date()
        found = [wire.parse_trade(row, today) for row in wire.rows(data)
                 if broker_order_id is None or str(row.get("orderid")) == broker_order_id]
        if since is not None:
            found = [fill for fill in found if fill.executed_at >= since]
        return sorted(found, key=wire.fill_order)

    async def positions(self) -> list[BrokerPosition]:
        """Today's net positions, then settled holdings."""
        net = await self._call("GET", wire.POSITION_PATH, changes_state=False)
        held = await self._call("GET", wire.HOLDING_PATH, changes_state=False)
        return ([wire.parse_position(row) for row in wire.rows(net)]
                + [wire.parse_holding(row) for row in wire.rows(held)])

    async def funds(self) -> BrokerFunds:
        """Available cash and used margin from the RMS limits."""
        data = await self._call("GET", wire.RMS_PATH, changes_state=False)
        if not isinstance(data, Mapping):
            raise NotSent("Angel One answered getRMS without data", broker=self.broker,
                          code="no_data")
        return wire.parse_funds(data)

    async def aclose(self) -> None:
        """Release the HTTP connections."""
        await self._client.aclose()


def build(session: BrokerSession, settings: Settings) -> AngelOneAdapter:
    """An adapter for one Angel One connection."""
    return AngelOneAdapter(session, base_url=settings.angelone_base_url,
                           timeout=settings.broker_http_timeout_seconds)
