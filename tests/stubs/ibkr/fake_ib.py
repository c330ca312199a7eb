"""FakeIB: ib_async's real IB and Wrapper, with TWS played by a fake socket client.

Everything the adapter sees is made by ib_async's own code (Wrapper.openOrder, orderStatus,
execDetails, commissionReport, error, completedOrder, position, accountSummary) from the
messages TWS would send; only the socket side is replaced. `_Tws` answers each request one
event-loop turn later, as over a network, and a message due after the connection dropped is
lost, as on a socket. The exchange side (orders, executions, positions, cash) lives in FakeIB
and survives disconnects, as TWS's does. Numbers reach the Wrapper as floats, as ib_async's
decoder makes them.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ib_async import IB, CommissionReport, Contract, Execution, Order, OrderState
from ib_async.client import Client

ACCOUNT = "DU1234567"
DONE = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})
SERVER_VERSION = 178


@dataclass
class BookOrder:
    """An order as TWS holds it."""

    client_id: int
    order_id: int
    perm_id: int
    contract: Contract
    order: Order
    status: str
    filled: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)
    last_price: Decimal = Decimal(0)

    @property
    def quantity(self) -> Decimal:
        return Decimal(str(self.order.totalQuantity))

    @property
    def avg_price(self) -> Decimal:
        return self.notional / self.filled if self.filled else Decimal(0)


@dataclass
class BookExecution:
    execution: Execution
    contract: Contract
    commission: Decimal | None = None


@dataclass
class Holding:
    contract: Contract
    quantity: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)


@dataclass
class _Plans:
    """What happens to the next order TWS receives."""

    reject: str | None = None
    refuse_modify: str | None = None
    stall: bool = False
    drop: bool = False
    duplicate: bool = False


class _Tws(Client):
    """The socket client, answering as TWS would instead of writing to a socket."""

    def __init__(self, fake: FakeIB) -> None:
        super().__init__(fake.wrapper)  # type: ignore[no-untyped-call]  # ib_async: unannotated
        self.fake = fake

    async def connectAsync(self, host: str, port: int, clientId: int,
                           timeout: float | None = 2.0) -> None:
        await asyncio.sleep(0)
        if self.fake.refuse_connections:
            raise ConnectionRefusedError(111, f"Connect call failed ('{host}', {port})")
        self.host, self.port, self.clientId = host, int(port), int(clientId)
        self.connState = Client.CONNECTED
        self._serverVersion = SERVER_VERSION
        self._accounts = [self.fake.account]
        self.updateReqId(self.fake.next_valid_id(self.clientId))  # type: ignore[no-untyped-call]
        self._hasReqId = True
        self._apiReady = True
        self.fake.connects += 1

    def drop(self) -> None:
        """The peer closes the socket (gateway restart, network loss)."""
        self._onSocketDisconnected("")  # type: ignore[no-untyped-call]

    def send_later(self, handler: Callable[..., Any], *args: Any,
                   at: datetime | None = None) -> None:
        """Deliver a message on the next loop turn; `at` is when it arrives by ib_async's
        clock (its trade log's times), for news the test dates instead of waiting for."""
        asyncio.get_running_loop().call_soon(self._deliver, handler, args, at)

    def _deliver(self, handler: Callable[..., Any], args: tuple[Any, ...],
                 at: datetime | None) -> None:
        if not self.isReady():
            return  # the socket closed before this message arrived
        self.wrapper.tcpDataArrived()
        if at is not None:
            self.wrapper.lastTime = at
        handler(*args)
        self.wrapper.tcpDataProcessed()

    def _require_connection(self) -> None:
        if self.connState != Client.CONNECTED:
            raise ConnectionError("Not connected")

    # --- requests (names and arguments as ib_async's Client has them) ---------------------

    def placeOrder(self, orderId: int, contract: Contract, order: Order) -> None:
        self._require_connection()
        self.fake.receive_order(self.clientId, orderId, copy.copy(contract), copy.copy(order))

    def cancelOrder(self, orderId: int, manualCancelOrderTime: str = "") -> None:
        self._require_connection()
        self.fake.receive_cancel(self.clientId, orderId)

    def reqOpenOrders(self) -> None:
        self._require_connection()
        self.fake.send_open_orders(lambda o: o.client_id == self.clientId)

    def reqAllOpenOrders(self) -> None:
        self._require_connection()
        self.fake.send_open_orders(lambda o: True)

    def reqAutoOpenOrders(self, bAutoBind: bool) -> None:
        self._require_connection()

    def reqCompletedOrders(self, apiOnly: bool) -> None:
        self._require_connection()
        self.fake.send_completed_orders()

    def reqExecutions(self, reqId: int, execFilter: Any) -> None:
        self._require_connection()
        self.fake.send_executions(reqId)

    def reqPositions(self) -> None:
        self._require_connection()
        self.fake.send_positions()

    def reqAccountUpdates(self, subscribe: bool, acctCode: str) -> None:
        self._require_connection()
        self.send_later(self.wrapper.accountDownloadEnd, acctCode)

    def reqAccountUpdatesMulti(self, reqId: int, account: str, modelCode: str,
                               ledgerAndNLV: bool) -> None:
        self._require_connection()
        self.send_later(self.wrapper.accountUpdateMultiEnd, reqId)

    def reqAccountSummary(self, reqId: int, groupName: str, tags: str) -> None:
        self._require_connection()
        self.fake.summary_req_id = reqId
        self.fake.send_summary()
        self.send_later(self.wrapper.accountSummaryEnd, reqId)


class FakeIB(IB):
    """ib_async's IB over a simulated TWS; the methods below are the exchange's hands."""

    def __init__(self, account: str = ACCOUNT, cash: Decimal = Decimal("100000.00")) -> None:
        super().__init__()
        self.tws = _Tws(self)
        self.client = self.tws
        self.client.apiEnd += self.disconnectedEvent  # as IB.__init__ wires its own client
        self.account = account
        self.cash = cash
        self.book: dict[int, BookOrder] = {}
        self.execution_log: list[BookExecution] = []
        self.holdings: dict[str, Holding] = {}
        self.refuse_connections = False
        self.connects = 0
        self.summary_req_id: int | None = None
        self._plans = _Plans()
        self._ids_seen: dict[int, set[int]] = {}
        self._next_perm = 1_000_000_001
        self._next_exec = 1

    # --- controls ----------------------------------------------------------------------

    def reject_next_place(self, reason: str) -> None:
        """TWS refuses the next new order with error 201."""
        self._plans.reject = reason

    def refuse_next_modify(self, reason: str) -> None:
        """TWS refuses the next modification with error 201; the order keeps working."""
        self._plans.refuse_modify = reason

    def stall_next_place(self) -> None:
        """TWS takes the next order but its acknowledgement never reaches us."""
        self._plans.stall = True

    def drop_on_next_place(self) -> None:
        """TWS takes the next order, then the connection drops before it is acknowledged."""
        self._plans.drop = True

    def duplicate_next_place(self) -> None:
        """TWS answers the next order with error 103 (its order id was used before)."""
        self._plans.duplicate = True

    def drop(self) -> None:
        """The connection to the gateway is lost."""
        self.tws.drop()

    def place_from_other_client(self, client_id: int, order_ref: str) -> int:
        """A working order placed through another API client id (another worker process)."""
        contract = Contract(secType="STK", symbol="SPY", exchange="SMART", currency="USD",
                            primaryExchange="ARCA")
        one: Any = Decimal(1)  # sent as text, like the adapter's Decimals
        order = Order(action="BUY", totalQuantity=one, orderType="LMT", lmtPrice=Decimal("1"),
                      tif="DAY", account=self.account, orderRef=order_ref)
        self.receive_order(client_id, self.next_valid_id(client_id), contract, order)
        return int(order.permId)

    def expire(self, perm_id: int, at: datetime | None = None) -> None:
        """The order reaches the end of its time in force (a GTD order its goodTillDate), and
        the news arrives `at` that time (default: now).

        TWS has no "expired" status: it reports the order "Cancelled", as for any cancel.
        """
        held = self.book[perm_id]
        held.status = "Cancelled"
        self._send_status(held, at=at)

    def order_by_ref(self, order_ref: str) -> list[BookOrder]:
        """The orders TWS holds with this orderRef."""
        return [o for o in self.book.values() if o.order.orderRef == order_ref]

    def fill(self, perm_id: int, quantity: Decimal, price: Decimal, *,
             commission: Decimal | None = Decimal("1.00")) -> str:
        """Execute part or all of a working order; returns the execId. No commission report
        is sent when `commission` is None (send one later with `report_commission`)."""
        held = self.book[perm_id]
        held.filled += quantity
        held.notional += quantity * price
        held.last_price = price
        held.status = "Filled" if held.filled >= held.quantity else "Submitted"
        exec_id = f"0000e0d5.{self._next_exec:08x}.01.01"
        self._next_exec += 1
        execution = Execution(
            execId=exec_id, time=datetime.now(UTC), acctNumber=self.account,
            exchange="ISLAND", side="BOT" if held.order.action == "BUY" else "SLD",
            shares=float(quantity), price=float(price), permId=perm_id,
            clientId=held.client_id, orderId=held.order_id, cumQty=float(held.filled),
            avgPrice=float(held.avg_price), orderRef=held.order.orderRef)
        record = BookExecution(execution, held.contract, commission)
        self.execution_log.append(record)
        self._book_position(held, quantity, price)
        self.tws.send_later(self.wrapper.execDetails, -1, copy.copy(held.contract),
                            copy.copy(execution))
        self._send_status(held)
        self._send_position(held.contract.symbol)
        self.send_summary()
        if commission is not None:
            self._send_commission(exec_id, commission)
        return exec_id

    def report_commission(self, exec_id: str, commission: Decimal) -> None:
        """The commission report of an execution, arriving after it."""
        for record in self.execution_log:
            if record.execution.execId == exec_id:
                record.commission = commission
        self._send_commission(exec_id, commission)

    def correct(self, exec_id: str, *, commission: Decimal) -> str:
        """Publish a correction of an execution: same fields, execId version + 1."""
        original = next(r for r in self.execution_log if r.execution.execId == exec_id)
        base, _, version = exec_id.rpartition(".")
        corrected = copy.copy(original.execution)
        corrected.execId = f"{base}.{int(version) + 1:02d}"
        self.execution_log.append(BookExecution(corrected, original.contract, commission))
        self.tws.send_later(self.wrapper.execDetails, -1, copy.copy(original.contract),
                            copy.copy(corrected))
        self._send_commission(corrected.execId, commission)
        return str(corrected.execId)

    # --- TWS's side of requests --------------------------------------------------------

    def next_valid_id(self, client_id: int) -> int:
        return max(self._ids_seen.get(client_id, {0})) + 1

    def receive_order(self, client_id: int, order_id: int, contract: Contract,
                      order: Order) -> None:
        held = next((o for o in self.book.values()
                     if (o.client_id, o.order_id) == (client_id, order_id)), None)
        if held is not None:
            self._modify(held, order)
            return
        seen = self._ids_seen.setdefault(client_id, set())
        plans, self._plans = self._plans, _Plans()
        if plans.duplicate or order_id in seen:
            self.tws.send_later(self.wrapper.error, order_id, 103, "Duplicate order id", "")
            return
        seen.add(order_id)
        if plans.reject is not None:
            self.tws.send_later(self.wrapper.error, order_id, 201,
                                f"Order rejected - reason:{plans.reject}", "")
            return
        contract.conId = 265598 + sum(map(ord, contract.symbol))
        order.permId, order.clientId, order.orderId = self._next_perm, client_id, order_id
        self._next_perm += 1
        held = BookOrder(client_id, order_id, order.permId, contract, order, "Submitted")
        self.book[held.perm_id] = held
        if plans.stall or client_id != self.tws.clientId:
            return  # no answer reaches us (lost, or sent to the other client's connection)
        if plans.drop:
            asyncio.get_running_loop().call_soon(self.tws.drop)
            return
        self._send_open(held, "PreSubmitted")
        self._send_open(held, "Submitted")

    def receive_cancel(self, client_id: int, order_id: int) -> None:
        held = next((o for o in self.book.values()
                     if (o.client_id, o.order_id) == (client_id, order_id)), None)
        if held is None:
            self.tws.send_later(self.wrapper.error, order_id, 10147,
                                f"OrderId {order_id} that needs to be cancelled is not found.",
                                "")
            return
        if held.status in DONE:
            self.tws.send_later(self.wrapper.error, order_id, 10148,
                                f"OrderId {order_id} that needs to be cancelled cannot be "
                                f"cancelled, state: {held.status}.", "")
            return
        held.status = "Cancelled"
        self._send_status(held)
        self.tws.send_later(self.wrapper.error, order_id, 202, "Order Canceled - reason:", "")

    def send_open_orders(self, include: Callable[[BookOrder], bool]) -> None:
        for held in self.book.values():
            if held.status not in DONE and include(held):
                self.tws.send_later(self.wrapper.openOrder, held.order_id,
                                    copy.copy(held.contract), _as_received(held.order),
                                    OrderState(status=held.status))
                self._send_status(held)
        self.tws.send_later(self.wrapper.openOrderEnd)

    def send_completed_orders(self) -> None:
        for held in self.book.values():
            if held.status in DONE:
                order = _as_received(held.order)
                # TWS's completedOrder message carries no orderId or clientId.
                order.orderId, order.clientId = 0, 0
                order.filledQuantity = float(held.filled)
                state = OrderState(status=held.status, completedStatus=held.status)
                self.tws.send_later(self.wrapper.completedOrder, copy.copy(held.contract),
                                    order, state)
        self.tws.send_later(self.wrapper.completedOrdersEnd)

    def send_executions(self, req_id: int) -> None:
        for record in self.execution_log:
            self.tws.send_later(self.wrapper.execDetails, req_id, copy.copy(record.contract),
                                copy.copy(record.execution))
            if record.commission is not None:
                self._send_commission(record.execution.execId, record.commission)
        self.tws.send_later(self.wrapper.execDetailsEnd, req_id)

    def send_positions(self) -> None:
        for symbol in self.holdings:
            self._send_position(symbol)
        self.tws.send_later(self.wrapper.positionEnd)

    def send_summary(self) -> None:
        if self.summary_req_id is None:
            return
        margin = sum((h.cost for h in self.holdings.values()), Decimal(0)) / 4
        for tag, value in (("AvailableFunds", self.cash - margin), ("InitMarginReq", margin)):
            self.tws.send_later(self.wrapper.accountSummary, self.summary_req_id, self.account,
                                tag, f"{value:.2f}", "USD")

    # --- messages ----------------------------------------------------------------------

    def _modify(self, held: BookOrder, order: Order) -> None:
        refusal, self._plans.refuse_modify = self._plans.refuse_modify, None
        if refusal is not None:
            self.tws.send_later(self.wrapper.error, held.order_id, 201,
                                f"Order rejected - reason:{refusal}", "")
            return
        if held.status in DONE:
            self.tws.send_later(self.wrapper.error, held.order_id, 104,
                                "Can't modify a filled order.", "")
            return
        order.permId, order.clientId = held.perm_id, held.client_id
        held.order = order
        self._send_open(held, held.status)

    def _send_open(self, held: BookOrder, status: str) -> None:
        held.status = status
        self.tws.send_later(self.wrapper.openOrder, held.order_id, copy.copy(held.contract),
                            _as_received(held.order), OrderState(status=status))
        self._send_status(held)

    def _send_status(self, held: BookOrder, at: datetime | None = None) -> None:
        self.tws.send_later(
            self.wrapper.orderStatus, held.order_id, held.status, float(held.filled),
            float(held.quantity - held.filled), float(held.avg_price), held.perm_id, 0,
            float(held.last_price), held.client_id, "", 0.0, at=at)

    def _send_commission(self, exec_id: str, commission: Decimal) -> None:
        self.tws.send_later(self.wrapper.commissionReport,
                            CommissionReport(exec_id, float(commission), "USD", 0.0, 0.0, 0))

    def _send_position(self, symbol: str) -> None:
        holding = self.holdings[symbol]
        avg = holding.cost / holding.quantity if holding.quantity else Decimal(0)
        self.tws.send_later(self.wrapper.position, self.account, copy.copy(holding.contract),
                            float(holding.quantity), float(avg))

    def _book_position(self, held: BookOrder, quantity: Decimal, price: Decimal) -> None:
        signed = quantity if held.order.action == "BUY" else -quantity
        holding = self.holdings.setdefault(held.contract.symbol, Holding(held.contract))
        holding.quantity += signed
        holding.cost += signed * price
        self.cash -= signed * price


def _as_received(order: Order) -> Order:
    """A copy of `order` as ib_async's decoder builds it: numbers as floats."""
    received = copy.copy(order)
    received.totalQuantity = float(order.totalQuantity)
    for name in ("lmtPrice", "auxPrice", "trailStopPrice", "trailingPercent"):
        value = getattr(order, name)
        if value is not None:
            setattr(received, name, float(value))
    return received
