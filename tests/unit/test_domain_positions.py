"""Position and P&L arithmetic by the average-cost method."""

from decimal import ROUND_HALF_EVEN, Decimal
from functools import reduce

import pytest

from shared.domain.enums import Side
from shared.domain.errors import InvalidOrder
from shared.domain.positions import (
    Position,
    apply_fill,
    cash_delta,
    market_value,
    unrealized_pnl,
)

BUY, SELL = Side.BUY, Side.SELL
Fill = tuple[Side, str, str]


def fold(*fills: Fill, start: Position | None = None) -> Position:
    return reduce(
        lambda pos, f: apply_fill(pos, f[0], Decimal(f[1]), Decimal(f[2])),
        fills,
        start or Position.flat(),
    )


def pos(quantity: str, avg_price: str, realized_pnl: str) -> Position:
    return Position(Decimal(quantity), Decimal(avg_price), Decimal(realized_pnl))


def test_flat_position_has_nothing() -> None:
    flat = Position.flat()
    assert (flat.quantity, flat.avg_price, flat.realized_pnl) == (Decimal(0),) * 3
    assert flat.is_flat
    assert not flat.is_long
    assert not flat.is_short
    assert unrealized_pnl(flat, Decimal("123.45")) == 0
    assert market_value(flat, Decimal("123.45")) == 0


def test_first_buy_opens_long_at_the_fill_price() -> None:
    opened = fold((BUY, "10", "150.25"))
    assert opened == pos("10", "150.25", "0")
    assert opened.is_long


def test_adding_to_a_long_re_averages_the_cost() -> None:
    # (100*10 + 50*13) / 150 = 11
    assert fold((BUY, "100", "10"), (BUY, "50", "13")) == pos("150", "11", "0")


def test_partial_reduction_realizes_only_the_closed_part_and_keeps_the_average() -> None:
    reduced = fold((BUY, "100", "10"), (SELL, "30", "12"))
    assert reduced == pos("70", "10", "60")  # 30 * (12 - 10)
    reduced = fold((SELL, "20", "9"), start=reduced)
    assert reduced == pos("50", "10", "40")  # 60 + 20 * (9 - 10)


def test_closing_to_zero_keeps_realized_pnl_and_resets_the_average() -> None:
    closed = fold((BUY, "100", "10"), (SELL, "100", "12.5"))
    assert closed == pos("0", "0", "250")
    assert closed.is_flat


def test_close_and_reopen_starts_a_fresh_average_and_keeps_realized_pnl() -> None:
    reopened = fold((BUY, "100", "10"), (SELL, "100", "12"), (BUY, "50", "11"))
    assert reopened == pos("50", "11", "200")
    assert unrealized_pnl(reopened, Decimal("12")) == Decimal("50")


def test_sell_through_zero_flips_to_short_at_the_fill_price() -> None:
    flipped = fold((BUY, "100", "10"), (SELL, "150", "12"))
    assert flipped == pos("-50", "12", "200")  # the 100 closed realize 200; 50 open short at 12
    assert flipped.is_short


def test_buy_through_zero_flips_to_long_at_the_fill_price() -> None:
    flipped = fold((SELL, "40", "20"), (BUY, "100", "18"))
    assert flipped == pos("60", "18", "80")  # 40 * (20 - 18)


def test_short_sale_then_adding_re_averages_and_covering_lower_is_a_profit() -> None:
    short = fold((SELL, "10", "100"), (SELL, "30", "104"))
    assert short == pos("-40", "103", "0")  # (10*100 + 30*104) / 40
    covered = fold((BUY, "15", "95"), start=short)
    assert covered == pos("-25", "103", "120")  # 15 * (103 - 95)
    assert fold((BUY, "25", "110"), start=covered) == pos("0", "0", "-55")  # 120 - 25*7


def test_unrealized_pnl_of_long_and_short_positions() -> None:
    long = pos("10", "100", "0")
    short = pos("-10", "100", "0")
    assert unrealized_pnl(long, Decimal("103.5")) == Decimal("35")
    assert unrealized_pnl(long, Decimal("98")) == Decimal("-20")
    assert unrealized_pnl(short, Decimal("103.5")) == Decimal("-35")
    assert unrealized_pnl(short, Decimal("98")) == Decimal("20")


