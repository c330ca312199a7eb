"""Our order requests as ib_async Contract and Order objects, and changes to them.

ib_async annotates quantities and prices as float but writes every field to the socket with
`str()`, so the Decimals set here go out as their exact text.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ib_async import LimitOrder, MarketOrder, Order, Stock, StopLimitOrder, StopOrder, Trade

from shared.brokers.ibkr import wire
from shared.brokers.types import Modify, PlaceRequest, Rejected
from shared.domain.enums import OrderType

IB_ORDER_TYPES = {OrderType.MARKET: "MKT", OrderType.LIMIT: "LMT", OrderType.STOP: "STP",
                  OrderType.STOP_LIMIT: "STP LMT"}


def contract_for(request: PlaceRequest) -> Stock:
    """A SMART-routed stock contract with the listing exchange as primaryExchange."""
    instrument = request.instrument
    try:
        primary = wire.primary_exchange(instrument.exchange)
    except ValueError as exc:
        raise Rejected(str(exc), broker=wire.BROKER, code="unsupported_exchange") from None
    return Stock(instrument.symbol, "SMART", instrument.currency, primaryExchange=primary)


def order_for(request: PlaceRequest, account: str) -> Order:
    """The IB order for `request`, for `account`, with our order id as its orderRef."""
    side, quantity = request.side.value, _plain(request.quantity)
    extra: dict[str, Any] = {"tif": request.time_in_force.value, "account": account,
                             "orderRef": request.order_id}
    kind = request.order_type
    if kind is OrderType.MARKET:
        return MarketOrder(side, quantity, **extra)
    if kind is OrderType.LIMIT:
        return LimitOrder(side, quantity, _price(request.price, "price"), **extra)
    if kind is OrderType.STOP:
        return StopOrder(side, quantity, _price(request.stop_price, "stop_price"), **extra)
    return StopLimitOrder(side, quantity, _price(request.price, "price"),
                          _price(request.stop_price, "stop_price"), **extra)


def apply_change(order: Order, change: Modify) -> None:
    """Set the new terms of `change` on `order` (None leaves a term as it is)."""
    if change.quantity is not None:
        order.totalQuantity = _plain(change.quantity)
    if change.price is not None:
        order.lmtPrice = _plain(change.price)
    if change.stop_price is not None:
        order.auxPrice = _plain(change.stop_price)
    if change.order_type is not None:
        order.orderType = IB_ORDER_TYPES[change.order_type]


@dataclass(frozen=True)
class Terms:
    """An order's terms and status before a modification, to put back if IB refuses it."""

    quantity: Any
    limit_price: Any
    aux_price: Any
    order_type: str
    status: str

    @classmethod
    def of(cls, trade: Trade) -> Terms:
        """The current terms of `trade`."""
        order = trade.order
        return cls(order.totalQuantity, order.lmtPrice, order.auxPrice, order.orderType,
                   trade.orderStatus.status)

    def restore(self, trade: Trade, error_code: int | None) -> None:
        """Put these terms back; the order still works on them at IB."""
        order = trade.order
        order.totalQuantity, order.lmtPrice = self.quantity, self.limit_price
        order.auxPrice, order.orderType = self.aux_price, self.order_type
        last = trade.log[-1] if trade.log else None
        # ib_async marks a trade Cancelled on any order error, a refused modification's too.
        if error_code is not None and last is not None and last.errorCode == error_code:
            trade.orderStatus.status = self.status


def _plain(value: Decimal) -> Any:
    # Plain notation (never 1E+2); typed Any because ib_async's annotations say float.
    return Decimal(format(value, "f"))


def _price(value: Decimal | None, field: str) -> Any:
    if value is None:
        raise Rejected(f"{field} is required for this order type", broker=wire.BROKER,
                       code="missing_price", details={"field": field})
    return _plain(value)
