"""The order aggregate: a frozen `Order`, one table of every allowed move, and `apply`.

`apply(order, event)` is the only way an order changes, in the API and in the worker alike.
It returns a new `Order` (version + 1), returns the same object when the event changes nothing
(a trade id seen before, a note already made), or raises InvalidTransition / OverFill.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from enum import Enum
from types import MappingProxyType
from typing import Final

from shared.domain import events as ev
from shared.domain.enums import OrderClass, OrderStatus, OrderType, Placement, Side, TimeInForce
from shared.domain.errors import InvalidOrder, InvalidTransition, OverFill
from shared.domain.values import ARITHMETIC, LEDGER_PLACES, PRICE_PLACES, require_decimal

_S = OrderStatus
PAPER: Final = "paper"


class Move(Enum):
    """A move the table names by rule rather than by a fixed status."""

    STAY = "stay"  # the status does not change (a note, a placement step)
    FILL = "fill"  # PARTIALLY_FILLED or FILLED by quantity; a pending state waits for the end
    BACK = "back"  # the status the pending state came from


_E = type[ev.OrderEvent]
_NOTES: Final[dict[_E, OrderStatus | Move]] = {ev.BrokerStatusNoted: Move.STAY,
                                               ev.Waiting: Move.STAY}
_WORKING: Final[dict[_E, OrderStatus | Move]] = {
    ev.Placed: Move.STAY, ev.Filled: Move.FILL, ev.CancelRequested: _S.PENDING_CANCEL,
    ev.Canceled: _S.CANCELED, ev.Expired: _S.EXPIRED, ev.ReplaceRequested: _S.PENDING_REPLACE,
    **_NOTES}
# While a cancel or a replace waits for the venue, the order keeps working on its old terms:
# fills racing it are real (a full one makes it "too late"), a stop may still trigger, and
# what happens meanwhile is remembered for the status it goes BACK to.
_PENDING: Final[dict[_E, OrderStatus | Move]] = {
    ev.Placed: Move.STAY, ev.PlacementNotSent: Move.STAY, ev.Accepted: Move.STAY,
    ev.Triggered: Move.STAY, ev.WaterMarkMoved: Move.STAY, ev.Filled: Move.FILL,
    ev.Canceled: _S.CANCELED, ev.Expired: _S.EXPIRED, ev.Rejected: _S.REJECTED, **_NOTES}

# (status, event) → what the status becomes. Every allowed move is here; anything else raises.
TRANSITIONS: Final[Mapping[OrderStatus, Mapping[_E, OrderStatus | Move]]] = MappingProxyType({
    _S.PENDING_NEW: {
        ev.Submitted: _S.SUBMITTED, ev.PlacementStarted: _S.SUBMITTED,
        ev.Rejected: _S.REJECTED, ev.Canceled: _S.CANCELED, ev.Waiting: Move.STAY},
    _S.SUBMITTED: {
        **{e: m for e, m in _WORKING.items() if e is not ev.ReplaceRequested},
        ev.PlacementStarted: Move.STAY, ev.PlacementNotSent: Move.STAY,
        ev.Accepted: _S.ACCEPTED, ev.Rejected: _S.REJECTED},
    # Only a stop not yet hit triggers, and only then does a trailing stop follow the market.
    _S.ACCEPTED: {**_WORKING, ev.Triggered: _S.TRIGGERED, ev.WaterMarkMoved: Move.STAY},
    _S.TRIGGERED: _WORKING,
    _S.PARTIALLY_FILLED: _WORKING,
    # A cancel supersedes a replace still waiting: the replace may already be at the venue, so
    # its late answer is still taken (new terms, or none), and the order stays PENDING_CANCEL.
    _S.PENDING_CANCEL: {**_PENDING, ev.CancelRejected: Move.BACK, ev.Replaced: Move.STAY,
                        ev.ReplaceRejected: Move.STAY},
    _S.PENDING_REPLACE: {**_PENDING, ev.Replaced: Move.BACK, ev.ReplaceRejected: Move.BACK,
                         ev.CancelRequested: _S.PENDING_CANCEL},
    _S.FILLED: {ev.BrokerStatusNoted: Move.STAY},
    # A venue may report a fill after it confirmed a cancel or an expiry (the fill raced it):
    # it happened and is booked; the order keeps its final status.
    _S.CANCELED: {ev.Filled: Move.STAY, ev.BrokerStatusNoted: Move.STAY},
    _S.EXPIRED: {ev.Filled: Move.STAY, ev.BrokerStatusNoted: Move.STAY},
    _S.REJECTED: {ev.BrokerStatusNoted: Move.STAY},
})

TERMINAL_STATUSES: Final = frozenset({_S.FILLED, _S.CANCELED, _S.REJECTED, _S.EXPIRED})
LATE_FILL_STATUSES: Final = frozenset({_S.CANCELED, _S.EXPIRED})
OPEN_STATUSES: Final = frozenset(OrderStatus) - TERMINAL_STATUSES
PENDING_STATUSES: Final = frozenset({_S.PENDING_CANCEL, _S.PENDING_REPLACE})
STOP_TYPES: Final = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP})


def is_terminal(status: OrderStatus) -> bool:
    """Tell whether an order in `status` can never move to another status."""
    return status in TERMINAL_STATUSES


def allows(status: OrderStatus, event: ev.OrderEvent) -> bool:
    """Tell whether the table has a move for `event` in `status` (guards may still refuse)."""
    return type(event) in TRANSITIONS[status]


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the books hold it. Amounts are Decimal; only `apply` makes a changed copy."""

    id: uuid.UUID
    user_id: uuid.UUID
    account_id: uuid.UUID
    broker: str
    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    time_in_force: TimeInForce
    status: OrderStatus
    version: int
    created_at: datetime
    updated_at: datetime
    filled_quantity: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    # Σ quantity × price of the fills, exact: the average is one rounding of it, never a
    # rounding of a rounding.
    filled_notional: Decimal = Decimal(0)
    # The status a pending state came from: where a refused cancel returns to.
    previous_status: OrderStatus | None = None
    # What the order still holds of the account's cash (BUY) or the position's shares (SELL).
    reserved_cash: Decimal = Decimal(0)
    reserved_quantity: Decimal = Decimal(0)
    trade_ids: frozenset[str] = field(default_factory=frozenset)
    client_order_id: str | None = None
    product: str | None = None
    broker_order_id: str | None = None
    broker_tag: str | None = None
    broker_status: str | None = None
    status_detail: str | None = None
    reject_reason: str | None = None
    placement: Placement | None = None
    placement_attempts: int = 0
    # A trailing stop trails the market by a price or a percentage from its water mark `hwm`
    # (the highest bid since it was placed for a SELL, the lowest ask for a BUY).
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    hwm: Decimal | None = None
    # When a GTD order (or a DAY order at the paper exchange, at its session's close) expires.
    expire_at: datetime | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    parent_id: uuid.UUID | None = None
    # One of the user's portfolios the order's fills roll up under (its legs inherit it).
    portfolio_id: uuid.UUID | None = None
    # The terms a PENDING_REPLACE waits to have confirmed (None in every other status).
    pending_terms: ev.Terms | None = None
    # Bookkeeping read with the order, never changed by `apply`.
    dispatch_attempts: int = 0
    request_hash: str | None = None

    def __post_init__(self) -> None:
        for name in ("quantity", "filled_quantity", "filled_notional", "reserved_cash",
                     "reserved_quantity"):
            require_decimal(getattr(self, name), field=name)
        if self.quantity <= 0:
            raise ValueError(f"quantity must be positive, was {self.quantity}")
        if not 0 <= self.filled_quantity <= self.quantity:
            raise ValueError(f"filled_quantity must be between 0 and the quantity "
                             f"{self.quantity}, was {self.filled_quantity}")

    @property
    def leaves(self) -> Decimal:
        """The quantity not yet filled (what it means once terminal is the caller's call)."""
        with localcontext(ARITHMETIC):
            return self.quantity - self.filled_quantity

    @property
    def terms(self) -> ev.Terms:
        """The terms a replace may change, as they stand."""
        return ev.Terms(quantity=self.quantity, price=self.price, stop_price=self.stop_price,
                        trail_price=self.trail_price, trail_percent=self.trail_percent,
                        time_in_force=self.time_in_force, expire_at=self.expire_at)

    @property
    def working_status(self) -> OrderStatus:
        """The status the order works in: the one a pending state came from, else its own."""
        return self.previous_status or self.status

    @property
    def is_paper(self) -> bool:
        """True for an order on ordergate's own paper exchange."""
        return self.broker == PAPER


