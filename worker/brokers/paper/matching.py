"""The paper exchange's matching rules, pure: what one quote does to the orders it reaches.

A quote is the top of the book with the size at each side. One call of `match` says what the
quote does to one order, as the events to apply in order (a water mark moved, a stop hit, an
execution at the touch bounded by the size left there, what an IOC/FOK cancels), and how much
of the size it took. `plan` runs it over a symbol's resting orders in price-time priority,
each taking from the size the ones before it left. Nothing here does I/O: the handlers lock the
rows, call these, and book what comes out through the domain.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

from shared.domain import events as ev
from shared.domain.enums import OrderType, Side, TimeInForce
from shared.domain.errors import DomainError
from shared.domain.fees import FeeSchedule, fill_fee
from shared.domain.orders import Order, apply, is_terminal, trailing_stop_price
from shared.domain.triggers import is_untriggered_stop
from shared.domain.values import ARITHMETIC, LEDGER_PLACES

ZERO = Decimal(0)
IMMEDIATE = frozenset({TimeInForce.IOC, TimeInForce.FOK})
LIMIT_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
BPS = Decimal(10_000)
NO_FEES = FeeSchedule()


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book of one instrument: prices, the size at each, its sequence number, its tick."""

    bid: Decimal
    ask: Decimal
    last: Decimal
    bid_size: Decimal = Decimal(100_000)
    ask_size: Decimal = Decimal(100_000)
    seq: int = 0
    tick: Decimal = Decimal("0.01")

    def touch(self, side: Side) -> Decimal:
        """The price an order of `side` trades at: the ask for a BUY, the bid for a SELL."""
        return self.ask if side is Side.BUY else self.bid

    def size(self, side: Side) -> Decimal:
        """The size an order of `side` can take at the touch."""
        return self.ask_size if side is Side.BUY else self.bid_size


@dataclass(frozen=True, slots=True)
class Slippage:
    """MARKET fills `bps` basis points worse than the touch (0: none); with `seed`, a
    reproducible random part of it per trade instead of all of it."""

    bps: Decimal = ZERO
    seed: int | None = None


NO_SLIPPAGE = Slippage()


@dataclass(frozen=True, slots=True)
class Match:
    """What a quote does to one order: the events to apply in order, and the size they take."""

    events: tuple[ev.OrderEvent, ...] = ()
    used: Decimal = ZERO


def paper_order_id(order_id: uuid.UUID) -> str:
    """The paper exchange's id for our order: derived from it, so a replay names the same."""
    return f"PAPER-{order_id.hex[:16]}"


def trade_id(order_id: uuid.UUID, seq: int) -> str:
    """The paper execution id of an order's fill on quote `seq`: a redelivery names the same."""
    return f"{order_id.hex}-{seq}"


def match(order: Order, quote: Quote, available: Decimal, at: datetime, *,
          arriving: bool = False, slippage: Slippage = NO_SLIPPAGE,
          fees: FeeSchedule = NO_FEES) -> Match:
    """What `quote` does to `order` when `available` is the size left at its touch.

    `arriving`: the order reaches the exchange now; an IOC or FOK ends on this quote. A BUY
    without a limit never spends more than the cash it reserved (with its `fees`).
    """
    if is_terminal(order.status) or not order.is_paper:
        return Match()  # a late quote never fills a finished order
    steps = _Steps(order)
    if order.order_type is OrderType.TRAILING_STOP and is_untriggered_stop(steps.order):
        # The domain keeps only a better mark (a higher bid for a SELL, a lower ask for a BUY).
        steps.add(ev.WaterMarkMoved(quote.touch(order.side)))
    if is_untriggered_stop(steps.order) and _stop_hit(steps.order, quote):
        steps.add(ev.Triggered(quote.touch(order.side)))
    used = _execute(steps, quote, available, at, arriving=arriving, slippage=slippage,
                    fees=fees)
    if arriving and order.time_in_force in IMMEDIATE and not is_terminal(steps.order.status):
        steps.add(ev.Canceled(_unfilled_reason(steps.order, quote, available)))
    return Match(tuple(steps.events), used)


@dataclass
class _Steps:
    """Events applied so far to a copy of the order, so each next rule sees where it stands."""

    order: Order
    events: list[ev.OrderEvent] = field(default_factory=list)

    def add(self, event: ev.OrderEvent) -> None:
        after = apply(self.order, event)
        if after is not self.order:
            self.events.append(event)
            self.order = after


def _stop_hit(order: Order, quote: Quote) -> bool:
    stop = (trailing_stop_price(order) if order.order_type is OrderType.TRAILING_STOP
            else order.stop_price)
    if stop is None:
        return False  # a trailing stop without a water mark yet: this quote only sets it
    # A buy stop triggers when the market trades up to it, a sell stop when it trades down.
    return quote.ask >= stop if order.side is Side.BUY else quote.bid <= stop


def executable_price(order: Order, quote: Quote) -> Decimal | None:
    """The touch if the order can execute on this quote now, else None."""
    if is_untriggered_stop(order):
        return None
    touch = quote.touch(order.side)
    if order.order_type not in LIMIT_TYPES:
        return touch  # MARKET, or a STOP / TRAILING_STOP that triggered
    assert order.price is not None, "a limit order has a limit price"
    marketable = touch <= order.price if order.side is Side.BUY else touch >= order.price
    # A marketable limit fills at the touch: the price improvement goes to the client.
    return touch if marketable else None


