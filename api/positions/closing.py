"""Closing positions: cancel the symbol's open orders, then square off with a MARKET order.

Why cancel first (as Alpaca does): a resting SELL holds the very shares the close must sell,
so the close would be refused for want of a free position; a resting BUY, stop or trailing
stop would open the position again after it was closed. A closed position is flat and quiet.

A cancel at a venue is asynchronous (PENDING_CANCEL until the venue answers, and the order may
still fill meanwhile), so the close waits a few seconds for those cancels to end and then sizes
itself from the position as it stands: a fill that won the race is never sold twice.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping

from api.audit import Who
from api.errors import error_item
from api.orders.cancels import Edges, cancel_each, cancel_item
from api.orders.placer import Placer
from api.orders.schemas import PlaceOrder
from shared.brokers.catalog import CAPABILITIES, Broker, Product
from shared.db.repositories import accounts, orders
from shared.domain.closing import Close, Held, close_order, closing_product
from shared.domain.enums import OrderType
from shared.domain.errors import Conflict, DomainError, InvalidOrder, NotFound
from shared.domain.orders import is_terminal
from shared.domain.risk import Instrument
from shared.messaging.order_view import order_resource

CANCEL_WAIT_SECONDS = 5.0
CANCEL_POLL_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class Amount:
    """How much to close: all (both None), a percentage or a quantity; and, at a broker with
    margin products, of which product (None: the one that holds the position)."""

    percentage: Decimal | None = None
    quantity: Decimal | None = None
    product: Product | None = None


@dataclass(frozen=True, slots=True)
class Closer:
    """Closes one user's positions through the normal cancel and place paths."""

    user_id: uuid.UUID
    who: Who
    edges: Edges
    placer: Placer

    async def require_account(self, account_id: uuid.UUID | None) -> None:
        """404 unless `account_id` (when given) is one of the user's accounts."""
        if account_id is None:
            return
        async with self.edges.engine.connect() as conn:
            if await accounts.get_owned(conn, self.user_id, account_id) is None:
                raise NotFound(f"account {account_id} not found",
                               details={"field": "account_id"})

    async def held(self, account_id: uuid.UUID | None,
                   symbol: str | None = None) -> list[RowMapping]:
        """The user's open positions (one account's, one symbol's if named)."""
        async with self.edges.engine.connect() as conn:
            rows = await accounts.positions_for_user(conn, self.user_id, account_id)
        return [row for row in rows if row["quantity"] != 0
                and (symbol is None or row["symbol"] == symbol)]

    async def close(self, account_id: uuid.UUID, symbol: str,
                    amount: Amount) -> dict[str, Any]:
        """Close one position; the result of schema ClosedPosition."""
        result: dict[str, Any] = {"account_id": str(account_id), "symbol": symbol,
                                  "canceled": []}
        try:
            await self._sized(account_id, symbol, amount)  # a bad amount cancels nothing
        except DomainError as exc:
            return self._refused(result, exc)
        async with self.edges.engine.connect() as conn:
            open_ids = await orders.open_for_user(conn, self.user_id, account_id=account_id,
                                                  symbol=symbol)
        canceled = await cancel_each(self.edges, self.who, open_ids, via="close")
        result["canceled"] = [cancel_item(item, self.who.request_id) for item in canceled]
        try:
            await self._wait_until_ended(open_ids)
            order = await self._place(account_id, symbol, amount)
        except DomainError as exc:
            return self._refused(result, exc)
        return {**result, "http_status": 202, "order": order, "error": None}

    def _refused(self, result: dict[str, Any], exc: DomainError) -> dict[str, Any]:
        status, error = error_item(exc, self.who.request_id)
        return {**result, "http_status": status, "order": None, "error": error}

    async def _wait_until_ended(self, order_ids: Sequence[uuid.UUID]) -> None:
        deadline = time.monotonic() + CANCEL_WAIT_SECONDS
        waiting = list(order_ids)
        while waiting:
            async with self.edges.engine.connect() as conn:
                statuses = await orders.statuses_for_user(conn, self.user_id, waiting)
            waiting = [oid for oid, status in statuses.items() if not is_terminal(status)]
            if not waiting:
                return
            if time.monotonic() >= deadline:
                raise Conflict(
                    f"{len(waiting)} open order(s) of this symbol are still being canceled at "
                    "the venue; nothing was placed: try again shortly",
                    code="orders_still_canceling",
                    details={"field": "symbol", "order_ids": [str(o) for o in waiting]})
            await asyncio.sleep(CANCEL_POLL_SECONDS)

    async def _sized(self, account_id: uuid.UUID, symbol: str,
                     amount: Amount) -> tuple[Close, str | None]:
        """The closing order for the position as it stands now, and the product it trades."""
        rows = await self.held(account_id, symbol)
        position = rows[0]["quantity"] if rows else Decimal(0)
        instrument = await self.placer.instruments.get(symbol)
        if instrument is None:
            raise InvalidOrder(f"symbol {symbol} is not traded here", details={"field": "symbol"})
        product = amount.product.value if amount.product else None
        if rows and CAPABILITIES[Broker(rows[0]["broker"])].products and position != 0:
            product, most = closing_product(
                await self._split(account_id, instrument, position), product)
            position = most if position > 0 else -most
        close = close_order(position, symbol=symbol, lot_size=instrument.lot_size,
                            percentage=amount.percentage, quantity=amount.quantity)
        return close, product

    async def _split(self, account_id: uuid.UUID, instrument: Instrument,
                     position: Decimal) -> Held:
        since = self.placer.calendar.day_start(instrument.exchange, self.placer.clock.now())
        async with self.edges.engine.connect() as conn:
            intraday = await accounts.intraday_net(conn, self.user_id, account_id,
                                                   instrument.symbol, since)
        return Held(position, intraday)

    async def _place(self, account_id: uuid.UUID, symbol: str,
                     amount: Amount) -> dict[str, Any]:
        close, product = await self._sized(account_id, symbol, amount)  # after the cancels
        body = PlaceOrder.model_validate({
            "symbol": symbol, "side": close.side, "order_type": OrderType.MARKET,
            "quantity": close.quantity, "account_id": account_id, "product": product,
            # Generated, so the closing order can be found with ?client_order_id= later.
            "client_order_id": f"close-{uuid.uuid4().hex}"})
        order, _ = await self.placer.place(body, idempotency_key=None)
        return order_resource(order)