def apply(order: Order, event: ev.OrderEvent) -> Order:
    """Return the order after `event`; the same object if it changes nothing; or raise."""
    if isinstance(event, ev.Filled) and event.trade_id in order.trade_ids:
        return order  # delivered again: it counts once, whatever the order has become since
    move = TRANSITIONS[order.status].get(type(event))
    if move is None:
        raise _refused(order, event)
    changed = _effect(order, event, move)
    if changed is order or changed == order:
        return order
    return replace(changed, version=order.version + 1)


def _effect(order: Order, event: ev.OrderEvent, move: OrderStatus | Move) -> Order:
    match event:
        case ev.Filled():
            return _fill(order, event)
        case ev.PlacementStarted() | ev.Placed() | ev.PlacementNotSent():
            return _placement(order, event, move)
        case ev.BrokerStatusNoted(raw_status=raw):
            return replace(order, broker_status=raw)
        case ev.Waiting(detail=detail):
            return replace(order, status_detail=detail)
        case ev.Submitted(broker_order_id=broker_order_id):
            return _move(replace(order, broker_order_id=broker_order_id), _S.SUBMITTED)
        case ev.Accepted() if order.status in PENDING_STATUSES:
            # Acknowledged while a cancel or replace waits: going BACK lands on ACCEPTED.
            back = _S.ACCEPTED if order.previous_status is _S.SUBMITTED else order.previous_status
            return replace(order, previous_status=back)
        case ev.Accepted(detail=detail):
            return _move(replace(order, status_detail=detail), _S.ACCEPTED)
        case ev.Triggered():
            return _trigger(order, event)
        case ev.WaterMarkMoved(hwm=hwm):
            return _trail(order, hwm)
        case ev.ReplaceRequested(terms=terms):
            _check_terms(order, terms)
            return replace(_move(order, _S.PENDING_REPLACE), pending_terms=terms)
        case ev.Replaced():
            return _replaced(order, event)
        case ev.ReplaceRejected(reason=reason) if order.status is _S.PENDING_CANCEL:
            _require_replace_waiting(order, event)
            return replace(order, pending_terms=None, status_detail=reason)
        case ev.CancelRejected(reason=reason) if order.pending_terms is not None:
            # The replace the cancel superseded has not been answered: it is waited for again.
            return replace(order, status=_S.PENDING_REPLACE, status_detail=reason)
        case ev.CancelRejected(reason=reason) | ev.ReplaceRejected(reason=reason):
            return _move(replace(order, status_detail=reason), _back(order))
        case ev.Rejected() if order.filled_quantity > 0:
            raise _refused(order, event, f"{order.filled_quantity} of it is already filled")
        case ev.Rejected(reason=reason) | ev.Canceled(reason=reason) | ev.Expired(reason=reason):
            assert isinstance(move, OrderStatus)
            return _move(replace(order, reject_reason=reason), move)
        case ev.CancelRequested():
            return _move(order, _S.PENDING_CANCEL)
    raise AssertionError(f"no effect for {event!r}")  # pragma: no cover - the table is total


