"""Pre-trade checks: every rejection names its field; reservations are rounded up."""

from dataclasses import replace
from decimal import Decimal

import pytest

from shared.domain.enums import OrderType, Side, TimeInForce
from shared.domain.errors import InsufficientBuyingPower, InsufficientPosition, InvalidOrder
from shared.domain.risk import (
    Instrument,
    OrderRequest,
    check_buying_power,
    check_free_position,
    reservation,
    validate_order,
)

AAPL = Instrument(symbol="AAPL", currency="USD", tick_size=Decimal("0.01"), lot_size=Decimal("1"))
CUSHION = Decimal("0.05")


def order(
    order_type: OrderType = OrderType.LIMIT,
    side: Side = Side.BUY,
    quantity: str = "10",
    price: str | None = "150.25",
    stop_price: str | None = None,
) -> OrderRequest:
    return OrderRequest(
        symbol="AAPL",
        side=side,
        order_type=order_type,
        quantity=Decimal(quantity),
        price=None if price is None else Decimal(price),
        stop_price=None if stop_price is None else Decimal(stop_price),
        time_in_force=TimeInForce.DAY,
    )


@pytest.mark.parametrize(
    "request_",
    [
        order(OrderType.MARKET, price=None),
        order(OrderType.MARKET, side=Side.SELL, price=None),
        order(OrderType.LIMIT, price="150.25"),
        order(OrderType.STOP, price=None, stop_price="149.00"),
        order(OrderType.STOP_LIMIT, price="149.50", stop_price="149.00"),
    ],
)
def test_well_formed_orders_pass(request_: OrderRequest) -> None:
    validate_order(request_, AAPL)


def rejected(request_: OrderRequest, instrument: Instrument | None = AAPL) -> InvalidOrder:
    with pytest.raises(InvalidOrder) as caught:
        validate_order(request_, instrument)
    assert caught.value.code == "invalid_order"
    assert caught.value.kind == "invalid"
    return caught.value


def test_unknown_symbol_is_rejected_on_symbol() -> None:
    error = rejected(replace(order(), symbol="NOPE"), instrument=None)
    assert error.message == "unknown symbol NOPE"
    assert error.details == {"field": "symbol", "value": "NOPE"}


@pytest.mark.parametrize("quantity", ["0", "-5"])
def test_non_positive_quantity_is_rejected_on_quantity(quantity: str) -> None:
    error = rejected(order(quantity=quantity))
    assert error.message == f"quantity must be positive, was {quantity}"
    assert error.details == {"field": "quantity", "value": quantity}


def test_nan_quantity_is_rejected_on_quantity() -> None:
    error = rejected(order(quantity="NaN"))
    assert error.message == "quantity must be a finite number, was NaN"
    assert error.details["field"] == "quantity"


def test_quantity_off_the_lot_size_is_rejected_on_quantity() -> None:
    error = rejected(order(quantity="1.5"))
    assert error.message == "quantity must be a multiple of the lot size 1, was 1.5"
    assert error.details["field"] == "quantity"


@pytest.mark.parametrize("order_type", [OrderType.LIMIT, OrderType.STOP_LIMIT])
def test_limit_orders_without_price_are_rejected_on_price(order_type: OrderType) -> None:
    error = rejected(order(order_type, price=None, stop_price="149.00"))
    assert error.message == f"price is required for a {order_type.value} order"
    assert error.details == {"field": "price"}


@pytest.mark.parametrize("order_type", [OrderType.STOP, OrderType.STOP_LIMIT])
def test_stop_orders_without_stop_price_are_rejected_on_stop_price(order_type: OrderType) -> None:
    price = "149.50" if order_type is OrderType.STOP_LIMIT else None
    error = rejected(order(order_type, price=price, stop_price=None))
    assert error.message == f"stop_price is required for a {order_type.value} order"
    assert error.details == {"field": "stop_price"}


@pytest.mark.parametrize("price", ["0", "-1.00"])
def test_non_positive_price_is_rejected_on_price(price: str) -> None:
    error = rejected(order(OrderType.LIMIT, price=price))
    assert error.message == f"price must be positive, was {price}"
    assert error.details["field"] == "price"


@pytest.mark.parametrize("stop_price", ["0", "-2"])
def test_non_positive_stop_price_is_rejected_on_stop_price(stop_price: str) -> None:
    error = rejected(order(OrderType.STOP, price=None, stop_price=stop_price))
    assert error.message == f"stop_price must be positive, was {stop_price}"
    assert error.details["field"] == "stop_price"


def test_price_off_the_tick_is_rejected_on_price() -> None:
    error = rejected(order(OrderType.LIMIT, price="150.255"))
    assert error.message == "price must be a multiple of the tick size 0.01, was 150.255"
    assert error.details == {"field": "price", "value": "150.255"}


def test_stop_price_off_the_tick_is_rejected_on_stop_price() -> None:
    error = rejected(order(OrderType.STOP, price=None, stop_price="149.001"))
    assert error.details == {"field": "stop_price", "value": "149.001"}


