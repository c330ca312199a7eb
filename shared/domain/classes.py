"""Order classes (Alpaca's names): bracket, oto and oco, as pure rules.

A bracket is an entry with a take-profit LIMIT and a stop-loss STOP (a STOP_LIMIT with a limit
price); an oto is an entry with exactly one of them; an oco is an exit pair for a position held:
the order itself is the take-profit LIMIT and its stop-loss works beside it. The exits are
orders of their own (`parent_id` names the entry, or the oco order), opened on the paper
exchange when the entry first fills, for the quantity filled. Two legs of a pair share their
quantity: a fill on one takes as much off the other, and when one is filled the other is
canceled. The pair's shares are held once, by the take-profit (the stop-loss holds none), so
the position is never reserved twice for one exit.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, localcontext
from types import MappingProxyType
from typing import Any, Final

from shared.domain import events as ev
from shared.domain.enums import OrderClass, OrderStatus, OrderType, Side, TimeInForce
from shared.domain.errors import InvalidOrder
from shared.domain.orders import Order, is_terminal
from shared.domain.risk import Instrument, OrderRequest, validate_order
from shared.domain.values import ARITHMETIC

_S = OrderStatus
SIBLING_FILLED = "its OCO sibling filled"
# Exits outlive an entry that could only fill at once; a DAY or GTD entry's exits end with it.
_KEPT_TIFS = frozenset({TimeInForce.DAY, TimeInForce.GTC, TimeInForce.GTD})


@dataclass(frozen=True, slots=True)
class TakeProfit:
    """A take-profit exit: a LIMIT at `limit_price`."""

    limit_price: Decimal


@dataclass(frozen=True, slots=True)
class StopLoss:
    """A stop-loss exit: a STOP at `stop_price`, or a STOP_LIMIT with `limit_price`."""

    stop_price: Decimal
    limit_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Exits:
    """The exits an order of a class opens."""

    take_profit: TakeProfit | None = None
    stop_loss: StopLoss | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored form (amounts as plain strings)."""
        stored: dict[str, Any] = {}
        if self.take_profit is not None:
            stored["take_profit"] = {"limit_price": str(self.take_profit.limit_price)}
        if self.stop_loss is not None:
            limit = self.stop_loss.limit_price
            stored["stop_loss"] = {"stop_price": str(self.stop_loss.stop_price),
                                   "limit_price": None if limit is None else str(limit)}
        return stored

    @classmethod
    def from_json(cls, stored: Mapping[str, Any] | None) -> Exits:
        """Read the stored form back."""
        stored = stored or {}
        tp, sl = stored.get("take_profit"), stored.get("stop_loss")
        return cls(
            take_profit=TakeProfit(Decimal(tp["limit_price"])) if tp else None,
            stop_loss=StopLoss(Decimal(sl["stop_price"]),
                               Decimal(sl["limit_price"]) if sl.get("limit_price") else None)
            if sl else None)


def _invalid(message: str, field: str, value: object = None) -> InvalidOrder:
    details: dict[str, Any] = {"field": field}
    if value is not None:
        details["value"] = str(value)
    return InvalidOrder(message, details=details)


def check_class(order_class: OrderClass, req: OrderRequest, exits: Exits,
                instrument: Instrument) -> None:
    """Raise InvalidOrder, naming the field, unless the class and its exits make sense."""
    tp, sl = exits.take_profit, exits.stop_loss
    if order_class is OrderClass.SIMPLE:
        for name, given in (("take_profit", tp), ("stop_loss", sl)):
            if given is not None:
                raise _invalid(f"{name} is only for a bracket, oto or oco order", name)
        return
    if order_class is OrderClass.OCO:
        _check_oco(req, tp, sl)
        assert req.price is not None, "a LIMIT order has a price (checked before the class)"
        exits = Exits(TakeProfit(req.price), sl)
    else:
        _check_entry(order_class, req, tp, sl)
    for leg, prefix in _leg_requests(req, exits, Side.SELL):
        _check_leg(leg, instrument, prefix)
    _check_sides(req, exits)


