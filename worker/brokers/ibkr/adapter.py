"""Interactive Brokers through ib_async: our broker contract over one TWS / IB Gateway session.

Identities: the broker order id is IB's permId (account-wide and stable across client ids and
reconnects; IB's orderId is only unique per API client). `Order.orderRef` carries our order id,
so `find_by_tag(order_id)` finds an order whose acknowledgement was lost.

Numbers: Decimals go out as their exact text (see `orders`); what ib_async parsed into floats
comes back through `wire.to_decimal`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from ib_async import ExecutionFilter, Fill, Trade

from shared.brokers.catalog import CAPABILITIES, Broker
from shared.brokers.ibkr import wire
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
from worker.brokers.ibkr.connection import IbConnection, OrderError, shared_connection
from worker.brokers.ibkr.orders import Terms, apply_change, contract_for, order_for

_BROKER = wire.BROKER
_LIMIT_TYPES = frozenset({"LMT", "STP LMT"})


class _Outcome(Enum):
    SETTLED = "settled"
    DROPPED = "dropped"
    TIMED_OUT = "timed out"


def build(session: BrokerSession, settings: Settings) -> IbAdapter:
    """An adapter for the session's IB account over this process's gateway connection."""
    return IbAdapter(shared_connection(settings), session.broker_user_id)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class IbAdapter:
    """Orders of one IB account; the connection may be shared with other accounts' adapters."""

    broker = Broker.IBKR
    capabilities = CAPABILITIES[Broker.IBKR]

    def __init__(self, connection: IbConnection, account: str, *,
                 commission_grace_seconds: float = 10.0,
                 now: Callable[[], datetime] = _utc_now, owns_connection: bool = False) -> None:
        self._conn = connection
        self._account = account
        self._grace = timedelta(seconds=commission_grace_seconds)
        self._now = now
        self._owns_connection = owns_connection

    async def place(self, request: PlaceRequest) -> BrokerOrder:
        """Send the order; return once TWS acknowledged it, refused it, or the wait ran out."""
        contract, order = contract_for(request), order_for(request, self._account)
        ib = await self._conn.ready()
        try:
            trade = ib.placeOrder(contract, order)
        except ConnectionError as exc:  # raised before anything is written to the socket
            raise NotSent(f"not connected to IB: {exc}", broker=_BROKER,
                          code="disconnected") from exc
        outcome = await self._settle(trade, _acknowledged)
        if outcome is not _Outcome.SETTLED:
            raise Unknown(f"order {request.order_id} was sent to IB but its acknowledgement "
                          f"was lost ({outcome.value}); look it up by its orderRef",
                          broker=_BROKER, code="no_ack")
        error = self._conn.errors.get(trade.order.orderId)
        if error is not None and error.code == wire.DUPLICATE_ORDER_ID:
            raise NotSent(f"IB refused the order id: {error.message}", broker=_BROKER,
                          code="duplicate_order_id")
        placed = self._broker_order(trade)
        if placed.status is OrderStatus.REJECTED:
            raise Rejected(placed.message or f"IB did not accept the order ({placed.raw_status})",
                           broker=_BROKER, code=str(error.code) if error else placed.raw_status,
                           details={"broker_order_id": placed.broker_order_id})
        return placed

    async def modify(self, broker_order_id: str, change: Modify) -> BrokerOrder:
        """Send the changed order under its own order id; IB answers with its new state."""
        trade = await self._changeable(broker_order_id, "modify")
        if trade.isDone():
            raise Rejected(f"IB order {broker_order_id} is {trade.orderStatus.status} and can "
                           "no longer be modified", broker=_BROKER, code="not_modifiable")
        order, before = trade.order, Terms.of(trade)
        apply_change(order, change)
        self._conn.errors.pop(order.orderId, None)
        try:
            self._conn.ib.placeOrder(trade.contract, order)
        except ConnectionError as exc:
            before.restore(trade, None)
            raise NotSent(f"not connected to IB: {exc}", broker=_BROKER,
                          code="disconnected") from exc
        # TWS answers a modification with the order as it now stands (openOrder), or an error.
        outcome = await self._settle(trade, lambda t: True, check_now=False)
        if outcome is not _Outcome.SETTLED:
            # Until IB says otherwise, the order stands on its confirmed terms.
            before.restore(trade, None)
            raise Unknown(f"IB did not confirm the change of order {broker_order_id} "
                          f"({outcome.value})", broker=_BROKER, code="no_ack")
        # Forgotten once reported: the order lives on, and its status must not read "refused".
        error = self._conn.errors.pop(order.orderId, None)
        if error is not None:
            before.restore(trade, error.code)
            raise Rejected(f"IB refused the change: {error.message}", broker=_BROKER,
                           code=str(error.code))
        return self._broker_order(trade)

    async def cancel(self, broker_order_id: str) -> None:
        """Ask IB to cancel; waits briefly for the confirmation, which the status reports."""
        trade = await self._changeable(broker_order_id, "cancel")
        if trade.isDone():
            return
        try:
            self._conn.ib.cancelOrder(trade.order)
        except ConnectionError as exc:
            raise NotSent(f"not connected to IB: {exc}", broker=_BROKER,
                          code="disconnected") from exc
        # However this wait ends, the request was sent; the order's status tells the outcome.
        await self._settle(trade, lambda t: t.isDone())

    async def order(self, broker_order_id: str) -> BrokerOrder:
        """The order as IB reports it; OrderNotFound if IB has no such order today."""
        return self._broker_order(await self._trade(broker_order_id))

    async def find_by_tag(self, tag: str) -> BrokerOrder | None:
        """The order whose orderRef is `tag` (our order id), or None."""
        trade = await self._find(lambda t: t.order.orderRef == tag)
        return self._broker_order(trade) if trade is not None else None

    async def fills(self, broker_order_id: str | None = None,
                    since: datetime | None = None) -> list[BrokerFill]:
        """Executions (latest correction of each), oldest first, with their commissions.

        IB sends an execution's commission report separately, after the execution. A fill is
        returned once its report has arrived; one still without a report `grace` after its
        execution time is returned with commission 0 (IB sends no report for some executions,
        and a fill must not be held back for ever). The same execution is never returned with
        two different exec ids: see `wire.execution_key`.
        """
        perm = _perm_id(broker_order_id) if broker_order_id is not None else None
        if broker_order_id is not None and perm is None:
            return []  # not an IB permId: no order, no fills
        ib = await self._conn.ready()
        await self._conn.read(lambda: ib.reqExecutionsAsync(
            ExecutionFilter(acctCode=self._account)), "the executions")
        known = [f for f in ib.fills() if f.execution.acctNumber in ("", self._account)]
        latest = wire.latest_executions(f.execution.execId for f in known)
        now = self._now()
        found = [
            _fill(f) for f in known
            if f.execution.execId in latest
            and (perm is None or f.execution.permId == perm)
            and (since is None or f.execution.time >= since)
            and (_has_report(f) or now - f.execution.time >= self._grace)
        ]
        return sorted(found, key=lambda f: (f.executed_at, f.exec_id))

    async def positions(self) -> list[BrokerPosition]:
        """Stock positions of the account (IB keeps them current on the connection)."""
        ib = await self._conn.ready()
        return [
            BrokerPosition(
                symbol=p.contract.symbol,
                exchange=wire.exchange_name(p.contract.primaryExchange or p.contract.exchange),
                quantity=_dec(p.position), avg_price=_dec(p.avgCost))
            for p in ib.positions(self._account) if p.contract.secType == "STK"
        ]

    async def funds(self) -> BrokerFunds:
        """AvailableFunds (cash for new orders) and InitMarginReq from the account summary."""
        ib = await self._conn.ready()
        values = await self._conn.read(lambda: ib.accountSummaryAsync(self._account),
                                       "the account summary")
        by_tag = {v.tag: v for v in values if v.currency}
        available = by_tag.get("AvailableFunds")
        if available is None:
            raise NotSent(f"IB sent no AvailableFunds for account {self._account}",
                          broker=_BROKER, code="no_funds")
        margin = by_tag.get("InitMarginReq")
        return BrokerFunds(currency=available.currency, available_cash=_dec(available.value),
                           used_margin=_dec(margin.value) if margin else Decimal(0))

    async def aclose(self) -> None:
        """Disconnect if this adapter owns its connection (a shared one stays up)."""
        if self._owns_connection:
            self._conn.close()

    # --- lookups -----------------------------------------------------------------------

    async def _trade(self, broker_order_id: str) -> Trade:
        perm = _perm_id(broker_order_id)
        found = await self._find(lambda t: _perm(t) == perm) if perm else None
        if found is None:
            raise OrderNotFound(f"IB has no order with permId {broker_order_id!r}",
                                broker=_BROKER, code="order_not_found")
        return found

    async def _find(self, matches: Callable[[Trade], bool]) -> Trade | None:
        """This client's orders are kept current by TWS; anything else is asked for afresh."""
        ib = await self._conn.ready()

        def wanted(trade: Trade) -> bool:
            return trade.order.account in ("", self._account) and matches(trade)

        for trade in ib.trades():
            if wanted(trade) and _perm(trade) and (self._is_own(trade) or trade.isDone()):
                return trade
        async with self._conn.snapshot_lock:
            working = await self._conn.read(ib.reqAllOpenOrdersAsync, "the open orders")
            found = next((t for t in working if wanted(t)), None)
            if found is None:
                done = await self._conn.read(lambda: ib.reqCompletedOrdersAsync(True),
                                             "the completed orders")
                found = next((t for t in reversed(done) if wanted(t)), None)
        return found

    async def _changeable(self, broker_order_id: str, action: str) -> Trade:
        trade = await self._trade(broker_order_id)
        if not trade.isDone() and not self._is_own(trade):
            raise NotSent(
                f"IB order {broker_order_id} was placed through API client id "
                f"{trade.order.clientId}, and IB lets only that client {action} it (this worker "
                f"is client id {self._conn.client_id})", broker=_BROKER, code="other_ib_client",
                details={"client_id": trade.order.clientId})
        return trade

    def _is_own(self, trade: Trade) -> bool:
        return bool(trade.order.orderId > 0 and trade.order.clientId == self._conn.client_id)

    # --- waiting for TWS ---------------------------------------------------------------

    async def _settle(self, trade: Trade, settled: Callable[[Trade], bool], *,
                      check_now: bool = True) -> _Outcome:
        """Wait until news of the trade satisfies `settled`, an error names the order, or the
        connection drops; `check_now` also tries `settled` before any news."""
        ib = self._conn.ib
        outcome: asyncio.Future[_Outcome] = asyncio.get_running_loop().create_future()
        order_id = trade.order.orderId

        def finish(result: _Outcome) -> None:
            if not outcome.done():
                outcome.set_result(result)

        def on_status(*_: object) -> None:
            if settled(trade):
                finish(_Outcome.SETTLED)

        def on_open(about: Trade) -> None:
            if about is trade:
                on_status()

        def on_error(req_id: int, code: int, *_: object) -> None:
            if req_id == order_id and not wire.is_warning(code):
                finish(_Outcome.SETTLED)

        def on_drop(*_: object) -> None:
            finish(_Outcome.DROPPED)

        listeners: list[tuple[Any, Callable[..., None]]] = [
            (trade.statusEvent, on_status), (ib.openOrderEvent, on_open),
            (ib.errorEvent, on_error), (ib.disconnectedEvent, on_drop)]
        for event, listener in listeners:
            event.connect(listener)
        try:
            if check_now:
                on_status()
            return await asyncio.wait_for(outcome, self._conn.timeout)
        except TimeoutError:
            return _Outcome.TIMED_OUT
        finally:
            for event, listener in listeners:
                event.disconnect(listener)

    # --- IB objects -> ours ------------------------------------------------------------

    def _broker_order(self, trade: Trade) -> BrokerOrder:
        order, state = trade.order, trade.orderStatus
        quantity = _dec(order.totalQuantity)
        filled = _dec(state.filled)
        # Completed orders (reqCompletedOrders) carry the filled quantity on the order itself.
        filled = filled or wire.to_decimal(order.filledQuantity) or Decimal(0)
        error = self._error(trade)
        return BrokerOrder(
            broker_order_id=str(_perm(trade) or ""),
            status=wire.order_status(state.status, quantity, filled,
                                     error.code if error else None,
                                     expired=self._expired(trade)),
            raw_status=state.status, quantity=quantity, filled_quantity=filled,
            tag=order.orderRef or None,
            price=wire.to_decimal(order.lmtPrice) if order.orderType in _LIMIT_TYPES else None,
            avg_price=self._avg_price(trade, filled),
            message=error.message if error else (state.whyHeld or None))

    def _expired(self, trade: Trade) -> bool:
        """Whether a cancel of a GTD order came at or after its goodTillDate (TWS reports an
        expiry as "Cancelled"). The cancel's time is when this session heard of it, or now for
        an order first seen already done (IB's completed orders carry no time we keep)."""
        order = trade.order
        if order.tif != "GTD" or trade.orderStatus.status not in wire.CANCELED:
            return False
        expiry = wire.parse_good_till_date(order.goodTillDate)
        if expiry is None:
            return False
        heard = next((entry.time for entry in reversed(trade.log)
                      if entry.status in wire.CANCELED), None)
        return (heard or self._now()) >= expiry

    def _error(self, trade: Trade) -> OrderError | None:
        return self._conn.errors.get(trade.order.orderId) if self._is_own(trade) else None

    def _avg_price(self, trade: Trade, filled: Decimal) -> Decimal | None:
        if filled <= 0:
            return None
        reported = wire.to_decimal(trade.orderStatus.avgFillPrice)
        if reported:
            return reported
        perm = _perm(trade)
        fills = [f for f in self._conn.ib.fills() if f.execution.permId == perm]
        latest = wire.latest_executions(f.execution.execId for f in fills)
        pairs = [(_dec(f.execution.shares), _dec(f.execution.price))
                 for f in fills if f.execution.execId in latest]
        shares = sum((q for q, _ in pairs), Decimal(0))
        return sum((q * p for q, p in pairs), Decimal(0)) / shares if shares else None


def _acknowledged(trade: Trade) -> bool:
    status = trade.orderStatus.status
    return status in wire.DONE or (bool(_perm(trade)) and status not in wire.AWAITING_ACK)


def _perm(trade: Trade) -> int:
    return int(trade.order.permId or trade.orderStatus.permId or 0)


def _perm_id(broker_order_id: str) -> int | None:
    text = broker_order_id.strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def _has_report(fill: Fill) -> bool:
    return bool(fill.commissionReport.execId == fill.execution.execId)


def _fill(fill: Fill) -> BrokerFill:
    execution, report = fill.execution, fill.commissionReport
    return BrokerFill(
        exec_id=wire.execution_key(execution.execId), broker_order_id=str(execution.permId),
        quantity=_dec(execution.shares), price=_dec(execution.price),
        executed_at=execution.time,
        commission=_dec(report.commission) if _has_report(fill) else Decimal(0))


def _dec(value: float | int | Decimal | str) -> Decimal:
    return wire.to_decimal(value) or Decimal(0)