@pytest.mark.parametrize("order_type", [OrderType.MARKET, OrderType.STOP])
def test_price_on_market_and_stop_orders_is_rejected_as_must_be_omitted(
    order_type: OrderType,
) -> None:
    error = rejected(order(order_type, price="150.00", stop_price="149.00"))
    assert error.message == f"price must be omitted for a {order_type.value} order, was 150.00"
    assert error.details["field"] == "price"


@pytest.mark.parametrize("order_type", [OrderType.MARKET, OrderType.LIMIT])
def test_stop_price_on_market_and_limit_orders_is_rejected_as_must_be_omitted(
    order_type: OrderType,
) -> None:
    price = "150.00" if order_type is OrderType.LIMIT else None
    error = rejected(order(order_type, price=price, stop_price="149.00"))
    assert error.message == f"stop_price must be omitted for a {order_type.value} order, was 149.00"
    assert error.details["field"] == "stop_price"


def test_nse_tick_and_lot_sizes_are_honoured() -> None:
    nifty_future = Instrument("NIFTY", "INR", tick_size=Decimal("0.05"), lot_size=Decimal("75"))
    ok = replace(order(quantity="150", price="22450.35"), symbol="NIFTY")
    validate_order(ok, nifty_future)
    assert rejected(replace(ok, quantity=Decimal("100")), nifty_future).details["field"] == (
        "quantity"
    )
    assert rejected(replace(ok, price=Decimal("22450.32")), nifty_future).details["field"] == (
        "price"
    )


def test_order_request_refuses_float_amounts() -> None:
    with pytest.raises(TypeError, match="quantity must be a Decimal, was float"):
        replace(order(), quantity=10.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="price must be a Decimal, was float"):
        replace(order(), price=150.25)  # type: ignore[arg-type]


# --- reservation and buying power ------------------------------------------------------------


def test_limit_buy_reserves_price_times_quantity() -> None:
    assert str(reservation(order(quantity="10", price="150.25"), None, CUSHION)) == "1502.5000"


def test_stop_limit_buy_reserves_its_limit_price() -> None:
    request_ = order(OrderType.STOP_LIMIT, quantity="4", price="151.10", stop_price="150.00")
    assert reservation(request_, Decimal("149"), CUSHION) == Decimal("604.40")


def test_market_buy_reserves_the_quote_plus_the_cushion() -> None:
    request_ = order(OrderType.MARKET, quantity="10", price=None)
    assert reservation(request_, Decimal("100.00"), CUSHION) == Decimal("1050.00")


def test_stop_buy_reserves_the_stop_price_plus_the_cushion() -> None:
    request_ = order(OrderType.STOP, quantity="3", price=None, stop_price="101.00")
    assert reservation(request_, Decimal("99"), CUSHION) == Decimal("318.15")


@pytest.mark.parametrize("order_type", list(OrderType))
def test_sell_orders_reserve_no_cash(order_type: OrderType) -> None:
    request_ = order(order_type, side=Side.SELL, price="150.00", stop_price="149.00")
    assert reservation(request_, Decimal("150"), CUSHION) == 0


def test_reservation_rounds_up_to_four_places_so_it_always_covers_the_cost() -> None:
    request_ = order(quantity="3", price="0.33333")
    assert str(reservation(request_, None, CUSHION)) == "1.0000"  # 0.99999 rounded up
    request_ = order(OrderType.MARKET, quantity="7", price=None)
    # 123.457 * 1.05 * 7 = 907.40895
    assert str(reservation(request_, Decimal("123.457"), CUSHION)) == "907.4090"


def test_market_buy_without_a_quote_is_rejected_on_symbol() -> None:
    with pytest.raises(InvalidOrder) as caught:
        reservation(order(OrderType.MARKET, price=None), None, CUSHION)
    assert caught.value.message == "no quote for AAPL"
    assert caught.value.details["field"] == "symbol"


def test_buying_power_check_passes_when_available_covers_the_order_exactly() -> None:
    check_buying_power(Decimal("1502.5000"), Decimal("1502.50"))


def test_buying_power_check_rejects_with_required_and_available() -> None:
    with pytest.raises(InsufficientBuyingPower) as caught:
        check_buying_power(Decimal("1502.5000"), Decimal("1000.00"))
    error = caught.value
    assert (error.code, error.kind) == ("insufficient_buying_power", "invalid")
    assert error.details == {"field": "quantity", "required": "1502.5000", "available": "1000.00"}
    assert "insufficient buying power" in error.message


def test_selling_within_the_free_position_passes() -> None:
    check_free_position(Decimal("10"), Decimal("10"))


def test_selling_more_than_the_free_position_is_rejected_with_required_and_available() -> None:
    with pytest.raises(InsufficientPosition) as caught:
        check_free_position(Decimal("10"), Decimal("4"))
    error = caught.value
    assert (error.code, error.kind) == ("insufficient_position", "invalid")
    assert error.details == {"field": "quantity", "required": "10", "available": "4"}
