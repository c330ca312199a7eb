"""Decimal conversion and rounding at named boundaries."""

from decimal import ROUND_DOWN, ROUND_UP, Decimal

import pytest

from shared.domain.values import (
    PRICE_PLACES,
    QTY_PLACES,
    is_multiple,
    quantize_money,
    quantize_price,
    to_decimal,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.1", Decimal("0.1")), (" 42.50 ", Decimal("42.50")), (7, Decimal(7)), (Decimal("3"), 3)],
)
def test_to_decimal_accepts_strings_integers_and_decimals_exactly(
    value: Decimal | str | int, expected: Decimal
) -> None:
    assert to_decimal(value) == expected


def test_decimal_sums_are_exact_where_floats_are_not() -> None:
    assert to_decimal("0.1") + to_decimal("0.1") + to_decimal("0.1") == to_decimal("0.3")


@pytest.mark.parametrize("value", [0.1, 1.0, True, None, [1]])
def test_to_decimal_refuses_floats_booleans_and_other_types(value: object) -> None:
    with pytest.raises(TypeError, match="quantity must be a Decimal, a decimal string or an int"):
        to_decimal(value, field="quantity")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "-inf", Decimal("NaN")])
def test_to_decimal_refuses_nan_and_infinity(value: str | Decimal) -> None:
    with pytest.raises(ValueError, match="price must be a finite number"):
        to_decimal(value, field="price")


@pytest.mark.parametrize("value", ["", "abc", "1,5", "1.2.3"])
def test_to_decimal_refuses_text_that_is_not_a_number(value: str) -> None:
    with pytest.raises(ValueError, match="price must be a number, was"):
        to_decimal(value, field="price")


def test_storage_scale_is_eight_places() -> None:
    assert PRICE_PLACES == QTY_PLACES == Decimal("0.00000001")


@pytest.mark.parametrize(
    ("price", "tick", "expected"),
    [
        ("101.23", "0.05", "101.25"),  # NSE tick
        ("101.225", "0.05", "101.20"),  # exactly half a tick: to the even multiple
        ("187.3349", "0.01", "187.33"),
        ("187.335", "0.01", "187.34"),
    ],
)
def test_quantize_price_rounds_to_the_nearest_tick_half_to_even(
    price: str, tick: str, expected: str
) -> None:
    assert quantize_price(Decimal(price), Decimal(tick)) == Decimal(expected)


def test_quantize_price_uses_the_rounding_mode_it_is_given() -> None:
    assert quantize_price(Decimal("101.21"), Decimal("0.05"), rounding=ROUND_UP) == Decimal(
        "101.25"
    )
    assert quantize_price(Decimal("101.24"), Decimal("0.05"), rounding=ROUND_DOWN) == Decimal(
        "101.20"
    )


def test_quantize_price_refuses_a_non_positive_tick() -> None:
    with pytest.raises(ValueError, match="tick size must be positive, was 0"):
        quantize_price(Decimal("1"), Decimal("0"))


def test_quantize_money_defaults_to_four_places_half_to_even() -> None:
    assert str(quantize_money(Decimal("2.00005"))) == "2.0000"
    assert str(quantize_money(Decimal("2.00015"))) == "2.0002"
    assert str(quantize_money(Decimal("2.00001"), rounding=ROUND_UP)) == "2.0001"
    assert str(quantize_money(Decimal("2.005"), Decimal("0.01"))) == "2.00"


def test_is_multiple_checks_tick_and_lot_sizes_exactly() -> None:
    assert is_multiple(Decimal("101.25"), Decimal("0.05"))
    assert not is_multiple(Decimal("101.26"), Decimal("0.05"))
    assert is_multiple(Decimal("0.3"), Decimal("0.1"))
