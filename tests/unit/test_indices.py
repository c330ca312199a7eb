"""Index levels from constituents' prices (shared.domain.indices)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.indices import Constituent, Move, level, move

D = Decimal
TWO = [Constituent("A", D("0.75"), D("100")), Constituent("B", D("0.25"), D("40"))]


def test_the_level_at_the_base_prices_is_the_base_level() -> None:
    assert level(D("1000"), TWO, {"A": D("100"), "B": D("40")}) == D("1000.00")


def test_a_constituent_moves_the_index_by_its_weights_share() -> None:
    # A up 10% with three quarters of the weight: the index up 7.5%.
    assert level(D("1000"), TWO, {"A": D("110"), "B": D("40")}) == D("1075.00")
    # B up 10% with a quarter: up 2.5%.
    assert level(D("1000"), TWO, {"A": D("100"), "B": D("44")}) == D("1025.00")


def test_weights_need_not_add_up_to_one() -> None:
    doubled = [Constituent(c.symbol, c.weight * 2, c.base_price) for c in TWO]

    assert level(D("1000"), doubled, {"A": D("110"), "B": D("40")}) == D("1075.00")


def test_a_missing_price_leaves_the_level_unknown() -> None:
    assert level(D("1000"), TWO, {"A": D("110")}) is None
    assert level(D("1000"), [], {}) is None


def test_the_move_is_the_change_from_the_previous_close_in_points_and_percent() -> None:
    result = move(D("1000"), TWO, {"A": D("110"), "B": D("40")},
                  {"A": D("100"), "B": D("44")})

    assert result == Move(level=D("1075.00"), previous_close=D("1025.00"), change=D("50.00"),
                          change_pct=D("4.88"))


def test_without_a_previous_close_the_change_is_unknown() -> None:
    result = move(D("1000"), TWO, {"A": D("110"), "B": D("40")}, {"A": D("100"), "B": None})

    assert result == Move(D("1075.00"), None, None, None)


@given(st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2),
       st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2))
def test_every_price_scaled_by_a_factor_scales_the_level_by_it(a: Decimal, b: Decimal) -> None:
    base = [Constituent("A", D("0.6"), a), Constituent("B", D("0.4"), b)]

    assert level(D("500"), base, {"A": a * 2, "B": b * 2}) == D("1000.00")
