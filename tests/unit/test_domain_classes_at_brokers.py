"""Order classes at a real broker, pure rules: which legs make a pair, what a fill or an end
asks of the broker, and how much a race sold too much."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from shared.domain import events as ev
from shared.domain.classes import (
    SIBLING_FILLED,
    Exits,
    StopLoss,
    TakeProfit,
    after_sibling_fill_at_broker,
    end_at_broker,
    exits_oversold,
    grow_at_broker,
    is_live_at_broker,
    new_legs,
    pair_of,
    pair_to_grow,
)
from shared.domain.enums import OrderClass, OrderType
from shared.domain.orders import Order
from tests.unit.factories import T0, S, new_order, order_in

D = Decimal
BRACKET = Exits(TakeProfit(D(110)), StopLoss(D(90)))


def _entry() -> Order:
    return replace(order_in(S.PARTIALLY_FILLED), order_class=OrderClass.BRACKET)


def _pair(entry: Order, quantity: str = "10", minutes: int = 0) -> list[Order]:
    legs = new_legs(entry, BRACKET, D(quantity), oco=False, ids=[uuid.uuid4(), uuid.uuid4()],
                    now=T0)
    return [replace(leg, created_at=T0 + timedelta(minutes=minutes)) for leg in legs]


def _live(leg: Order, filled: str = "0") -> Order:
    return replace(leg, status=S.PARTIALLY_FILLED if D(filled) else S.ACCEPTED,
                   broker_order_id="B-" + leg.id.hex[:6], filled_quantity=D(filled))


def test_a_broker_entry_exits_hold_nothing_here_the_broker_checks_its_own_sells() -> None:
    tp, sl = _pair(_entry())
    assert (tp.reserved_quantity, sl.reserved_quantity) == (D(0), D(0))
    assert (tp.product, tp.broker, tp.order_type, sl.order_type) == (
        None, "zerodha", OrderType.LIMIT, OrderType.STOP)


def test_a_pair_is_the_exits_one_fill_opened_not_every_exit_of_the_entry() -> None:
    entry = _entry()
    first, second = _pair(entry), _pair(entry, minutes=1)
    family = [entry, *first, *second]
    assert pair_of(family, first[0]) == [first[1]]
    assert pair_of(family, second[1]) == [second[0]]
    assert pair_of(family, entry) == []


def test_an_oco_order_and_its_stop_loss_are_each_other_s_pair() -> None:
    oco = replace(order_in(S.ACCEPTED), order_class=OrderClass.OCO)
    (stop,) = new_legs(oco, Exits(stop_loss=StopLoss(D(9))), D(100), oco=True,
                       ids=[uuid.uuid4()], now=T0)
    assert pair_of([oco, stop], oco) == [stop]
    assert pair_of([oco, stop], stop) == [oco]


def test_a_fill_on_one_leg_asks_the_broker_to_shrink_its_live_sibling() -> None:
    _, sl = _pair(_entry())
    [asked] = after_sibling_fill_at_broker(_live(sl), D(4), leg_done=False)
    assert isinstance(asked, ev.ReplaceRequested)
    assert asked.terms == replace(sl.terms, quantity=D(6))


def test_a_filled_leg_asks_the_broker_to_cancel_its_sibling() -> None:
    _, sl = _pair(_entry())
    assert after_sibling_fill_at_broker(_live(sl), D(10), leg_done=True) == [
        ev.CancelRequested()]


@pytest.mark.parametrize(("status", "events"), [
    (S.PENDING_NEW, [ev.Canceled(SIBLING_FILLED)]),  # never reached the broker: ended here
    (S.SUBMITTED, [ev.CancelRequested()]),  # being placed: its size cannot change now
    (S.PENDING_REPLACE, [ev.CancelRequested()]),  # a change already waits at the broker
    (S.PENDING_CANCEL, []),
    (S.FILLED, []),
])
def test_a_sibling_that_cannot_be_resized_now_is_ended_never_left_too_large(
        status: S, events: list[ev.OrderEvent]) -> None:
    _, sl = _pair(_entry())
    assert after_sibling_fill_at_broker(replace(sl, status=status), D(4),
                                        leg_done=False) == events


def test_a_sibling_shrunk_to_what_it_already_filled_is_canceled() -> None:
    _, sl = _pair(_entry())
    assert after_sibling_fill_at_broker(_live(sl, filled="6"), D(4), leg_done=False) == [
        ev.CancelRequested()]


def test_a_later_entry_fill_asks_the_broker_for_that_much_more() -> None:
    tp, _ = _pair(_entry())
    [asked] = grow_at_broker(_live(tp), D("5"))
    assert isinstance(asked, ev.ReplaceRequested)
    assert asked.terms.quantity == D(15)


def test_ending_a_leg_at_a_broker_is_a_request_unless_it_never_got_there() -> None:
    tp, _ = _pair(_entry())
    assert end_at_broker(_live(tp), "why") == [ev.CancelRequested()]
    assert end_at_broker(tp, "why") == [ev.Canceled("why")]


def test_exits_that_sold_more_than_the_entry_bought_say_by_how_much() -> None:
    entry = replace(_entry(), filled_quantity=D(10))
    tp, sl = _pair(entry)
    both = [entry, replace(tp, filled_quantity=D(10)), replace(sl, filled_quantity=D(3))]
    assert exits_oversold(entry, both, entry.filled_quantity) == D(3)
    assert exits_oversold(entry, both[:2], entry.filled_quantity) == D(0)


def test_an_oco_pair_counts_the_oco_order_itself_as_an_exit() -> None:
    oco = replace(new_order(order_class=OrderClass.OCO), filled_quantity=D(100))
    (stop,) = new_legs(oco, Exits(stop_loss=StopLoss(D(9))), D(100), oco=True,
                       ids=[uuid.uuid4()], now=T0)
    assert exits_oversold(oco, [oco, replace(stop, filled_quantity=D(40))], D(100)) == D(40)


def test_the_pair_a_later_fill_grows_is_a_whole_pair_every_leg_of_which_can_grow() -> None:
    entry = _entry()
    first = [_live(leg) for leg in _pair(entry)]
    second = [_live(leg) for leg in _pair(entry, minutes=1)]
    canceling = [replace(first[0], status=S.PENDING_CANCEL, previous_status=S.ACCEPTED),
                 first[1]]
    assert pair_to_grow([entry, *canceling, *second], entry, is_live_at_broker) == second
    assert pair_to_grow([entry, *canceling], entry, is_live_at_broker) is None
    assert pair_to_grow([entry, first[0]], entry, is_live_at_broker) is None  # half a pair