def _back(order: Order) -> OrderStatus:
    assert order.previous_status is not None, "a pending state knows where it came from"
    return order.previous_status


def _move(order: Order, target: OrderStatus) -> Order:
    """Move to `target`: a pending state remembers the status it works in, and the terms a
    replace still waits on; an end frees the rest."""
    waiting = target in PENDING_STATUSES
    previous = order.working_status if waiting else None
    pending = order.pending_terms if waiting else None
    moved = replace(order, status=target, previous_status=previous, pending_terms=pending)
    if is_terminal(target):
        return replace(moved, reserved_cash=Decimal(0), reserved_quantity=Decimal(0))
    return moved


def _trigger(order: Order, event: ev.Triggered) -> Order:
    if order.order_type not in STOP_TYPES:
        raise _refused(order, event, f"a {order.order_type} order has no stop to trigger")
    if order.working_status is not _S.ACCEPTED:
        return order  # triggered already (or filling): nothing new
    if order.status in PENDING_STATUSES:
        return replace(order, previous_status=_S.TRIGGERED)
    return _move(order, _S.TRIGGERED)


def _trail(order: Order, mark: Decimal) -> Order:
    """Follow the market with the water mark; a mark the order has passed changes nothing."""
    if order.order_type is not OrderType.TRAILING_STOP:
        raise InvalidTransition(
            f"order {order.id} is a {order.order_type} order: only a trailing stop has a water "
            "mark", details={"field": "order_type", "from_status": str(order.status),
                             "event": "WaterMarkMoved"})
    require_decimal(mark, field="hwm")
    if order.working_status is not _S.ACCEPTED or mark <= 0:
        return order  # triggered: the mark no longer matters
    if order.hwm is not None and (mark <= order.hwm if order.side is Side.SELL
                                  else mark >= order.hwm):
        return order
    return replace(order, hwm=mark)


