"""The order status table and fill accounting on an order's execution state."""

from decimal import Decimal

import pytest

from shared.domain.enums import OrderStatus
from shared.domain.errors import InvalidOrder, InvalidTransition, OverFill
from shared.domain.orders import (
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    TRANSITIONS,
    Execution,
    apply_fill,
    can_transition,
    is_terminal,
    leaves,
    transition,
)

S = OrderStatus

# Written out by hand from the product's lifecycle, on purpose not derived from TRANSITIONS.
ALLOWED = [
    (S.PENDING_NEW, S.SUBMITTED),
    (S.PENDING_NEW, S.REJECTED),
    (S.PENDING_NEW, S.CANCELED),
    (S.SUBMITTED, S.ACCEPTED),
    (S.SUBMITTED, S.PARTIALLY_FILLED),
    (S.SUBMITTED, S.FILLED),
    (S.SUBMITTED, S.REJECTED),
    (S.SUBMITTED, S.PENDING_CANCEL),
    (S.SUBMITTED, S.CANCELED),
    (S.SUBMITTED, S.EXPIRED),
    (S.ACCEPTED, S.PARTIALLY_FILLED),
    (S.ACCEPTED, S.FILLED),
    (S.ACCEPTED, S.PENDING_CANCEL),
    (S.ACCEPTED, S.CANCELED),
    (S.ACCEPTED, S.EXPIRED),
    (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
    (S.PARTIALLY_FILLED, S.FILLED),
    (S.PARTIALLY_FILLED, S.PENDING_CANCEL),
    (S.PARTIALLY_FILLED, S.CANCELED),
    (S.PARTIALLY_FILLED, S.EXPIRED),
    (S.PENDING_CANCEL, S.PENDING_CANCEL),
    (S.PENDING_CANCEL, S.ACCEPTED),
    (S.PENDING_CANCEL, S.PARTIALLY_FILLED),
    (S.PENDING_CANCEL, S.FILLED),
    (S.PENDING_CANCEL, S.CANCELED),
    (S.PENDING_CANCEL, S.EXPIRED),
]

FORBIDDEN_SAMPLE = [
    (S.PENDING_NEW, S.ACCEPTED),  # must be submitted first
    (S.PENDING_NEW, S.FILLED),
    (S.PENDING_NEW, S.PENDING_CANCEL),
    (S.PENDING_NEW, S.EXPIRED),
    (S.PENDING_NEW, S.PENDING_NEW),
    (S.SUBMITTED, S.PENDING_NEW),
    (S.SUBMITTED, S.SUBMITTED),
    (S.ACCEPTED, S.SUBMITTED),
    (S.ACCEPTED, S.REJECTED),  # the broker already accepted it
    (S.ACCEPTED, S.ACCEPTED),
    (S.PARTIALLY_FILLED, S.ACCEPTED),  # fills never regress
    (S.PARTIALLY_FILLED, S.REJECTED),
    (S.PENDING_CANCEL, S.REJECTED),
    (S.PENDING_CANCEL, S.SUBMITTED),
    (S.FILLED, S.PARTIALLY_FILLED),
    (S.CANCELED, S.FILLED),
    (S.REJECTED, S.SUBMITTED),
    (S.EXPIRED, S.ACCEPTED),
]

TERMINAL = [S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED]


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_move_returns_the_new_status(current: OrderStatus, target: OrderStatus) -> None:
    assert can_transition(current, target)
    assert transition(current, target) is target


def test_table_allows_exactly_the_listed_moves_and_nothing_else() -> None:
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == set(ALLOWED)
    assert set(TRANSITIONS) == set(OrderStatus)


@pytest.mark.parametrize(("current", "target"), FORBIDDEN_SAMPLE)
def test_forbidden_move_raises_invalid_transition_naming_both_statuses(
    current: OrderStatus, target: OrderStatus
) -> None:
    assert not can_transition(current, target)
    with pytest.raises(InvalidTransition) as caught:
        transition(current, target)
    error = caught.value
    assert error.code == "invalid_transition"
    assert error.kind == "conflict"
    assert error.details == {
        "field": "status",
        "from_status": current.value,
        "to_status": target.value,
    }
    assert f"from {current.value} to {target.value}" in error.message


@pytest.mark.parametrize("terminal", TERMINAL)
@pytest.mark.parametrize("target", list(OrderStatus))
def test_terminal_status_is_absorbing(terminal: OrderStatus, target: OrderStatus) -> None:
    assert is_terminal(terminal)
    with pytest.raises(InvalidTransition, match="it is final"):
        transition(terminal, target)


def test_open_and_terminal_statuses_partition_all_statuses() -> None:
    assert set(TERMINAL) == TERMINAL_STATUSES
    assert {S.PENDING_NEW, S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL} == (
        OPEN_STATUSES
    )
    assert not any(is_terminal(s) for s in OPEN_STATUSES)


def test_status_values_equal_their_names_for_storage_and_json() -> None:
    assert [s.value for s in OrderStatus] == [s.name for s in OrderStatus]


# --- fills -----------------------------------------------------------------------------------


def working(quantity: str = "100", status: OrderStatus = S.ACCEPTED) -> Execution:
    return Execution(Decimal(quantity), Decimal(0), None, status)


def test_partial_fill_sets_filled_quantity_price_and_partially_filled() -> None:
    state = apply_fill(working(), Decimal("40"), Decimal("10.50"))
    assert state.filled_quantity == Decimal("40")
    assert state.avg_fill_price == Decimal("10.50")
    assert state.status is S.PARTIALLY_FILLED
    assert leaves(state) == Decimal("60")


def test_fills_that_complete_the_order_give_filled_and_the_volume_weighted_price() -> None:
    state = apply_fill(working(), Decimal("40"), Decimal("10"))
    state = apply_fill(state, Decimal("35"), Decimal("11"))
    state = apply_fill(state, Decimal("25"), Decimal("12"))
    # (40*10 + 35*11 + 25*12) / 100 = 1085 / 100
    assert state.avg_fill_price == Decimal("10.85")
    assert state.filled_quantity == Decimal("100")
    assert state.status is S.FILLED
    assert leaves(state) == Decimal(0)


def test_single_full_fill_straight_from_submitted_is_filled() -> None:
    state = apply_fill(working("5", S.SUBMITTED), Decimal("5"), Decimal("187.25"))
    assert (state.status, state.avg_fill_price) == (S.FILLED, Decimal("187.25"))


def test_average_fill_price_rounds_half_to_even_at_eight_places() -> None:
    up = apply_fill(working("2"), Decimal("1"), Decimal("1.00000001"))
    up = apply_fill(up, Decimal("1"), Decimal("1.00000002"))  # 1.000000015
    down = apply_fill(working("2"), Decimal("1"), Decimal("1.00000002"))
    down = apply_fill(down, Decimal("1"), Decimal("1.00000003"))  # 1.000000025
    assert up.avg_fill_price == Decimal("1.00000002")
    assert down.avg_fill_price == Decimal("1.00000002")


def test_fractional_quantities_fill_exactly() -> None:
    state = apply_fill(working("0.3"), Decimal("0.1"), Decimal("100"))
    state = apply_fill(state, Decimal("0.1"), Decimal("100"))
    state = apply_fill(state, Decimal("0.1"), Decimal("100"))
    assert state.status is S.FILLED
    assert leaves(state) == 0


def test_fill_during_pending_cancel_is_applied() -> None:
    state = apply_fill(working(status=S.PENDING_CANCEL), Decimal("30"), Decimal("9"))
    assert (state.status, state.filled_quantity) == (S.PARTIALLY_FILLED, Decimal("30"))
    state = apply_fill(working(status=S.PENDING_CANCEL), Decimal("100"), Decimal("9"))
    assert state.status is S.FILLED


def test_overfill_raises_and_names_the_unfilled_quantity() -> None:
    state = apply_fill(working(), Decimal("90"), Decimal("10"))
    with pytest.raises(OverFill) as caught:
        apply_fill(state, Decimal("11"), Decimal("10"))
    assert caught.value.code == "overfill"
    assert caught.value.kind == "conflict"
    assert caught.value.details["field"] == "quantity"
    assert caught.value.details["leaves_quantity"] == "10"
    assert "exceeds the unfilled quantity 10" in caught.value.message


@pytest.mark.parametrize("terminal", [S.REJECTED])
def test_fill_on_rejected_order_raises_invalid_transition(terminal: OrderStatus) -> None:
    done = Execution(Decimal("100"), Decimal("40"), Decimal("10"), terminal)
    with pytest.raises(InvalidTransition, match=f"already {terminal.value}"):
        apply_fill(done, Decimal("1"), Decimal("10"))


def test_fill_on_filled_order_is_an_overfill() -> None:
    done = Execution(Decimal("100"), Decimal("100"), Decimal("10"), S.FILLED)
    with pytest.raises(InvalidTransition, match="already FILLED"):
        apply_fill(done, Decimal("1"), Decimal("10"))


@pytest.mark.parametrize("terminal", [S.CANCELED, S.EXPIRED])
def test_late_fill_after_cancel_or_expiry_is_booked_and_the_status_stays(
        terminal: OrderStatus) -> None:
    done = Execution(Decimal("100"), Decimal("40"), Decimal("10"), terminal)
    after = apply_fill(done, Decimal("10"), Decimal("13"))
    assert after.status is terminal
    assert after.filled_quantity == Decimal("50")
    assert after.avg_fill_price == Decimal("10.6")


def test_fill_before_submission_raises_invalid_transition() -> None:
    with pytest.raises(InvalidTransition, match="from PENDING_NEW to PARTIALLY_FILLED"):
        apply_fill(working(status=S.PENDING_NEW), Decimal("1"), Decimal("10"))


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
        apply_fill(working(), Decimal(qty), Decimal(price))
    assert caught.value.message == message
    assert caught.value.details == {"field": field}


def test_fill_refuses_float_quantity_and_price() -> None:
    with pytest.raises(TypeError, match="quantity must be a Decimal, was float"):
        apply_fill(working(), 1.0, Decimal("10"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="price must be a Decimal, was float"):
        apply_fill(working(), Decimal("1"), 10.1)  # type: ignore[arg-type]


def test_execution_state_refuses_inconsistent_quantities() -> None:
    with pytest.raises(ValueError, match="quantity must be positive, was 0"):
        Execution(Decimal(0), Decimal(0), None, S.PENDING_NEW)
    with pytest.raises(ValueError, match="filled_quantity must be between 0 and the quantity 10"):
        Execution(Decimal(10), Decimal(11), Decimal(1), S.ACCEPTED)
    with pytest.raises(TypeError, match="filled_quantity must be a Decimal, was float"):
        Execution(Decimal(10), 0.0, None, S.ACCEPTED)  # type: ignore[arg-type]
