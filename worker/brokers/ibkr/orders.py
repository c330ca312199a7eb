"""Our order requests as ib_async Contract and Order objects, and changes to them.

ib_async annotates quantities and prices as float but writes every field to the socket with
`str()`, so the Decimals set here go out as their exact text.

A TRAILING_STOP is IB's TRAIL: the trail amount in `auxPrice` or the percentage in
`trailingPercent` (IB takes one or the other, never both), and the stop it starts from in
`trailStopPrice` when ordergate knows a water mark (else IB starts it from the market). GTD
carries its expiry in `goodTillDate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ib_async import LimitOrder, MarketOrder, Order, Stock, StopLimitOrder, StopOrder, Trade

from shared.brokers.ibkr import wire
from shared.brokers.types import Modify, PlaceRequest, Rejected
from shared.domain.enums import OrderType, TimeInForce


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
    if request.time_in_force is TimeInForce.GTD:
        extra["goodTillDate"] = _good_till(request)
    kind = request.order_type
    if kind is OrderType.MARKET:
        return MarketOrder(side, quantity, **extra)
    if kind is OrderType.LIMIT:
        return LimitOrder(side, quantity, _price(request.price, "price"), **extra)
    if kind is OrderType.STOP:
        return StopOrder(side, quantity, _price(request.stop_price, "stop_price"), **extra)
    if kind is OrderType.TRAILING_STOP:
        return _trailing(request, extra)
    return StopLimitOrder(side, quantity, _price(request.price, "price"),
                          _price(request.stop_price, "stop_price"), **extra)


def _trail_fields(trail_price: Decimal | None, trail_percent: Decimal | None) -> dict[str, Any]:
    """IB's TRAIL fields for a trail by amount or by percentage (exactly one of the two)."""
    if (trail_price is None) == (trail_percent is None):
        raise Rejected("a trailing stop needs exactly one of trail_price and trail_percent",
                       broker=wire.BROKER, code="missing_trail",
                       details={"field": "trail_price"})
    if trail_price is not None:
        return {"auxPrice": _plain(trail_price), "trailingPercent": wire.UNSET_DOUBLE}
    assert trail_percent is not None
    return {"auxPrice": wire.UNSET_DOUBLE, "trailingPercent": _plain(trail_percent)}


def apply_change(order: Order, change: Modify) -> None:
    """Set the new terms of `change` on `order` (None leaves a term as it is)."""
    if change.quantity is not None:
        order.totalQuantity = _plain(change.quantity)
    if change.price is not None:
        order.lmtPrice = _plain(change.price)
    if change.stop_price is not None:
        order.auxPrice = _plain(change.stop_price)
    if change.order_type is not None:
        order.orderType = wire.ORDER_TYPES[change.order_type]
    if change.trail_price is not None or change.trail_percent is not None:
        for name, value in _trail_fields(change.trail_price, change.trail_percent).items():
            setattr(order, name, value)
    if change.expire_at is not None:
        order.goodTillDate = wire.good_till_date(change.expire_at)
    if order.orderType == "TRAIL":
        if wire.to_decimal(order.trailingPercent) is not None:
            order.auxPrice = wire.UNSET_DOUBLE  # a percentage trail sends no amount beside it
        # The initial stop is a placement term: IB has trailed the stop since, and sending the
        # old one again would move it back.
        order.trailStopPrice = wire.UNSET_DOUBLE


# The Order fields a modification may set, restored as they were if IB refuses it.
_CHANGEABLE = ("totalQuantity", "lmtPrice", "auxPrice", "orderType", "trailingPercent",
               "trailStopPrice", "goodTillDate")


@dataclass(frozen=True)
class Terms:
    """An order's terms and status before a modification, to put back if IB refuses it."""

    fields: tuple[Any, ...]
    status: str

    @classmethod
    def of(cls, trade: Trade) -> Terms:
        """The current terms of `trade`."""
        return cls(tuple(getattr(trade.order, name) for name in _CHANGEABLE),
                   trade.orderStatus.status)

    def restore(self, trade: Trade, error_code: int | None) -> None:
        """Put these terms back; the order still works on them at IB."""
        order = trade.order
        for name, value in zip(_CHANGEABLE, self.fields, strict=True):
            setattr(order, name, value)
        last = trade.log[-1] if trade.log else None
        # ib_async marks a trade Cancelled on any order error, a refused modification's too.
        if error_code is not None and last is not None and last.errorCode == error_code:
            trade.orderStatus.status = self.status


def _trailing(request: PlaceRequest, extra: dict[str, Any]) -> Order:
    fields = _trail_fields(request.trail_price, request.trail_percent)
    if request.trail_stop is not None:
        fields["trailStopPrice"] = _plain(request.trail_stop)
    return Order(action=request.side.value, totalQuantity=_plain(request.quantity),
                 orderType=wire.ORDER_TYPES[OrderType.TRAILING_STOP], **fields, **extra)


def _good_till(request: PlaceRequest) -> str:
    if request.expire_at is None:
        raise Rejected("a GTD order needs expire_at", broker=wire.BROKER,
                       code="missing_expiry", details={"field": "expire_at"})
    try:
        return wire.good_till_date(request.expire_at)
    except ValueError as exc:
        raise Rejected(str(exc), broker=wire.BROKER, code="invalid_expiry",
                       details={"field": "expire_at"}) from None


def _plain(value: Decimal) -> Any:
    # Plain notation (never 1E+2); typed Any because ib_async's annotations say float.
    return Decimal(format(value, "f"))


def _price(value: Decimal | None, field: str) -> Any:
    if value is None:
        raise Rejected(f"{field} is required for this order type", broker=wire.BROKER,
                       code="missing_price", details={"field": field})
    return _plain(value)
