"""Amounts are bounded before SQL sees them: NUMERIC(24,8) holds 16 integer digits, 8 places."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.enums import OrderType, Side, TimeInForce
from shared.domain.errors import InvalidOrder
from shared.domain.risk import Instrument, OrderRequest, reservation, validate_order
from shared.domain.values import (
    MAX_NOTIONAL,
    MAX_PRICE,
    MAX_QUANTITY,
    check_amount,
)

AAPL = Instrument("AAPL", "USD", tick_size=Decimal("0.01"), lot_size=Decimal(1))


def _order(order_type: OrderType = OrderType.LIMIT, quantity: str = "10",
           price: str | None = "100", stop_price: str | None = None) -> OrderRequest:
    return OrderRequest("AAPL", Side.BUY, order_type, Decimal(quantity),
                        Decimal(price) if price else None,
                        Decimal(stop_price) if stop_price else None, TimeInForce.DAY)


def test_the_bounds_fit_the_numeric_columns() -> None:
    column_limit = Decimal(10) ** 16  # NUMERIC(24,8): 24 - 8 integer digits
    assert MAX_QUANTITY * MAX_PRICE > MAX_NOTIONAL  # so the notional needs its own bound
    assert MAX_NOTIONAL * 1000 < column_limit  # a thousand of the largest orders still fit


@pytest.mark.parametrize(
    ("value", "message"),
    [("1e30", "quantity must be at most 1000000000, was 1E+30"),
     ("-1e30", "quantity must be at least -1000000000, was -1E+30"),
     ("1" + "0" * 5000, "quantity must be at most 1000000000, was 1.00000E+5000"),
     ("1e-999999999", "quantity must have at most 8 decimal places, was 1E-999999999"),
     ("1.000000001", "quantity must have at most 8 decimal places, was 1.000000001"),
     ("NaN", "quantity must be a finite number, was NaN")],
)
def test_check_amount_refuses_naming_the_field_and_the_bound(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("+", r"\+").replace(".", r"\.")):
        check_amount(Decimal(value), field="quantity", maximum=MAX_QUANTITY)


@pytest.mark.parametrize("value", ["1000000000", "0.00000001", "1.500000000000", "-5", "7E+3"])
def test_check_amount_keeps_values_in_range_exactly(value: str) -> None:
    assert check_amount(Decimal(value), field="quantity", maximum=MAX_QUANTITY) == Decimal(value)


@pytest.mark.parametrize(
    ("order", "field"),
    [(_order(quantity="1e16"), "quantity"),
     (_order(price="1e20"), "price"),
     (_order(OrderType.STOP_LIMIT, stop_price="1e20"), "stop_price"),
     (_order(quantity="1e-999999999"), "quantity"),
     (_order(quantity="100000000", price="1000000000"), "quantity")],  # value 1e17
)
def test_validate_order_refuses_amounts_beyond_the_columns(order: OrderRequest,
                                                           field: str) -> None:
    with pytest.raises(InvalidOrder) as caught:
        validate_order(order, AAPL)
    assert caught.value.details["field"] == field


def test_a_market_reservation_beyond_the_cash_columns_is_refused_naming_quantity() -> None:
    order = _order(OrderType.MARKET, quantity="100000000", price=None)
    with pytest.raises(InvalidOrder, match=r"quantity × ask × 1.05 must be at most 1000000000000"):
        reservation(order, reference_price=Decimal("1000000"), cushion=Decimal("0.05"))
    assert reservation(order, Decimal("100"), Decimal("0.05")) == Decimal("10500000000.0000")
