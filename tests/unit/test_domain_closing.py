"""The order that closes a position: side, quantity, rounding to lots, refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.closing import Close, close_order
from shared.domain.enums import Side
from shared.domain.errors import InvalidOrder, NotFound

D = Decimal


@pytest.mark.parametrize(("position", "amount", "expected"), [
    (D(10), {}, Close(Side.SELL, D(10))),
    (D(-10), {}, Close(Side.BUY, D(10))),  # a short is bought back
    (D(10), {"percentage": D(100)}, Close(Side.SELL, D(10))),
    (D(10), {"percentage": D(33)}, Close(Side.SELL, D(3))),  # 3.3 rounds down
    (D(-7), {"percentage": D("50")}, Close(Side.BUY, D(3))),
    (D(10), {"quantity": D(4)}, Close(Side.SELL, D(4))),
    (D(10), {"quantity": D(10)}, Close(Side.SELL, D(10))),
])
def test_close_sells_a_long_and_buys_back_a_short(position: Decimal, amount: dict[str, Decimal],
                                                  expected: Close) -> None:
    assert close_order(position, symbol="AAPL", lot_size=D(1), **amount) == expected


def test_a_percentage_closes_whole_lots_only() -> None:
    closed = close_order(D(75), symbol="NIFTY", lot_size=D(25), percentage=D(60))

    assert closed == Close(Side.SELL, D(25))  # 45 is one lot and some: one lot


@pytest.mark.parametrize(("amount", "field"), [
    ({"percentage": D(5)}, "percentage"),  # half a share
    ({"percentage": D(0)}, "percentage"),
    ({"percentage": D("100.1")}, "percentage"),
    ({"percentage": D(-5)}, "percentage"),
    ({"percentage": D(50), "quantity": D(1)}, "percentage"),
    ({"quantity": D(11)}, "quantity"),
    ({"quantity": D(0)}, "quantity"),
])
def test_an_amount_that_cannot_be_closed_is_refused_naming_the_field(
        amount: dict[str, Decimal], field: str) -> None:
    with pytest.raises(InvalidOrder) as refused:
        close_order(D(10), symbol="AAPL", lot_size=D(1), **amount)

    assert refused.value.details["field"] == field


def test_a_flat_position_has_nothing_to_close() -> None:
    with pytest.raises(NotFound) as missing:
        close_order(D(0), symbol="AAPL", lot_size=D(1))

    assert missing.value.code == "position_not_found"