def test_market_value_is_signed_by_direction() -> None:
    assert market_value(pos("10", "100", "0"), Decimal("101.5")) == Decimal("1015")
    assert market_value(pos("-10", "100", "0"), Decimal("101.5")) == Decimal("-1015")


def test_cash_delta_is_negative_for_a_buy_and_positive_for_a_sell() -> None:
    assert cash_delta(BUY, Decimal("3"), Decimal("187.33")) == Decimal("-561.99")
    assert cash_delta(SELL, Decimal("3"), Decimal("187.33")) == Decimal("561.99")


def test_fractional_amounts_stay_exact_where_float_would_drift() -> None:
    # With floats 0.1 + 0.2 != 0.3; the position must close exactly to zero.
    closed = fold((BUY, "0.1", "10"), (BUY, "0.2", "10"), (SELL, "0.3", "10"))
    assert closed == pos("0", "0", "0")


def test_average_price_is_rounded_half_to_even_at_eight_places() -> None:
    # (1*10 + 2*11) / 3 = 10.666666666...
    assert fold((BUY, "1", "10"), (BUY, "2", "11")).avg_price == Decimal("10.66666667")


def test_worked_example_from_trading_technologies_average_cost_method() -> None:
    # https://www.tradingtechnologies.com/xtrader-help/fix-adapter-reference/pl-calculation-algorithm/understanding-pl-calculations/
    # nautilus_trader uses the same fills as an oracle (https://github.com/nautechsystems/
    # nautilus_trader, tests/unit_tests/model/test_position.py, test_pnl_calculation_from_trading_
    # technologies_example: avg_px_open 99.41379310344827, then 99.98003629764065).
    # Published figures are to the cent; ours carry 8 places, so the average may differ from the
    # exact fraction by one unit in the 8th place.
    def cents(value: Decimal) -> Decimal:
        return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)

    position = fold((BUY, "12", "100"), (BUY, "17", "99"))
    assert position.quantity == 29
    assert position.avg_price == Decimal("99.41379310")  # 2883 / 29

    position = fold((SELL, "9", "101"), start=position)
    assert position.quantity == 20
    assert cents(position.realized_pnl) == Decimal("14.28")  # 9 * (101 - 99.4138)

    position = fold((SELL, "4", "105"), start=position)
    assert position.quantity == 16
    assert cents(position.realized_pnl) == Decimal("36.62")  # + 4 * (105 - 99.4138)
    assert position.avg_price == Decimal("99.41379310")  # reductions keep the average

    position = fold((BUY, "3", "103"), start=position)
    assert position.quantity == 19
    assert abs(position.avg_price - Decimal("99.98003629764065")) <= Decimal("0.00000001")
    assert cents(position.realized_pnl) == Decimal("36.62")  # adding realizes nothing
    # At the theoretical exit price of 99: 19 * (99 - 99.9800) = -18.62
    assert cents(unrealized_pnl(position, Decimal("99"))) == Decimal("-18.62")


@pytest.mark.parametrize(
    ("qty", "price", "field"),
    [("0", "10", "quantity"), ("-1", "10", "quantity"), ("1", "0", "price")],
)
def test_fill_with_non_positive_quantity_or_price_is_refused(
    qty: str, price: str, field: str
) -> None:
    with pytest.raises(InvalidOrder) as caught:
        apply_fill(Position.flat(), BUY, Decimal(qty), Decimal(price))
    assert caught.value.details == {"field": field}
    with pytest.raises(InvalidOrder):
        cash_delta(SELL, Decimal(qty), Decimal(price))


def test_position_refuses_floats() -> None:
    with pytest.raises(TypeError, match="quantity must be a Decimal, was float"):
        apply_fill(Position.flat(), BUY, 0.1, Decimal("10"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="avg_price must be a Decimal, was float"):
        Position(Decimal(1), 10.5, Decimal(0))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mark must be a Decimal, was float"):
        unrealized_pnl(Position.flat(), 10.5)  # type: ignore[arg-type]
