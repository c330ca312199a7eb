"""Risk-limit rules, table-driven: each limit, at and past it, and how limits are parsed."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.domain.enums import OrderType, Side, TimeInForce
from shared.domain.errors import InvalidOrder
from shared.domain.limits import (
    Exposure,
    RiskLimits,
    check_limits,
    needs_exposure,
    order_rate_exceeded,
    parse_limits,
    unit_price,
)
from shared.domain.risk import OrderRequest
from shared.domain.sessions import Calendar, outside_session

D = Decimal
NONE = Exposure(open_orders=0, position_quantity=D(0), open_buy_quantity=D(0))


def order(side: Side = Side.BUY, order_type: OrderType = OrderType.LIMIT, quantity: str = "10",
          price: str | None = "100", stop: str | None = None,
          tif: TimeInForce = TimeInForce.DAY) -> OrderRequest:
    return OrderRequest(symbol="AAPL", side=side, order_type=order_type, quantity=D(quantity),
                        price=D(price) if price else None, stop_price=D(stop) if stop else None,
                        time_in_force=tif)


# (limits, request, touch, exposure, refusal code or None)
CASES: list[tuple[str, RiskLimits, OrderRequest, Decimal | None, Exposure, str | None]] = [
    ("no limits", RiskLimits(), order(quantity="1000000"), None, NONE, None),
    ("order value at the limit", RiskLimits(max_order_value=D(1000)), order(), None, NONE, None),
    ("order value past it", RiskLimits(max_order_value=D(999)), order(), None, NONE,
     "max_order_value_exceeded"),
    ("a SELL's value counts too", RiskLimits(max_order_value=D(999)), order(Side.SELL), None,
     NONE, "max_order_value_exceeded"),
    ("a STOP is valued at its stop", RiskLimits(max_order_value=D(1000)),
     order(order_type=OrderType.STOP, price=None, stop="101"), None, NONE,
     "max_order_value_exceeded"),
    ("a MARKET order at the touch", RiskLimits(max_order_value=D(1000)),
     order(order_type=OrderType.MARKET, price=None), D("100.01"), NONE,
     "max_order_value_exceeded"),
    ("a MARKET order without a quote", RiskLimits(max_order_value=D(1000)),
     order(order_type=OrderType.MARKET, price=None), None, NONE, "order_value_unknown"),
    ("position value with held shares and working buys", RiskLimits(max_position_value=D(3000)),
     order(), None, Exposure(0, D(10), D(10)), None),
    ("position value one share past", RiskLimits(max_position_value=D(3000)),
     order(quantity="11"), None, Exposure(0, D(10), D(10)), "max_position_value_exceeded"),
    ("a SELL only shrinks the position", RiskLimits(max_position_value=D(1)),
     order(Side.SELL), None, Exposure(0, D(10), D(0)), None),
    ("open orders below the limit", RiskLimits(max_open_orders=3), order(), None,
     Exposure(2, D(0), D(0)), None),
    ("open orders at the limit", RiskLimits(max_open_orders=3), order(), None,
     Exposure(3, D(0), D(0)), "max_open_orders_exceeded"),
]


@pytest.mark.parametrize(("limits", "req", "touch", "exposure", "code"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_each_limit_refuses_past_it_and_allows_at_it(
        limits: RiskLimits, req: OrderRequest, touch: Decimal | None, exposure: Exposure,
        code: str | None) -> None:
    def check() -> None:
        check_limits(req, limits, price=unit_price(req, touch),
                     exposure=exposure if needs_exposure(limits, req) else None,
                     currency="USD")

    if code is None:
        check()
        return
    with pytest.raises(InvalidOrder) as caught:
        check()
    assert caught.value.code == code
    assert caught.value.details["field"]


def test_a_refusal_names_the_limit_its_value_and_the_orders() -> None:
    with pytest.raises(InvalidOrder) as caught:
        check_limits(order(quantity="12.5", price="80.10"), RiskLimits(max_order_value=D(1000)),
                     price=D("80.10"), exposure=None, currency="USD")
    assert caught.value.details == {"field": "quantity", "limit": "max_order_value",
                                    "limit_value": "1000", "value": "1001.25",
                                    "currency": "USD"}
    assert caught.value.message == (
        "the order's value would be 1001.25 USD, above the account's max_order_value of 1000 USD")


def test_the_rate_refusal_says_when_to_retry() -> None:
    error = order_rate_exceeded(5, 0.25)
    assert (error.code, error.details["limit_value"], error.details["retry_after_seconds"]) == (
        "max_orders_per_second_exceeded", 5, 0.25)


def test_account_values_replace_the_defaults_one_by_one() -> None:
    defaults = RiskLimits(max_order_value=D(1000), max_open_orders=10)
    mine = defaults.overridden_by({"max_order_value": "250.5", "max_orders_per_second": 2})
    assert mine == RiskLimits(max_order_value=D("250.5"), max_open_orders=10,
                              max_orders_per_second=2)
    assert mine.as_json() == {"max_order_value": "250.5", "max_position_value": None,
                              "max_open_orders": 10, "max_orders_per_second": 2}
    assert defaults.overridden_by({"max_open_orders": None}).max_open_orders is None


@pytest.mark.parametrize(("raw", "field"), [
    ({"max_order_value": "0"}, "max_order_value"),
    ({"max_order_value": "-1"}, "max_order_value"),
    ({"max_order_value": "NaN"}, "max_order_value"),
    ({"max_order_value": "1e13"}, "max_order_value"),
    ({"max_order_value": "0.000000001"}, "max_order_value"),
    ({"max_order_value": True}, "max_order_value"),
    ({"max_open_orders": 0}, "max_open_orders"),
    ({"max_open_orders": "3"}, "max_open_orders"),
    ({"max_orders_per_second": 10**7}, "max_orders_per_second"),
    ({"max_leverage": 2}, "max_leverage"),
])
def test_bad_limits_are_refused_naming_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidOrder) as caught:
        parse_limits(raw)
    assert caught.value.code == "invalid_risk_limit"
    assert caught.value.details["field"] == f"risk_limits.{field}"


def test_amounts_are_kept_in_plain_notation() -> None:
    assert parse_limits({"max_order_value": "5e4"}) == {"max_order_value": D(50000)}
    assert str(parse_limits({"max_order_value": "5e4"})["max_order_value"]) == "50000"


NY = ZoneInfo("America/New_York")
SATURDAY = datetime(2026, 12, 5, 12, 0, tzinfo=NY)
TUESDAY = datetime(2026, 12, 1, 12, 0, tzinfo=NY)


@pytest.mark.parametrize(("at", "market", "immediate", "policy", "outcome"), [
    (TUESDAY, True, False, "reject", None),  # open: nothing to say
    (SATURDAY, False, False, "reject", None),  # a LIMIT rests
    (SATURDAY, True, False, "wait", "waits for the NYSE open at 2026-12-07T09:30:00-05:00"),
    (SATURDAY, True, False, "reject", "market_closed"),
    (SATURDAY, False, True, "wait", "market_closed"),  # IOC / FOK cannot wait
])
def test_outside_the_session(at: datetime, market: bool, immediate: bool, policy: str,
                             outcome: str | None) -> None:
    def decide() -> str | None:
        return outside_session(Calendar.build(), "NYSE", at, market=market,
                               immediate=immediate, policy=policy)

    if outcome == "market_closed":
        with pytest.raises(InvalidOrder) as caught:
            decide()
        assert caught.value.code == "market_closed"
        assert caught.value.details["next_open"] == "2026-12-07T09:30:00-05:00"
    else:
        assert decide() == outcome


def test_always_open_never_refuses_or_waits() -> None:
    assert outside_session(Calendar.build(always_open=True), "NYSE", SATURDAY, market=True,
                           immediate=True, policy="reject") is None