def trailing_stop_price(order: Order) -> Decimal | None:
    """Where a trailing stop triggers now: its water mark less (SELL) or plus (BUY) the trail."""
    if order.order_type is not OrderType.TRAILING_STOP or order.hwm is None:
        return None
    with localcontext(ARITHMETIC):
        if order.trail_price is not None:
            offset = order.trail_price
        else:
            assert order.trail_percent is not None, "a trailing stop has a trail"
            offset = order.hwm * order.trail_percent / 100
        stop = order.hwm - offset if order.side is Side.SELL else order.hwm + offset
    return stop.quantize(PRICE_PLACES, rounding=ROUND_HALF_EVEN)


def _check_terms(order: Order, terms: ev.Terms) -> None:
    if terms == order.terms:
        raise InvalidOrder("the replace changes nothing: name at least one new value",
                           code="nothing_to_replace", details={"field": "body"})
    require_decimal(terms.quantity, field="quantity")
    if terms.quantity < order.filled_quantity or terms.quantity <= 0:
        raise InvalidOrder(
            f"quantity must be at least the {order.filled_quantity} already filled, "
            f"was {terms.quantity}", details={"field": "quantity",
                                              "filled_quantity": str(order.filled_quantity)})


def _require_replace_waiting(order: Order, event: ev.Replaced | ev.ReplaceRejected) -> None:
    if order.pending_terms is None:
        raise _refused(order, event, "no replace of it is waiting for an answer")


def _replaced(order: Order, event: ev.Replaced) -> Order:
    _require_replace_waiting(order, event)
    terms = order.pending_terms
    assert terms is not None
    if terms.quantity < order.filled_quantity:
        raise _refused(order, event, f"its new quantity {terms.quantity} is below the "
                                     f"{order.filled_quantity} filled meanwhile")
    cash = order.reserved_cash if event.reserved_cash is None else event.reserved_cash
    require_decimal(cash, field="reserved_cash")
    shares = order.reserved_quantity
    if shares > 0:  # a SELL holds its unfilled shares: as many as the new terms leave
        with localcontext(ARITHMETIC):
            shares = terms.quantity - order.filled_quantity
    renewed = replace(
        order, quantity=terms.quantity, price=terms.price, stop_price=terms.stop_price,
        trail_price=terms.trail_price, trail_percent=terms.trail_percent,
        time_in_force=terms.time_in_force, expire_at=terms.expire_at,
        reserved_cash=cash, reserved_quantity=shares, status_detail=None)
    if terms.quantity == order.filled_quantity:
        return _move(renewed, _S.FILLED)  # cut to what is filled: nothing is left to work
    if order.status is _S.PENDING_CANCEL:
        return replace(renewed, pending_terms=None)  # the cancel it lost to still waits
    return _move(renewed, _back(order))


def _placement(order: Order, event: ev.PlacementStarted | ev.Placed | ev.PlacementNotSent,
               move: OrderStatus | Move) -> Order:
    if isinstance(event, ev.PlacementStarted):
        retry = order.status is _S.SUBMITTED and order.placement is Placement.NOT_SENT
        if order.is_paper or not (order.status is _S.PENDING_NEW or retry):
            raise _refused(order, event, "it is not waiting to be placed at a broker")
        started = replace(order, placement=Placement.IN_FLIGHT, status_detail=None,
                          placement_attempts=order.placement_attempts + 1)
        return _move(started, _S.SUBMITTED) if move is _S.SUBMITTED else started
    if isinstance(event, ev.Placed):
        if order.broker_order_id not in (None, event.broker_order_id):
            raise _refused(order, event, f"it is already at the broker as "
                                         f"{order.broker_order_id}")
        return replace(order, broker_order_id=event.broker_order_id,
                       placement=Placement.PLACED, status_detail=None)
    if order.broker_order_id is not None or order.placement is not Placement.IN_FLIGHT:
        # The broker's answer arrived meanwhile (a webhook, a sync): it did receive the order.
        raise _refused(order, event, "the broker has already reported it")
    return replace(order, placement=Placement.NOT_SENT, status_detail=event.detail)


