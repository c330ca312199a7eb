"""Paper brokerage: published schedules worked by hand; fills add up to the order's fee."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.enums import OrderType, Side, TimeInForce
from shared.domain.fees import PROFILES, FeeSchedule, fill_fee, order_fee
from shared.domain.risk import OrderRequest, reservation

IBKR = PROFILES["ibkr_fixed"]
ZERODHA = PROFILES["zerodha_intraday"]


@pytest.mark.parametrize(("schedule", "quantity", "price", "fee"), [
    (IBKR, "1000", "25", "5.00"),  # 0.005 × 1000
    (IBKR, "100", "25", "1.00"),  # 0.50 by the share: the minimum applies
    (IBKR, "300", "0.50", "1.50"),  # 0.005 × 300, exactly the cap of 1% of 150
    (IBKR, "10", "1", "0.10"),  # the 1.00 minimum is capped at 1% of the 10 traded
    (ZERODHA, "100", "500", "15.00"),  # 0.03% of INR 50,000
    (ZERODHA, "200", "500", "20.00"),  # 0.03% of INR 1,00,000 is 30: INR 20 at most
    (PROFILES["none"], "1000", "25", "0"),
])
def test_published_schedules_charge_what_their_brokers_publish(
        schedule: FeeSchedule, quantity: str, price: str, fee: str) -> None:
    q, p = Decimal(quantity), Decimal(price)
    assert order_fee(schedule, q, q * p) == Decimal(fee)


def test_the_first_fill_carries_the_minimum_and_later_fills_what_they_add() -> None:
    first = fill_fee(IBKR, filled_before=Decimal(0), notional_before=Decimal(0),
                     quantity=Decimal(100), price=Decimal(25))
    second = fill_fee(IBKR, filled_before=Decimal(100), notional_before=Decimal(2500),
                      quantity=Decimal(300), price=Decimal(25))
    assert (first, second) == (Decimal("1.00"), Decimal("1.00"))  # 2.00 for 400 shares


def test_a_per_order_fee_is_charged_once() -> None:
    flat = FeeSchedule(per_order=Decimal("4.95"))
    fees = [fill_fee(flat, filled_before=Decimal(i * 10), notional_before=Decimal(i * 100),
                     quantity=Decimal(10), price=Decimal(10)) for i in range(3)]
    assert fees == [Decimal("4.95"), Decimal(0), Decimal(0)]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([IBKR, ZERODHA, FeeSchedule(per_order=Decimal(1), bps=Decimal(5))]),
       st.lists(st.tuples(st.integers(1, 500), st.integers(1, 10_000)), min_size=1,
                max_size=8))
def test_the_fills_of_an_order_always_add_up_to_its_fee(
        schedule: FeeSchedule, fills: list[tuple[int, int]]) -> None:
    filled, notional, charged = Decimal(0), Decimal(0), Decimal(0)
    for quantity, cents in fills:
        price = Decimal(cents) / 100
        charged += fill_fee(schedule, filled_before=filled, notional_before=notional,
                            quantity=Decimal(quantity), price=price)
        filled += quantity
        notional += quantity * price
        assert charged == order_fee(schedule, filled, notional)


def test_a_buy_reserves_its_largest_possible_fee_too() -> None:
    req = OrderRequest("AAPL", Side.BUY, OrderType.LIMIT, Decimal(1000), Decimal(25), None,
                       TimeInForce.DAY)
    assert reservation(req, None, Decimal("0.05"), IBKR) == Decimal("25005.0000")
    assert reservation(req, None, Decimal("0.05")) == Decimal("25000.0000")


def test_a_negative_or_float_fee_is_refused() -> None:
    with pytest.raises(ValueError, match="fee per_share must be a Decimal of at least 0"):
        FeeSchedule(per_share=Decimal("-0.01"))
    with pytest.raises(ValueError, match="fee bps must be a Decimal"):
        FeeSchedule(bps=1.5)  # type: ignore[arg-type]
