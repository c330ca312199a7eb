"""Replacing an order's terms in the domain: request, confirm, refuse, and fills in between."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from shared.domain import events as ev
from shared.domain.enums import OrderStatus, OrderType, Side
from shared.domain.errors import InvalidOrder, InvalidTransition, OverFill
from shared.domain.orders import Change, Order, apply
from tests.unit.factories import fill, new_order

S = OrderStatus


def accepted(quantity: str = "100", **fields: Any) -> Order:
    """A paper BUY LIMIT 100 @ 10 resting on the book, reserving 1000."""
    order = new_order(quantity, reserved_cash=str(Decimal(quantity) * 10), **fields)
    return Change(order).then(ev.Submitted("PAPER-1")).then(ev.Accepted()).after


def partly_filled(filled: str = "30") -> Order:
    return apply(accepted(), fill("T-1", filled))


def terms(order: Order, **changes: Any) -> ev.Terms:
    return replace(order.terms, **changes)


def requested(order: Order, **changes: Any) -> Order:
    return apply(order, ev.ReplaceRequested(terms(order, **changes)))


def test_a_requested_replace_waits_on_the_old_terms_remembering_where_it_came_from() -> None:
    order = accepted()
    pending = requested(order, price=Decimal("9.5"), quantity=Decimal(150))
    assert pending.status is S.PENDING_REPLACE
    assert pending.previous_status is S.ACCEPTED
    assert (pending.quantity, pending.price) == (Decimal(100), Decimal(10))
    assert pending.pending_terms == terms(order, price=Decimal("9.5"), quantity=Decimal(150))
    assert pending.reserved_cash == order.reserved_cash


def test_a_confirmed_replace_works_on_the_new_terms_in_the_status_it_had() -> None:
    pending = requested(accepted(), price=Decimal("9.5"), quantity=Decimal(150))
    done = apply(pending, ev.Replaced(reserved_cash=Decimal("1425")))
    assert done.status is S.ACCEPTED
    assert (done.quantity, done.price, done.reserved_cash) == (
        Decimal(150), Decimal("9.5"), Decimal("1425"))
    assert (done.previous_status, done.pending_terms) == (None, None)
    assert done.version == pending.version + 1


def test_a_broker_confirmation_names_no_reservation_and_keeps_it() -> None:
    pending = requested(accepted(), price=Decimal("11"))
    assert apply(pending, ev.Replaced()).reserved_cash == Decimal(1000)


def test_a_refused_replace_keeps_the_old_terms_and_shows_why() -> None:
    pending = requested(partly_filled(), price=Decimal("9"))
    back = apply(pending, ev.ReplaceRejected("price outside the circuit band"))
    assert back.status is S.PARTIALLY_FILLED
    assert (back.quantity, back.price) == (Decimal(100), Decimal(10))
    assert back.status_detail == "price outside the circuit band"
    assert back.pending_terms is None


def test_a_replace_that_changes_nothing_is_refused() -> None:
    order = accepted()
    with pytest.raises(InvalidOrder) as refused:
        apply(order, ev.ReplaceRequested(order.terms))
    assert refused.value.code == "nothing_to_replace"


def test_quantity_below_what_is_filled_is_refused_naming_it() -> None:
    with pytest.raises(InvalidOrder) as refused:
        requested(partly_filled("30"), quantity=Decimal(20))
    assert refused.value.details["field"] == "quantity"
    assert "30 already filled" in refused.value.message


@pytest.mark.parametrize("status", [S.PENDING_NEW, S.SUBMITTED, S.PENDING_CANCEL,
                                    S.PENDING_REPLACE, S.FILLED, S.CANCELED, S.REJECTED,
                                    S.EXPIRED])
def test_only_a_working_order_can_be_replaced(status: OrderStatus) -> None:
    order = replace(accepted(), status=status, previous_status=S.ACCEPTED)
    with pytest.raises(InvalidTransition):
        requested(order, price=Decimal(9))


def test_a_triggered_stop_can_be_replaced_and_stays_triggered() -> None:
    stop = new_order(order_type=OrderType.STOP, price=None, stop_price=Decimal(11),
                     reserved_cash="1100")
    stop = Change(stop).then(ev.Submitted("PAPER-1")).then(ev.Accepted()).then(
        ev.Triggered(Decimal(11))).after
    done = apply(requested(stop, quantity=Decimal(50)), ev.Replaced(Decimal(550)))
    assert (done.status, done.quantity) == (S.TRIGGERED, Decimal(50))


def test_a_partial_fill_while_pending_is_booked_and_the_replace_returns_partly_filled() -> None:
    pending = requested(accepted(), quantity=Decimal(150))
    filled = apply(pending, fill("T-1", "40"))
    assert (filled.status, filled.previous_status) == (S.PENDING_REPLACE, S.PARTIALLY_FILLED)
    assert filled.filled_quantity == Decimal(40)
    assert filled.reserved_cash == Decimal(600)  # 40 of the 100 used their share
    done = apply(filled, ev.Replaced(reserved_cash=Decimal(1100)))
    assert (done.status, done.quantity, done.filled_quantity) == (
        S.PARTIALLY_FILLED, Decimal(150), Decimal(40))
    assert done.leaves == Decimal(110)


def test_a_fill_while_pending_is_capped_by_the_old_terms() -> None:
    pending = requested(accepted(), quantity=Decimal(150))
    with pytest.raises(OverFill):
        apply(pending, fill("T-1", "120"))


def test_a_full_fill_while_pending_makes_the_replace_too_late() -> None:
    pending = requested(accepted(), quantity=Decimal(150))
    filled = apply(pending, fill("T-1", "100"))
    assert filled.status is S.FILLED
    assert (filled.reserved_cash, filled.pending_terms) == (Decimal(0), None)
    for answer in (ev.Replaced(), ev.ReplaceRejected("too late")):
        with pytest.raises(InvalidTransition):
            apply(filled, answer)


def test_a_confirmation_below_what_was_filled_meanwhile_is_refused() -> None:
    pending = requested(partly_filled("30"), quantity=Decimal(50))
    filled = apply(pending, fill("T-2", "60"))  # 90 filled on the old terms
    with pytest.raises(InvalidTransition) as refused:
        apply(filled, ev.Replaced())
    assert "below the 90 filled meanwhile" in refused.value.message


def test_quantity_cut_to_what_is_filled_ends_the_order_filled_releasing_everything() -> None:
    pending = requested(partly_filled("30"), quantity=Decimal(30))
    done = apply(pending, ev.Replaced(reserved_cash=Decimal(0)))
    assert (done.status, done.quantity, done.filled_quantity) == (
        S.FILLED, Decimal(30), Decimal(30))
    assert (done.reserved_cash, done.reserved_quantity) == (Decimal(0), Decimal(0))


def test_a_sell_holds_as_many_shares_as_its_new_terms_leave() -> None:
    sell = new_order(side=Side.SELL, reserved_quantity="100")
    sell = Change(sell).then(ev.Submitted("PAPER-1")).then(ev.Accepted()).then(
        fill("T-1", "30")).after
    assert sell.reserved_quantity == Decimal(70)
    more = apply(requested(sell, quantity=Decimal(120)), ev.Replaced(Decimal(0)))
    fewer = apply(requested(sell, quantity=Decimal(60)), ev.Replaced(Decimal(0)))
    assert (more.reserved_quantity, fewer.reserved_quantity) == (Decimal(90), Decimal(30))


def test_request_and_confirmation_are_two_steps_of_one_change() -> None:
    order = accepted()
    change = Change(order).then(ev.ReplaceRequested(terms(order, price=Decimal(9)))).then(
        ev.Replaced(Decimal(900)))
    assert [(step.from_status, step.order.status) for step in change.steps] == [
        (S.ACCEPTED, S.PENDING_REPLACE), (S.PENDING_REPLACE, S.ACCEPTED)]
    assert change.after.version == order.version + 2
