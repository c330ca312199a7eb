"""What an admin's deposit or withdrawal may leave in a paper account (shared.domain.cash)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.cash import MAX_PAPER_CASH, CashAdjustmentRefused, cash_after
from shared.domain.errors import InsufficientBuyingPower

D = Decimal
amounts = st.decimals(min_value=D("-1e12"), max_value=D("1e12"), places=8,
                      allow_nan=False, allow_infinity=False)
balances = st.decimals(min_value=D(0), max_value=D("1e13"), places=8,
                       allow_nan=False, allow_infinity=False)


def test_a_withdrawal_may_take_exactly_what_is_not_reserved() -> None:
    assert cash_after(D(1000), D(400), D(-600)) == D(400)


def test_one_unit_more_is_refused_with_the_figures() -> None:
    with pytest.raises(InsufficientBuyingPower) as refused:
        cash_after(D(1000), D(400), D("-600.00000001"))
    assert refused.value.details == {
        "field": "amount", "amount": "-600.00000001", "cash": "1000", "reserved_cash": "400",
        "withdrawable": "600"}
    assert "at most 600 can be withdrawn" in refused.value.message


def test_a_deposit_may_leave_cash_that_fees_took_below_the_reservations() -> None:
    assert cash_after(D(-5), D(100), D(50)) == D(45)


def test_zero_and_a_balance_past_the_cap_are_refused() -> None:
    with pytest.raises(CashAdjustmentRefused) as zero:
        cash_after(D(10), D(0), D(0))
    with pytest.raises(CashAdjustmentRefused) as cap:
        cash_after(MAX_PAPER_CASH, D(0), D("0.00000001"))
    assert (zero.value.details["field"], cap.value.code) == ("amount", "cash_limit_exceeded")


@given(cash=balances, reserved=balances, amount=amounts)
def test_a_withdrawal_never_leaves_less_than_the_reservations(
        cash: Decimal, reserved: Decimal, amount: Decimal) -> None:
    try:
        after = cash_after(cash, reserved, amount)
    except (InsufficientBuyingPower, CashAdjustmentRefused):
        return
    assert after == cash + amount
    assert amount > 0 or after >= reserved
    assert after <= MAX_PAPER_CASH