def _fill(order: Order, fill: ev.Filled) -> Order:
    _check_fill(order, fill)
    with localcontext(ARITHMETIC):
        filled = order.filled_quantity + fill.quantity
        notional = order.filled_notional + fill.quantity * fill.price
        average = (notional / filled).quantize(PRICE_PLACES, rounding=ROUND_HALF_EVEN)
    done = filled == order.quantity
    booked = replace(
        order, filled_quantity=filled, avg_fill_price=average, filled_notional=notional,
        trade_ids=order.trade_ids | {fill.trade_id},
        status_detail=None,  # it trades: whatever it waited for is over
        reserved_cash=order.reserved_cash - _cash_used(order, fill.quantity, done),
        reserved_quantity=(Decimal(0) if done else
                           order.reserved_quantity - min(fill.quantity, order.reserved_quantity)))
    if order.status in LATE_FILL_STATUSES:
        return booked
    if done:
        return _move(booked, _S.FILLED)
    if order.status in PENDING_STATUSES:
        return replace(booked, previous_status=_S.PARTIALLY_FILLED)
    return _move(booked, _S.PARTIALLY_FILLED)


def _check_fill(order: Order, fill: ev.Filled) -> None:
    require_decimal(fill.quantity, field="quantity")
    require_decimal(fill.price, field="price")
    if fill.quantity <= 0:
        raise InvalidOrder(f"fill quantity must be positive, was {fill.quantity}",
                           details={"field": "quantity"})
    if fill.price <= 0:
        raise InvalidOrder(f"fill price must be positive, was {fill.price}",
                           details={"field": "price"})
    if fill.quantity > order.leaves:
        raise OverFill(
            f"fill of {fill.quantity} exceeds the unfilled quantity {order.leaves} "
            f"(ordered {order.quantity}, filled {order.filled_quantity})",
            details={"field": "quantity", "fill_quantity": str(fill.quantity),
                     "leaves_quantity": str(order.leaves)})


def _cash_used(order: Order, quantity: Decimal, done: bool) -> Decimal:
    """The share of the cash reservation a fill of `quantity` uses up (all of it once done)."""
    if done or order.reserved_cash == 0:
        return order.reserved_cash
    with localcontext(ARITHMETIC):
        share = (order.reserved_cash * quantity / order.leaves).quantize(
            LEDGER_PLACES, rounding=ROUND_HALF_EVEN)
    return min(share, order.reserved_cash)


def _refused(order: Order, event: ev.OrderEvent, why: str | None = None) -> InvalidTransition:
    name = type(event).__name__
    if why is None:
        why = "it is final" if is_terminal(order.status) else "the move is not allowed"
    if isinstance(event, ev.Filled) and is_terminal(order.status):
        message = f"cannot fill an order that is already {order.status}"
    else:
        message = f"order {order.id} cannot take {name} while {order.status}: {why}"
    return InvalidTransition(message, details={"field": "status",
                                               "from_status": str(order.status), "event": name})


@dataclass(frozen=True, slots=True)
class Step:
    """One applied event: the status it moved from and the order right after it."""

    event: ev.OrderEvent
    from_status: OrderStatus
    order: Order


@dataclass(frozen=True, slots=True)
class Change:
    """An order and the events applied to it since it was read: what one save writes."""

    before: Order
    steps: tuple[Step, ...] = ()

    @property
    def after(self) -> Order:
        """The order after every step."""
        return self.steps[-1].order if self.steps else self.before

    def then(self, event: ev.OrderEvent) -> Change:
        """Apply one more event; an event that changes nothing adds no step."""
        current = self.after
        nxt = apply(current, event)
        if nxt is current:
            return self
        return Change(self.before, (*self.steps, Step(event, current.status, nxt)))