def _check_oco(req: OrderRequest, tp: TakeProfit | None, sl: StopLoss | None) -> None:
    if req.order_type is not OrderType.LIMIT:
        raise _invalid("an oco order is its take-profit: order_type must be LIMIT, was "
                       f"{req.order_type.value}", "order_type", req.order_type.value)
    if req.side is not Side.SELL:
        raise _invalid("an oco order exits a position you hold: side must be SELL (the paper "
                       "exchange has no short positions to buy back)", "side", req.side.value)
    if sl is None:
        raise _invalid("an oco order needs stop_loss: the sibling of its take-profit",
                       "stop_loss")
    if tp is not None and tp.limit_price != req.price:
        raise _invalid(f"take_profit.limit_price must be the oco order's price {req.price} "
                       f"(or be omitted), was {tp.limit_price}", "take_profit.limit_price",
                       tp.limit_price)


def _check_entry(order_class: OrderClass, req: OrderRequest, tp: TakeProfit | None,
                 sl: StopLoss | None) -> None:
    if req.side is not Side.BUY:
        raise _invalid(f"a {order_class.value} entry must be a BUY: its exits sell what it "
                       "bought (the paper exchange has no short positions)", "side",
                       req.side.value)
    if order_class is OrderClass.BRACKET:
        for name, given in (("take_profit", tp), ("stop_loss", sl)):
            if given is None:
                raise _invalid(f"a bracket order needs {name}", name)
    elif (tp is None) == (sl is None):
        raise _invalid("an oto order needs exactly one of take_profit and stop_loss",
                       "take_profit")


def _leg_requests(req: OrderRequest, exits: Exits,
                  side: Side) -> list[tuple[OrderRequest, str]]:
    """Each exit as a `side` order of the request's size, with the field prefix it answers to."""
    legs: list[tuple[OrderRequest, str]] = []
    if exits.take_profit is not None:
        legs.append((OrderRequest(req.symbol, side, OrderType.LIMIT, req.quantity,
                                  exits.take_profit.limit_price, None, TimeInForce.GTC),
                     "take_profit"))
    if exits.stop_loss is not None:
        sl = exits.stop_loss
        kind = OrderType.STOP if sl.limit_price is None else OrderType.STOP_LIMIT
        legs.append((OrderRequest(req.symbol, side, kind, req.quantity, sl.limit_price,
                                  sl.stop_price, TimeInForce.GTC), "stop_loss"))
    return legs


_LEG_FIELDS = {"price": "limit_price", "stop_price": "stop_price"}


def _check_leg(leg: OrderRequest, instrument: Instrument, prefix: str) -> None:
    try:
        validate_order(leg, instrument)
    except InvalidOrder as exc:
        field = str(exc.details.get("field"))
        named = f"{prefix}.{_LEG_FIELDS.get(field, field)}"
        message = exc.message.replace(field, named, 1) if field in _LEG_FIELDS else exc.message
        raise InvalidOrder(message, code=exc.code,
                           details={**exc.details, "field": named}) from None


def _check_sides(req: OrderRequest, exits: Exits) -> None:
    """A SELL exit takes profit above and stops loss below (the entry's price, and each other)."""
    tp, sl = exits.take_profit, exits.stop_loss
    if sl is not None and sl.limit_price is not None and sl.limit_price > sl.stop_price:
        raise _invalid(f"stop_loss.limit_price must be at or below stop_loss.stop_price "
                       f"{sl.stop_price} for a SELL stop-limit, was {sl.limit_price}",
                       "stop_loss.limit_price", sl.limit_price)
    if tp is not None and sl is not None and tp.limit_price <= sl.stop_price:
        raise _invalid(f"take_profit.limit_price must be above stop_loss.stop_price "
                       f"{sl.stop_price}, was {tp.limit_price}", "take_profit.limit_price",
                       tp.limit_price)
    base = req.stop_price if req.order_type is OrderType.STOP else req.price
    if req.side is not Side.BUY or base is None:
        return  # an oco order is its own take-profit; a MARKET entry has no price to compare
    if tp is not None and tp.limit_price <= base:
        raise _invalid(f"take_profit.limit_price must be above the entry's price {base}, was "
                       f"{tp.limit_price}", "take_profit.limit_price", tp.limit_price)
    if sl is not None and sl.stop_price >= base:
        raise _invalid(f"stop_loss.stop_price must be below the entry's price {base}, was "
                       f"{sl.stop_price}", "stop_loss.stop_price", sl.stop_price)


