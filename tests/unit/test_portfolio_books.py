"""A portfolio's pure parts: how its name is written, and what its trades leave per book."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.enums import Side
from shared.domain.portfolio import Book, Trade, books, portfolio_key, portfolio_name
from shared.domain.positions import Position

D = Decimal


def test_a_portfolio_name_is_trimmed_and_its_key_ignores_case() -> None:
    assert portfolio_name("  Long \u00a0 term ") == "Long term"
    assert portfolio_key("STRASSE") == portfolio_key("Straße") == "strasse"
    with pytest.raises(ValueError, match="a portfolio name may not be empty"):
        portfolio_name("   ")


def test_each_book_is_the_fold_of_its_own_trades_with_their_charges() -> None:
    trades = [
        (("paper", "AAPL"), Trade(Side.BUY, D(10), D(100), D(1))),
        (("kite", "INFY"), Trade(Side.BUY, D(2), D(1500), D(0))),
        (("paper", "AAPL"), Trade(Side.SELL, D(4), D(150), D(2))),
        (("paper", "AAPL"), Trade(Side.BUY, D(4), D(130), D("0.5"))),
    ]

    found = books(trades)

    assert list(found) == [("paper", "AAPL"), ("kite", "INFY")]
    # 6 left at 100 after a sale realizing 4 × 50, then 4 more at 130: 10 at 112.
    assert found[("paper", "AAPL")] == Book(Position(D(10), D(112), D(200)), D("3.5"))
    assert found[("kite", "INFY")] == Book(Position(D(2), D(1500), D(0)), D(0))


def test_no_trades_leave_no_books() -> None:
    assert books([]) == {}
