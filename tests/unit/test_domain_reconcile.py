"""Broker-reported statuses move our order only the way the lifecycle table allows."""

import pytest

from shared.domain.enums import OrderStatus
from shared.domain.reconcile import StatusDecision, decide_status

S = OrderStatus


@pytest.mark.parametrize(("ours", "theirs", "target"), [
    (S.SUBMITTED, S.ACCEPTED, S.ACCEPTED),
    (S.SUBMITTED, S.REJECTED, S.REJECTED),
    (S.ACCEPTED, S.CANCELED, S.CANCELED),
    (S.PARTIALLY_FILLED, S.CANCELED, S.CANCELED),
    (S.PENDING_CANCEL, S.CANCELED, S.CANCELED),
    (S.ACCEPTED, S.EXPIRED, S.EXPIRED),
    (S.ACCEPTED, S.PENDING_CANCEL, S.PENDING_CANCEL),  # canceled from the broker's own app
])
def test_the_broker_moves_a_working_order(ours: OrderStatus, theirs: OrderStatus,
                                          target: OrderStatus) -> None:
    assert decide_status(ours, theirs) == StatusDecision(target=target)


@pytest.mark.parametrize(("ours", "theirs"), [
    (S.ACCEPTED, S.ACCEPTED),
    (S.ACCEPTED, S.SUBMITTED),  # a stale read never moves an order back
    (S.PARTIALLY_FILLED, S.ACCEPTED),
    (S.PENDING_CANCEL, S.ACCEPTED),  # the cancel handler decides a refused cancel
    (S.ACCEPTED, S.FILLED),  # quantities come from fills, never from a status string
    (S.ACCEPTED, S.PARTIALLY_FILLED),
    (S.FILLED, S.FILLED),
    (S.CANCELED, S.FILLED),  # a late fill is booked through the fill path
])
def test_some_reports_change_nothing(ours: OrderStatus, theirs: OrderStatus) -> None:
    assert decide_status(ours, theirs) == StatusDecision()


def test_a_final_order_never_regresses_and_a_contradiction_is_reported() -> None:
    decision = decide_status(S.FILLED, S.CANCELED)
    assert decision.target is None
    assert decision.discrepancy == "the order is FILLED here but CANCELED at the broker"


def test_a_move_the_table_forbids_is_a_discrepancy_not_a_change() -> None:
    decision = decide_status(S.PENDING_NEW, S.CANCELED)
    assert decision == StatusDecision(target=S.CANCELED)
    forbidden = decide_status(S.PENDING_NEW, S.EXPIRED)
    assert forbidden.target is None
    assert forbidden.discrepancy is not None