def exit_time_in_force(entry: TimeInForce) -> TimeInForce:
    """The time in force of the exits of an entry (or oco order) placed with `entry`."""
    return entry if entry in _KEPT_TIFS else TimeInForce.GTC


def exit_validity(entry: Order) -> tuple[TimeInForce, datetime | None]:
    """The exits' time in force: a DAY or GTD entry's own (they end together), else GTC."""
    kept = exit_time_in_force(entry.time_in_force)
    return kept, entry.expire_at if kept is entry.time_in_force else None


def exit_types(exits: Exits) -> list[tuple[str, OrderType]]:
    """Each exit's field name and the order type it is placed as."""
    kinds = []
    if exits.take_profit is not None:
        kinds.append(("take_profit", OrderType.LIMIT))
    if exits.stop_loss is not None:
        kinds.append(("stop_loss", OrderType.STOP if exits.stop_loss.limit_price is None
                      else OrderType.STOP_LIMIT))
    return kinds


def new_legs(entry: Order, exits: Exits, quantity: Decimal, *, oco: bool,
             ids: list[uuid.UUID], now: datetime) -> list[Order]:
    """The exit orders (PENDING_NEW) an entry opens for `quantity`: take-profit first.

    For an oco order only its stop-loss is new. The first leg holds the pair's shares.
    """
    chosen = Exits(None if oco else exits.take_profit, exits.stop_loss)
    tif, expire_at = exit_validity(entry)
    request = OrderRequest(entry.symbol, entry.side, entry.order_type, quantity, entry.price,
                           entry.stop_price, tif)
    legs: list[Order] = []
    side = entry.side if oco else (Side.SELL if entry.side is Side.BUY else Side.BUY)
    for (leg, _), order_id in zip(_leg_requests(request, chosen, side), ids, strict=False):
        legs.append(Order(
            id=order_id, user_id=entry.user_id, account_id=entry.account_id,
            broker=entry.broker, symbol=entry.symbol, side=leg.side, order_type=leg.order_type,
            quantity=quantity, price=leg.price, stop_price=leg.stop_price,
            time_in_force=tif, expire_at=expire_at, status=_S.PENDING_NEW, version=1,
            created_at=now, updated_at=now, order_class=entry.order_class,
            parent_id=entry.id, product=entry.product, portfolio_id=entry.portfolio_id,
            # A broker holds the position and checks its own sells: nothing is held here.
            reserved_quantity=(quantity if not legs and not oco and entry.is_paper
                               else Decimal(0))))
    return legs


def is_leg(order: Order) -> bool:
    """True for an exit of a bracket or oto, and for either order of an oco pair."""
    return order.parent_id is not None or order.order_class is OrderClass.OCO


def is_working(order: Order) -> bool:
    """True for a leg whose terms can change at once (not final, no cancel under way)."""
    return not is_terminal(order.status) and order.status not in (_S.PENDING_CANCEL,
                                                                   _S.PENDING_REPLACE)


def resized(order: Order, quantity: Decimal) -> list[ev.OrderEvent]:
    """The events that make a working paper leg's total quantity `quantity` at once."""
    terms = replace(order.terms, quantity=quantity)
    return [ev.ReplaceRequested(terms), ev.Replaced()]


def grow(leg: Order, more: Decimal) -> list[ev.OrderEvent]:
    """A later entry fill of `more`: the open leg covers that much more."""
    with localcontext(ARITHMETIC):
        return resized(leg, leg.quantity + more)


def after_sibling_fill(sibling: Order, filled: Decimal, leg_done: bool) -> list[ev.OrderEvent]:
    """What a fill of `filled` on one leg does to its sibling: cancel it once that leg is
    filled, else take as much off it (a sibling already being canceled is canceled now)."""
    if is_terminal(sibling.status):
        return []
    if leg_done:
        return [ev.Canceled(SIBLING_FILLED)]
    with localcontext(ARITHMETIC):
        quantity = sibling.quantity - filled
    if not is_working(sibling) or quantity <= sibling.filled_quantity:
        return [ev.Canceled(SIBLING_FILLED)]
    return resized(sibling, quantity)


