"""The order aggregate: every allowed move of the table, every forbidden one, fill accounting."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any, get_args

import pytest

from shared.domain import events as ev
from shared.domain.enums import OrderStatus, OrderType, Placement
from shared.domain.errors import InvalidOrder, InvalidTransition, OverFill
from shared.domain.orders import (
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    TRANSITIONS,
    Change,
    Order,
    apply,
    is_terminal,
)
from tests.unit.factories import fill, new_order, order_in

S = OrderStatus
SAMPLE: dict[type[ev.OrderEvent], ev.OrderEvent] = {
    ev.Submitted: ev.Submitted("PAPER-1"), ev.PlacementStarted: ev.PlacementStarted(),
    ev.Placed: ev.Placed("B-1"), ev.PlacementNotSent: ev.PlacementNotSent("never received"),
    ev.Accepted: ev.Accepted(), ev.Rejected: ev.Rejected("refused"),
    ev.Filled: fill("T-1", "10"), ev.CancelRequested: ev.CancelRequested(),
    ev.Canceled: ev.Canceled(), ev.CancelRejected: ev.CancelRejected("too late"),
    ev.Expired: ev.Expired(), ev.Triggered: ev.Triggered(Decimal(10)),
    ev.WaterMarkMoved: ev.WaterMarkMoved(Decimal(12)),
    ev.ReplaceRequested: ev.ReplaceRequested(replace(new_order().terms, quantity=Decimal(200))),
    ev.Replaced: ev.Replaced(), ev.ReplaceRejected: ev.ReplaceRejected("refused"),
    ev.BrokerStatusNoted: ev.BrokerStatusNoted("OPEN"),
    ev.Waiting: ev.Waiting("waiting: the broker is down"),
}
_WORKING = (S.ACCEPTED, S.TRIGGERED, S.PARTIALLY_FILLED)
_PENDING = (S.PENDING_CANCEL, S.PENDING_REPLACE)

# Written out by hand from the product's lifecycle (after the FIX order state change matrices:
# new, fill, cancel and replace requests, their rejects, triggers and expiry), on purpose not
# derived from TRANSITIONS: (status, event) → the status after it.
ALLOWED: list[tuple[OrderStatus, type[ev.OrderEvent], OrderStatus]] = [
    (S.PENDING_NEW, ev.Submitted, S.SUBMITTED),
    (S.PENDING_NEW, ev.PlacementStarted, S.SUBMITTED),
    (S.PENDING_NEW, ev.Rejected, S.REJECTED),
    (S.PENDING_NEW, ev.Canceled, S.CANCELED),
    (S.PENDING_NEW, ev.Waiting, S.PENDING_NEW),
    (S.SUBMITTED, ev.PlacementStarted, S.SUBMITTED),  # a retry of a place never received
    (S.SUBMITTED, ev.Placed, S.SUBMITTED),
    (S.SUBMITTED, ev.PlacementNotSent, S.SUBMITTED),
    (S.SUBMITTED, ev.Accepted, S.ACCEPTED),
    (S.SUBMITTED, ev.Rejected, S.REJECTED),
    (S.SUBMITTED, ev.Filled, S.PARTIALLY_FILLED),
    (S.SUBMITTED, ev.CancelRequested, S.PENDING_CANCEL),
    (S.SUBMITTED, ev.Canceled, S.CANCELED),
    (S.SUBMITTED, ev.Expired, S.EXPIRED),
    (S.SUBMITTED, ev.BrokerStatusNoted, S.SUBMITTED),
    (S.SUBMITTED, ev.Waiting, S.SUBMITTED),
    *[(working, event, after) for working in _WORKING
      for event, after in [(ev.Placed, working), (ev.Filled, S.PARTIALLY_FILLED),
                           (ev.CancelRequested, S.PENDING_CANCEL), (ev.Canceled, S.CANCELED),
                           (ev.Expired, S.EXPIRED), (ev.ReplaceRequested, S.PENDING_REPLACE),
                           (ev.BrokerStatusNoted, working), (ev.Waiting, working)]],
    (S.ACCEPTED, ev.Triggered, S.TRIGGERED),  # a stop is hit
    (S.ACCEPTED, ev.WaterMarkMoved, S.ACCEPTED),  # a trailing stop follows the market
    # While a cancel or a replace waits, the order still works on its old terms.
    *[(pending, event, pending) for pending in _PENDING
      for event in (ev.Placed, ev.PlacementNotSent, ev.Accepted, ev.Triggered,
                    ev.WaterMarkMoved, ev.Filled, ev.BrokerStatusNoted, ev.Waiting)],
    *[(pending, event, after) for pending in _PENDING
      for event, after in [(ev.Canceled, S.CANCELED), (ev.Expired, S.EXPIRED),
                           (ev.Rejected, S.REJECTED)]],
    (S.PENDING_CANCEL, ev.CancelRejected, S.ACCEPTED),  # back to where it came from
    (S.PENDING_REPLACE, ev.Replaced, S.ACCEPTED),  # on the new terms
    (S.PENDING_REPLACE, ev.ReplaceRejected, S.ACCEPTED),  # on the old terms
    (S.PENDING_REPLACE, ev.CancelRequested, S.PENDING_CANCEL),  # a cancel supersedes it
    (S.PENDING_CANCEL, ev.Replaced, S.PENDING_CANCEL),  # the superseded replace's late answer
    (S.PENDING_CANCEL, ev.ReplaceRejected, S.PENDING_CANCEL),
    (S.FILLED, ev.BrokerStatusNoted, S.FILLED),
    (S.CANCELED, ev.Filled, S.CANCELED),  # a late fill is booked, the status stays
    (S.CANCELED, ev.BrokerStatusNoted, S.CANCELED),
    (S.EXPIRED, ev.Filled, S.EXPIRED),
    (S.EXPIRED, ev.BrokerStatusNoted, S.EXPIRED),
    (S.REJECTED, ev.BrokerStatusNoted, S.REJECTED),
]
_ALLOWED_PAIRS = {(status, event) for status, event, _ in ALLOWED}
FORBIDDEN = [(status, event) for status in OrderStatus for event in SAMPLE
             if (status, event) not in _ALLOWED_PAIRS]
_STOP = {"order_type": OrderType.STOP, "price": None, "stop_price": Decimal(10)}
_TRAILING = {"order_type": OrderType.TRAILING_STOP, "price": None,
             "trail_price": Decimal(1)}


def _ready_for(status: OrderStatus, event: type[ev.OrderEvent]) -> dict[str, Any]:
    # What the event needs to be news: a retry needs a place certainly not received, an
    # acknowledgement during a cancel an order not yet acknowledged, a trigger a stop order,
    # a water mark a trailing stop.
    if event is ev.PlacementStarted and status is S.SUBMITTED:
        return {"placement": Placement.NOT_SENT}
    if event is ev.Placed:
        return {"broker_order_id": None, "placement": Placement.IN_FLIGHT}
    if event is ev.Accepted and status in _PENDING:
        return {"previous_status": S.SUBMITTED}
    if event in (ev.Replaced, ev.ReplaceRejected) and status is S.PENDING_CANCEL:
        return {"pending_terms": replace(new_order().terms, quantity=Decimal(200))}
    if event is ev.Triggered:
        return _STOP
    if event is ev.WaterMarkMoved:
        return _TRAILING
    return {}


@pytest.mark.parametrize(("status", "event", "after"), ALLOWED)
def test_each_allowed_move_happens(status: OrderStatus, event: type[ev.OrderEvent],
                                   after: OrderStatus) -> None:
    order = order_in(status, **_ready_for(status, event))
    moved = apply(order, SAMPLE[event])
    assert moved.status is after
    assert moved.version == order.version + 1


def test_the_table_has_exactly_the_listed_moves() -> None:
    table = {(status, event) for status, moves in TRANSITIONS.items() for event in moves}
    assert table == _ALLOWED_PAIRS
    assert set(TRANSITIONS) == set(OrderStatus)
    assert set(SAMPLE) == set(get_args(ev.OrderEvent)), "every event is walked"


@pytest.mark.parametrize(("status", "event"), FORBIDDEN)
def test_each_forbidden_move_raises_naming_the_status_and_the_event(
        status: OrderStatus, event: type[ev.OrderEvent]) -> None:
    order = order_in(status, **_ready_for(status, event))
    with pytest.raises(InvalidTransition) as caught:
        apply(order, SAMPLE[event])
    error = caught.value
    assert (error.code, error.kind) == ("invalid_transition", "conflict")
    assert error.details == {"field": "status", "from_status": status.value,
                             "event": event.__name__}


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATUSES))
def test_a_terminal_status_never_moves_to_another(terminal: OrderStatus) -> None:
    order = order_in(terminal)
    for event in SAMPLE.values():
        try:
            after = apply(order, event)
        except (InvalidTransition, OverFill):
            continue
        assert after.status is terminal


def test_open_and_terminal_statuses_partition_all_statuses() -> None:
    assert {S.PENDING_NEW, S.SUBMITTED, S.ACCEPTED, S.TRIGGERED, S.PARTIALLY_FILLED,
            S.PENDING_CANCEL, S.PENDING_REPLACE} == OPEN_STATUSES
    assert OPEN_STATUSES | TERMINAL_STATUSES == set(OrderStatus)
    assert not any(is_terminal(s) for s in OPEN_STATUSES)


def test_status_values_equal_their_names_for_storage_and_json() -> None:
    assert [s.value for s in OrderStatus] == [s.name for s in OrderStatus]


def test_an_event_that_changes_nothing_returns_the_same_order() -> None:
    order = order_in(S.ACCEPTED, broker_status="OPEN")
    assert apply(order, ev.BrokerStatusNoted("OPEN")) is order
    assert Change(order).then(ev.BrokerStatusNoted("OPEN")).steps == ()


# --- where a pending state came from --------------------------------------------------------


@pytest.mark.parametrize("working", [S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED])
def test_a_refused_cancel_returns_to_exactly_the_previous_status(working: OrderStatus) -> None:
    order = order_in(working)
    pending = apply(order, ev.CancelRequested())
    assert (pending.status, pending.previous_status) == (S.PENDING_CANCEL, working)
    back = apply(pending, ev.CancelRejected("the broker refused the cancel"))
    assert (back.status, back.previous_status) == (working, None)
    assert back.filled_quantity == order.filled_quantity
    assert back.status_detail == "the broker refused the cancel"


def test_a_partial_fill_while_the_cancel_waits_is_kept_and_remembered() -> None:
    pending = apply(order_in(S.ACCEPTED), ev.CancelRequested())
    filled = apply(pending, fill("T-1", "30", "9"))
    assert (filled.status, filled.filled_quantity) == (S.PENDING_CANCEL, Decimal(30))
    back = apply(filled, ev.CancelRejected("refused"))
    assert (back.status, back.filled_quantity) == (S.PARTIALLY_FILLED, Decimal(30))


def test_a_fill_of_everything_while_the_cancel_waits_is_too_late_to_cancel() -> None:
    pending = apply(order_in(S.ACCEPTED), ev.CancelRequested())
    done = apply(pending, fill("T-1", "100"))
    assert (done.status, done.previous_status) == (S.FILLED, None)


def test_an_acknowledgement_while_the_cancel_waits_is_remembered_for_a_refusal() -> None:
    pending = apply(order_in(S.SUBMITTED), ev.CancelRequested())
    acked = apply(pending, ev.Accepted())
    assert (acked.status, acked.previous_status) == (S.PENDING_CANCEL, S.ACCEPTED)
    assert apply(acked, ev.CancelRejected("refused")).status is S.ACCEPTED


def _waiting_replace(price: str = "9") -> Order:
    order = order_in(S.PARTIALLY_FILLED)
    return apply(order, ev.ReplaceRequested(replace(order.terms, price=Decimal(price))))


def test_a_cancel_supersedes_a_waiting_replace_and_keeps_its_terms_for_a_late_answer() -> None:
    canceling = apply(_waiting_replace(), ev.CancelRequested())
    assert (canceling.status, canceling.previous_status) == (S.PENDING_CANCEL,
                                                             S.PARTIALLY_FILLED)
    assert canceling.pending_terms is not None
    assert canceling.pending_terms.price == Decimal(9)
    confirmed = apply(canceling, ev.Replaced())
    assert (confirmed.status, confirmed.price, confirmed.pending_terms) == (
        S.PENDING_CANCEL, Decimal(9), None)
    assert apply(confirmed, ev.Canceled()).status is S.CANCELED


def test_a_superseded_replace_the_venue_refuses_leaves_the_cancel_waiting_on_old_terms() -> None:
    canceling = apply(_waiting_replace(), ev.CancelRequested())
    refused = apply(canceling, ev.ReplaceRejected("the broker refused the replace"))
    assert (refused.status, refused.price, refused.pending_terms) == (
        S.PENDING_CANCEL, order_in(S.PARTIALLY_FILLED).price, None)
    back = apply(refused, ev.CancelRejected("refused"))
    assert (back.status, back.pending_terms) == (S.PARTIALLY_FILLED, None)


def test_a_refused_cancel_goes_back_to_waiting_on_the_replace_it_superseded() -> None:
    canceling = apply(_waiting_replace(), ev.CancelRequested())
    back = apply(canceling, ev.CancelRejected("the broker refused the cancel"))
    assert (back.status, back.previous_status) == (S.PENDING_REPLACE, S.PARTIALLY_FILLED)
    assert back.pending_terms == canceling.pending_terms
    assert apply(back, ev.Replaced()).status is S.PARTIALLY_FILLED


def test_a_cancel_with_no_replace_waiting_refuses_a_replace_answer() -> None:
    canceling = apply(order_in(S.ACCEPTED), ev.CancelRequested())
    for answer in (ev.Replaced(), ev.ReplaceRejected("refused")):
        with pytest.raises(InvalidTransition, match="no replace of it is waiting"):
            apply(canceling, answer)


# --- placement at a broker -----------------------------------------------------------------


def test_an_order_the_broker_reported_cannot_be_marked_unsent() -> None:
    reported = apply(order_in(S.SUBMITTED), ev.Placed("B-7"))
    with pytest.raises(InvalidTransition, match="already reported"):
        apply(reported, ev.PlacementNotSent("not found by tag"))


def test_a_place_can_be_retried_only_when_certainly_not_sent() -> None:
    in_flight = order_in(S.SUBMITTED)
    with pytest.raises(InvalidTransition, match="not waiting to be placed"):
        apply(in_flight, ev.PlacementStarted())
    unsent = apply(in_flight, ev.PlacementNotSent("never received"))
    again = apply(unsent, ev.PlacementStarted())
    assert (again.placement, again.placement_attempts) == (Placement.IN_FLIGHT, 2)


def test_a_paper_order_is_never_placed_at_a_broker() -> None:
    with pytest.raises(InvalidTransition):
        apply(new_order(), ev.PlacementStarted())


def test_a_second_broker_order_id_is_refused() -> None:
    with pytest.raises(InvalidTransition, match="already at the broker as B-1"):
        apply(order_in(S.ACCEPTED), ev.Placed("B-2"))
    same = order_in(S.ACCEPTED)
    assert apply(same, ev.Placed("B-1")) is same


def test_an_order_with_fills_cannot_be_rejected() -> None:
    pending = apply(order_in(S.PARTIALLY_FILLED), ev.CancelRequested())
    with pytest.raises(InvalidTransition, match="10 of it is already filled"):
        apply(pending, ev.Rejected("refused"))


# --- fills ---------------------------------------------------------------------------------


def working(quantity: str = "100", status: OrderStatus = S.ACCEPTED) -> Order:
    return order_in(status, quantity)


def test_partial_fill_sets_filled_quantity_price_and_partially_filled() -> None:
    order = apply(working(), fill("T-1", "40", "10.50"))
    assert (order.filled_quantity, order.avg_fill_price) == (Decimal(40), Decimal("10.50"))
    assert order.status is S.PARTIALLY_FILLED
    assert order.leaves == Decimal(60)


def test_fills_that_complete_the_order_give_filled_and_the_volume_weighted_price() -> None:
    order = apply(working(), fill("T-1", "40", "10"))
    order = apply(order, fill("T-2", "35", "11"))
    order = apply(order, fill("T-3", "25", "12"))
    # (40*10 + 35*11 + 25*12) / 100 = 1085 / 100
    assert order.avg_fill_price == Decimal("10.85")
    assert (order.filled_quantity, order.status) == (Decimal(100), S.FILLED)
    assert order.leaves == 0


def test_single_full_fill_straight_from_submitted_is_filled() -> None:
    order = apply(working("5", S.SUBMITTED), fill("T-1", "5", "187.25"))
    assert (order.status, order.avg_fill_price) == (S.FILLED, Decimal("187.25"))


def test_average_fill_price_rounds_half_to_even_at_eight_places() -> None:
    up = apply(apply(working("2"), fill("a", "1", "1.00000001")), fill("b", "1", "1.00000002"))
    down = apply(apply(working("2"), fill("a", "1", "1.00000002")), fill("b", "1", "1.00000003"))
    assert up.avg_fill_price == Decimal("1.00000002")  # 1.000000015
    assert down.avg_fill_price == Decimal("1.00000002")  # 1.000000025


def test_the_average_is_one_rounding_of_the_exact_notional() -> None:
    order = working("3")
    for trade_id, price in (("a", "1.00000001"), ("b", "1.00000001"), ("c", "1.00000002")):
        order = apply(order, fill(trade_id, "1", price))
    # 3.00000004 / 3 = 1.0000000133…; rounding each step's average would give 1.00000002.
    assert order.avg_fill_price == Decimal("1.00000001")


def test_fractional_quantities_fill_exactly() -> None:
    order = working("0.3")
    for trade_id in ("a", "b", "c"):
        order = apply(order, fill(trade_id, "0.1", "100"))
    assert (order.status, order.leaves) == (S.FILLED, Decimal(0))


def test_a_repeated_trade_id_changes_nothing_even_past_half_filled() -> None:
    order = apply(working(), fill("T-1", "60"))
    assert apply(order, fill("T-1", "60")) is order
    done = apply(order, fill("T-2", "40"))
    assert apply(done, fill("T-2", "40")) is done


def test_overfill_raises_and_names_the_unfilled_quantity() -> None:
    order = apply(working(), fill("T-1", "90"))
    with pytest.raises(OverFill) as caught:
        apply(order, fill("T-2", "11"))
    assert (caught.value.code, caught.value.kind) == ("overfill", "conflict")
    assert caught.value.details["field"] == "quantity"
    assert caught.value.details["leaves_quantity"] == "10"
    assert "exceeds the unfilled quantity 10" in caught.value.message


@pytest.mark.parametrize("terminal", [S.REJECTED, S.FILLED])
def test_a_new_fill_on_a_rejected_or_filled_order_raises(terminal: OrderStatus) -> None:
    with pytest.raises(InvalidTransition, match=f"already {terminal.value}"):
        apply(order_in(terminal), fill("T-9", "1"))


@pytest.mark.parametrize("terminal", [S.CANCELED, S.EXPIRED])
def test_late_fill_after_cancel_or_expiry_is_booked_and_the_status_stays(
        terminal: OrderStatus) -> None:
    done = order_in(terminal, filled_quantity=Decimal(40), filled_notional=Decimal(400),
                    avg_fill_price=Decimal(10))
    after = apply(done, fill("T-1", "10", "13"))
    assert after.status is terminal
    assert (after.filled_quantity, after.avg_fill_price) == (Decimal(50), Decimal("10.6"))


def test_fill_before_submission_raises_invalid_transition() -> None:
    with pytest.raises(InvalidTransition, match="cannot take Filled while PENDING_NEW"):
        apply(new_order(), fill("T-1", "1"))


@pytest.mark.parametrize(
    ("qty", "price", "field", "message"),
    [
        ("0", "10", "quantity", "fill quantity must be positive, was 0"),
        ("-5", "10", "quantity", "fill quantity must be positive, was -5"),
        ("1", "0", "price", "fill price must be positive, was 0"),
        ("1", "-1.5", "price", "fill price must be positive, was -1.5"),
    ],
)
def test_fill_with_non_positive_quantity_or_price_is_refused(
    qty: str, price: str, field: str, message: str
) -> None:
    with pytest.raises(InvalidOrder) as caught:
        apply(working(), fill("T-1", qty, price))
    assert caught.value.message == message
    assert caught.value.details == {"field": field}


def test_fill_refuses_float_quantity_and_price() -> None:
    with pytest.raises(TypeError, match="quantity must be a Decimal, was float"):
        apply(working(), replace(fill("T-1", "1"), quantity=1.0))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="price must be a Decimal, was float"):
        apply(working(), replace(fill("T-1", "1"), price=10.1))  # type: ignore[arg-type]


def test_an_order_refuses_inconsistent_quantities() -> None:
    with pytest.raises(ValueError, match="quantity must be positive, was 0"):
        new_order("0")
    with pytest.raises(ValueError, match="filled_quantity must be between 0 and the quantity 10"):
        new_order("10", filled_quantity=Decimal(11))
    with pytest.raises(TypeError, match="filled_quantity must be a Decimal, was float"):
        new_order("10", filled_quantity=0.0)


# --- reservations --------------------------------------------------------------------------


def test_fills_use_up_the_cash_reservation_and_the_end_frees_the_rest() -> None:
    order = order_in(S.ACCEPTED, reserved_cash=Decimal(1000))
    part = apply(order, fill("T-1", "40"))
    assert part.reserved_cash == Decimal(600)
    assert apply(part, ev.Canceled()).reserved_cash == 0
    assert apply(part, fill("T-2", "60")).reserved_cash == 0


def test_a_sell_releases_reserved_shares_as_it_fills() -> None:
    order = order_in(S.ACCEPTED, reserved_quantity=Decimal(100))
    part = apply(order, fill("T-1", "40"))
    assert part.reserved_quantity == Decimal(60)
    assert apply(part, ev.Expired()).reserved_quantity == 0
