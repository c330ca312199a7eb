"""The error family the API maps to HTTP statuses."""

import pickle

import pytest

from shared.domain.errors import (
    Conflict,
    DomainError,
    InsufficientBuyingPower,
    InsufficientPosition,
    InvalidOrder,
    InvalidTransition,
    NotFound,
    OverFill,
    Unavailable,
)


@pytest.mark.parametrize(
    ("error_type", "kind", "code"),
    [
        (InvalidOrder, "invalid", "invalid_order"),
        (InsufficientBuyingPower, "invalid", "insufficient_buying_power"),
        (InsufficientPosition, "invalid", "insufficient_position"),
        (NotFound, "not_found", "not_found"),
        (Conflict, "conflict", "conflict"),
        (InvalidTransition, "conflict", "invalid_transition"),
        (OverFill, "conflict", "overfill"),
        (Unavailable, "unavailable", "unavailable"),
    ],
)
def test_each_error_carries_the_kind_the_api_maps_and_its_code(
    error_type: type[DomainError], kind: str, code: str
) -> None:
    error = error_type("something went wrong")
    assert isinstance(error, DomainError)
    assert (error.kind, error.code, error.details) == (kind, code, {})
    assert str(error) == error.message == "something went wrong"


def test_code_and_details_can_be_given_explicitly() -> None:
    error = InvalidOrder("quantity must be positive, was -5", details={"field": "quantity"})
    assert error.details == {"field": "quantity"}
    assert InvalidOrder("x", code="invalid_quantity").code == "invalid_quantity"


def test_errors_survive_pickling_with_code_and_details() -> None:
    error = OverFill("too much", details={"field": "quantity", "leaves_quantity": "10"})
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is OverFill
    assert (copy.message, copy.code, copy.details) == (error.message, "overfill", error.details)
