"""One IB API connection per worker process: connected lazily, re-made after a drop.

TWS / IB Gateway accepts one connection per client id, and an order can be modified or
cancelled only through the client id that placed it (TWS API, "Open Orders"). Each worker
process therefore connects as `settings.ib_client_id + offset`, where the offset is the
process's Celery prefork pool index (0 .. concurrency-1; 0 outside a pool). The index is
stable: a pool child that is replaced gets its predecessor's index, hence the same client id
and the orders placed under it. Two worker containers on one gateway need IB_CLIENT_ID values
at least `concurrency` apart; running the broker.ibkr queue with concurrency 1 lets every task
change every order.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from celery.utils.log import current_process_index
from ib_async import IB, AccountValue, Contract, ExecutionFilter, Fill, Order, Position, Trade

from shared.brokers.ibkr import wire
from shared.brokers.types import NotSent
from shared.settings import Settings

T = TypeVar("T")


class Signal(Protocol):
    """An eventkit Event as used here."""

    def connect(self, listener: Callable[..., Any]) -> Any: ...

    def disconnect(self, listener: Callable[..., Any]) -> Any: ...


class IBLike(Protocol):
    """The part of ib_async's IB the adapter uses (a FakeIB in tests)."""

    errorEvent: Signal
    disconnectedEvent: Signal
    openOrderEvent: Signal

    def isConnected(self) -> bool: ...

    def connectAsync(self, host: str, port: int, clientId: int,
                     timeout: float | None) -> Awaitable[Any]: ...

    def disconnect(self) -> str | None: ...

    def placeOrder(self, contract: Contract, order: Order) -> Trade: ...

    def cancelOrder(self, order: Order, manualCancelOrderTime: str = "") -> Trade | None: ...

    def reqAllOpenOrdersAsync(self) -> Awaitable[list[Trade]]: ...

    def reqCompletedOrdersAsync(self, apiOnly: bool) -> Awaitable[list[Trade]]: ...

    def reqExecutionsAsync(self,
                           execFilter: ExecutionFilter | None = None) -> Awaitable[list[Fill]]: ...

    def trades(self) -> list[Trade]: ...

    def fills(self) -> list[Fill]: ...

    def positions(self, account: str = "") -> list[Position]: ...

    def accountSummaryAsync(self, account: str = "") -> Awaitable[list[AccountValue]]: ...


@dataclass(frozen=True)
class Endpoint:
    host: str | None
    port: int
    client_id: int


@dataclass(frozen=True)
class OrderError:
    """The last TWS error (not a warning) about one of this client's orders."""

    code: int
    message: str


class IbConnection:
    """An IB session: connects on first use and again after a drop; remembers order errors."""

    def __init__(self, ib: IBLike, endpoint: Endpoint, *, timeout: float) -> None:
        self.ib = ib
        self.endpoint = endpoint
        self.timeout = timeout
        # TWS reports order errors (rejections, duplicate ids) by this client's order id only.
        self.errors: dict[int, OrderError] = {}
        self._connect_lock = asyncio.Lock()
        # reqAllOpenOrders and reqCompletedOrders each share one reply slot in ib_async.
        self.snapshot_lock = asyncio.Lock()
        ib.errorEvent.connect(self._on_error)

    @property
    def client_id(self) -> int:
        return self.endpoint.client_id

    async def ready(self) -> IBLike:
        """The connected IB; NotSent if the gateway cannot be reached."""
        if not self.ib.isConnected():
            async with self._connect_lock:
                if not self.ib.isConnected():
                    await self._connect()
        return self.ib

    async def read(self, request: Callable[[], Awaitable[T]], what: str) -> T:
        """Send a read and await its answer; failures become NotSent (a read is repeatable)."""
        try:
            return await asyncio.wait_for(request(), self.timeout)
        except TimeoutError:
            raise NotSent(f"IB did not send {what} within {self.timeout:g} s",
                          broker=wire.BROKER, code="no_answer") from None
        except ConnectionError as exc:
            raise NotSent(f"the connection to IB dropped while reading {what}: {exc}",
                          broker=wire.BROKER, code="disconnected") from exc

    def close(self) -> None:
        """Disconnect from the gateway (the next `ready()` connects again)."""
        self.ib.disconnect()

    async def _connect(self) -> None:
        host, port = self.endpoint.host, self.endpoint.port
        if not host:
            raise NotSent("IB_HOST is not set: there is no IB Gateway or TWS to connect to",
                          broker=wire.BROKER, code="not_configured")
        try:
            await self.ib.connectAsync(host, port, clientId=self.client_id,
                                       timeout=self.timeout)
        except (OSError, TimeoutError) as exc:  # refused, unreachable, client id in use
            raise NotSent(f"IB Gateway at {host}:{port} (client id {self.client_id}) is "
                          f"unreachable: {type(exc).__name__} {exc}".rstrip(),
                          broker=wire.BROKER, code="unreachable") from exc

    def _on_error(self, req_id: int, code: int, message: str, *_: object) -> None:
        # reqId -1 is a connection-wide notice; warnings leave the order live.
        if req_id > 0 and not wire.is_warning(code):
            self.errors[req_id] = OrderError(code, message)


def process_offset() -> int:
    """This process's Celery prefork pool index (0 outside a pool)."""
    index: int | None = current_process_index(base=0)
    return index or 0


_SHARED: dict[tuple[int, Endpoint], IbConnection] = {}


def shared_connection(settings: Settings) -> IbConnection:
    """This process's connection to the configured gateway (made on first use)."""
    endpoint = Endpoint(settings.ib_host, settings.ib_port,
                        settings.ib_client_id + process_offset())
    # Keyed by pid too: a forked child must never reuse its parent's socket.
    key = (os.getpid(), endpoint)
    connection = _SHARED.get(key)
    if connection is None:
        connection = IbConnection(IB(), endpoint,
                                  timeout=settings.broker_http_timeout_seconds)
        _SHARED[key] = connection
    return connection
