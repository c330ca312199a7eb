"""The demo day of ticks (scripts.demo_ticks): the same every time, on ticks, ending at the
reference price, in the session before today's."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from scripts.demo_ticks import STEP, day_of_ticks, last_session
from shared.domain.sessions import Calendar

CALENDAR = Calendar()
# A Monday morning in New York: the session before is Friday's.
MONDAY = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


def test_the_session_before_a_monday_is_fridays_and_an_unknown_exchange_has_none() -> None:
    session = last_session(CALENDAR, "NYSE", MONDAY)

    assert session is not None
    assert session.day == date(2026, 11, 27)
    assert last_session(CALENDAR, "LSE", MONDAY) is None


def test_a_demo_day_is_reproducible_on_ticks_and_ends_at_the_reference() -> None:
    session = last_session(CALENDAR, "NSE", MONDAY)
    assert session is not None

    first = list(day_of_ticks("RELIANCE", Decimal("2950.00"), Decimal("0.05"), session))
    again = list(day_of_ticks("RELIANCE", Decimal("2950.00"), Decimal("0.05"), session))

    assert first == again
    assert len(first) == (session.closes_at - session.opens_at) / STEP + 1
    assert (first[0].ts, first[-1].ts) == (session.opens_at, session.closes_at)
    assert first[-1].ltp == Decimal("2950.00")
    assert all(tick.ltp % Decimal("0.05") == 0 and tick.ltp > 0 for tick in first)
    assert all(tick.buyprice < tick.ltp < tick.sellprice for tick in first)
    assert abs(first[0].ltp / Decimal("2950") - 1) <= Decimal("0.031")
    other = list(day_of_ticks("TCS", Decimal("2950.00"), Decimal("0.05"), session))
    assert [t.ltp for t in other] != [t.ltp for t in first]