# What a broker has acknowledged and nothing is being asked of: a modify may go to it now.
_LIVE_AT_BROKER = frozenset({_S.ACCEPTED, _S.TRIGGERED, _S.PARTIALLY_FILLED})


def is_live_at_broker(leg: Order) -> bool:
    """True for a broker leg whose size can be changed by a modify now."""
    return leg.status in _LIVE_AT_BROKER and leg.broker_order_id is not None


def pair_of(family: Sequence[Order], leg: Order) -> list[Order]:
    """The other legs of `leg`'s own pair in `family`: an oco order and its stop-loss, or the
    exits one entry fill opened together (inserted in one transaction, so one created_at)."""
    if leg.order_class is OrderClass.OCO:
        root = leg.parent_id or leg.id
        return [o for o in family if o.id != leg.id and root in (o.id, o.parent_id)]
    if leg.parent_id is None:
        return []  # a bracket's or oto's entry is no leg
    return [o for o in family if o.id != leg.id and o.parent_id == leg.parent_id
            and o.created_at == leg.created_at]


# How many exits one entry fill opens: a take-profit and a stop-loss, or the oto's one exit.
EXITS_PER_PAIR: Final = MappingProxyType({OrderClass.BRACKET: 2, OrderClass.OTO: 1})


def pair_to_grow(family: Sequence[Order], entry: Order,
                 can_grow: Callable[[Order], bool]) -> list[Order] | None:
    """A whole pair of the entry's exits whose every leg can grow now; None if there is none
    (the entry's next fill then opens a pair of its own)."""
    pairs: dict[datetime, list[Order]] = defaultdict(list)
    for leg in family:
        if leg.parent_id == entry.id:
            pairs[leg.created_at].append(leg)
    for pair in pairs.values():
        if len(pair) == EXITS_PER_PAIR[entry.order_class] and all(map(can_grow, pair)):
            return pair
    return None


def end_at_broker(leg: Order, why: str) -> list[ev.OrderEvent]:
    """End a broker leg: at once while it never reached the broker, else ask the broker."""
    if is_terminal(leg.status) or leg.status is _S.PENDING_CANCEL:
        return []
    if leg.status is _S.PENDING_NEW:
        return [ev.Canceled(why)]
    return [ev.CancelRequested()]


def grow_at_broker(leg: Order, more: Decimal) -> list[ev.OrderEvent]:
    """A later entry fill of `more`: ask the broker to make the live leg that much larger."""
    with localcontext(ARITHMETIC):
        return [ev.ReplaceRequested(replace(leg.terms, quantity=leg.quantity + more))]


def after_sibling_fill_at_broker(sibling: Order, filled: Decimal,
                                 leg_done: bool) -> list[ev.OrderEvent]:
    """after_sibling_fill at a broker, where each change is a request the broker answers.

    A sibling whose size cannot change now (not placed yet, or a change already waiting) is
    ended rather than left larger than the shares it covers.
    """
    if is_terminal(sibling.status):
        return []
    with localcontext(ARITHMETIC):
        quantity = sibling.quantity - filled
    if not leg_done and is_live_at_broker(sibling) and quantity > sibling.filled_quantity:
        return [ev.ReplaceRequested(replace(sibling.terms, quantity=quantity))]
    return end_at_broker(sibling, SIBLING_FILLED)


def exits_oversold(root: Order, family: Sequence[Order], covered: Decimal) -> Decimal:
    """How much more the exits of `root`'s family sold than the `covered` shares they exit
    (0 when none): both legs of a pair filled at a broker before its cancel arrived.

    A bracket's or oto's exits are its children; an oco order is an exit itself.
    """
    exits = [o for o in family if o.parent_id == root.id]
    if root.order_class is OrderClass.OCO:
        exits.append(root)
    with localcontext(ARITHMETIC):
        sold = sum((o.filled_quantity for o in exits), Decimal(0))
        return max(sold - covered, Decimal(0))
