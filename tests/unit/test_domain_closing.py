"""The order that closes a position: side, quantity, rounding to lots, refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.closing import Close, Held, close_order, closing_product
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


# --- which product a close trades at a broker with margin products --------------------------


@pytest.mark.parametrize(("held", "named", "expected"), [
    (Held(D(10), D(0)), None, (None, D(10))),  # all delivery: the broker's default product
    (Held(D(10), D(10)), None, ("MIS", D(10))),  # bought intraday today: squared off as MIS
    (Held(D(-5), D(-5)), None, ("MIS", D(5))),  # an intraday short is bought back as MIS
    (Held(D(10), D(4)), "MIS", ("MIS", D(4))),  # only what is intraday
    (Held(D(10), D(4)), "CNC", ("CNC", D(6))),  # only what is delivery
    (Held(D(3), D(8)), None, ("MIS", D(3))),  # intraday bought, then some delivery sold
    (Held(D(10), D(-2)), None, (None, D(10))),  # an intraday sell against holdings
])
def test_a_close_trades_the_product_that_holds_the_position(
        held: Held, named: str | None, expected: tuple[str | None, Decimal]) -> None:
    assert closing_product(held, named) == expected


def test_a_position_held_both_intraday_and_as_delivery_needs_the_product_named() -> None:
    with pytest.raises(InvalidOrder) as caught:
        closing_product(Held(D(10), D(4)), None)
    assert (caught.value.code, caught.value.details) == (
        "product_required", {"field": "product", "MIS": "4", "delivery": "6"})


@pytest.mark.parametrize(("held", "named"), [(Held(D(10), D(0)), "MIS"),
                                             (Held(D(10), D(10)), "CNC")])
def test_naming_a_product_that_holds_none_of_the_position_is_refused(
        held: Held, named: str) -> None:
    with pytest.raises(InvalidOrder) as caught:
        closing_product(held, named)
    assert caught.value.code == "product_not_held"