def _execute(steps: _Steps, quote: Quote, available: Decimal, at: datetime, *,
             arriving: bool, slippage: Slippage, fees: FeeSchedule) -> Decimal:
    order = steps.order
    price = executable_price(order, quote)
    tid = trade_id(order.id, quote.seq)
    if price is None or available <= 0 or tid in order.trade_ids:
        return ZERO  # nothing to take, or this order already took its part of this quote
    quantity = min(order.leaves, available)
    if arriving and order.time_in_force is TimeInForce.FOK and quantity < order.leaves:
        return ZERO  # all or nothing
    if order.order_type not in LIMIT_TYPES:
        price = slipped(price, order.side, quote.tick, tid, slippage)
    affordable = _affordable(order, price, fees)
    if affordable < quantity:
        return _run_past_reservation(steps, affordable, price, tid, at)
    steps.add(ev.Filled(trade_id=tid, quantity=quantity, price=price, at=at))
    return quantity


def _affordable(order: Order, price: Decimal, fees: FeeSchedule) -> Decimal:
    """How much of a BUY without a limit its reserved cash pays for at `price`, fee included
    (a limit never trades above the price it reserved: no cap)."""
    if order.side is not Side.BUY or order.order_type in LIMIT_TYPES or not order.reserved_cash:
        return order.leaves  # a SELL, a limit, or an order that holds no cash here
    step = Decimal(1) if order.quantity == order.quantity.to_integral_value() else LEDGER_PLACES

    def at_most(cash: Decimal) -> Decimal:
        with localcontext(ARITHMETIC):
            return max(ZERO, (cash / price).quantize(step, rounding=ROUND_FLOOR))

    first = at_most(order.reserved_cash)
    fee = fill_fee(fees, filled_before=order.filled_quantity,
                   notional_before=order.filled_notional, quantity=first, price=price)
    # A smaller fill pays no more fee, so one step back from the first guess is enough.
    return at_most(order.reserved_cash - fee) if fee else first


def _run_past_reservation(steps: _Steps, affordable: Decimal, price: Decimal, tid: str,
                          at: datetime) -> Decimal:
    """Fill what the reserved cash pays for and cancel the rest: the market ran past it."""
    if affordable > 0:
        steps.add(ev.Filled(trade_id=tid, quantity=affordable, price=price, at=at))
    order = steps.order
    steps.add(ev.Canceled(
        f"the ask {_plain(price)} ran past the cash this order reserved: "
        f"{_plain(order.filled_quantity)} of {_plain(order.quantity)} filled, the rest is "
        "canceled"))
    return affordable


def _unfilled_reason(order: Order, quote: Quote, available: Decimal) -> str:
    tif = order.time_in_force.value
    if order.filled_quantity > 0:
        return (f"{tif} order filled {_plain(order.filled_quantity)} of"
                f" {_plain(order.quantity)} at once; the rest is canceled")
    if tif == TimeInForce.FOK.value and executable_price(order, quote) and available > 0:
        return (f"FOK order could not fill in full at once: {_plain(available)} available at"
                f" {_plain(quote.touch(order.side))}, {_plain(order.leaves)} wanted")
    return f"{tif} order could not fill at once"


def _plain(amount: Decimal) -> str:
    """An amount as people write it: 120, not 120.00000000 or 1.2E+2."""
    return format(amount.normalize(), "f")


def slipped(price: Decimal, side: Side, tick: Decimal, trade: str,
            slippage: Slippage) -> Decimal:
    """A MARKET fill's price with slippage: worse for the client, on the tick grid."""
    if slippage.bps <= 0:
        return price
    if slippage.seed is None:
        fraction = Decimal(1)
    else:  # seeded by the trade id too, so a redelivered task prices the same fill the same
        fraction = Decimal(str(round(random.Random(f"{slippage.seed}:{trade}").random(), 6)))
    with localcontext(ARITHMETIC):
        amount = price * slippage.bps * fraction / BPS
        if side is Side.BUY:
            return ((price + amount) / tick).to_integral_value(ROUND_CEILING) * tick
        worse = ((price - amount) / tick).to_integral_value(ROUND_FLOOR) * tick
        return max(worse, tick)


def priority(order: Order, queued_at: datetime) -> tuple[int, Decimal, datetime, str]:
    """Sort key of price-time priority: market-like orders (MARKET, stops) first by time,
    then limits by price (highest bid, lowest offer) and time at that price."""
    if order.order_type not in LIMIT_TYPES or is_untriggered_stop(order):
        return (0, ZERO, queued_at, order.id.hex)
    assert order.price is not None, "a limit order has a limit price"
    better_first = -order.price if order.side is Side.BUY else order.price
    return (1, better_first, queued_at, order.id.hex)


@dataclass(frozen=True, slots=True)
class Plan:
    """What a quote does to a symbol's book: each order it changes, and the size taken."""

    matches: tuple[tuple[Order, Match], ...]
    bid_used: Decimal
    ask_used: Decimal
    # Orders the domain refused to move (a bug to look at): left as they are, so that one bad
    # order never holds up the rest of the book.
    refused: tuple[tuple[Order, str], ...] = ()


def plan(book: Iterable[tuple[Order, datetime]], quote: Quote, at: datetime, *,
         slippage: Slippage = NO_SLIPPAGE, fees: FeeSchedule = NO_FEES) -> Plan:
    """Match a symbol's resting orders against `quote` in price-time priority."""
    left = {Side.BUY: quote.ask_size, Side.SELL: quote.bid_size}
    matches: list[tuple[Order, Match]] = []
    refused: list[tuple[Order, str]] = []
    for order, _queued_at in sorted(book, key=lambda item: priority(*item)):
        try:
            result = match(order, quote, left[order.side], at, slippage=slippage, fees=fees)
        except DomainError as exc:
            refused.append((order, exc.message))
            continue
        left[order.side] -= result.used
        if result.events:
            matches.append((order, result))
    return Plan(tuple(matches), bid_used=quote.bid_size - left[Side.SELL],
                ask_used=quote.ask_size - left[Side.BUY], refused=tuple(refused))

