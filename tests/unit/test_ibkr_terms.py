"""IB's wire terms for trailing stops and GTD: goodTillDate, trail fields, expiry (pure)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from shared.brokers.catalog import Broker, check_replaceable
from shared.brokers.ibkr import wire
from shared.brokers.types import Instrument, Modify, PlaceRequest
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from shared.domain.errors import InvalidOrder
from worker.brokers.ibkr.orders import apply_change, order_for

D = Decimal
SPY = Instrument(symbol="SPY", exchange="NYSEARCA", currency="USD")


@pytest.mark.parametrize(("expire_at", "text"), [
    (datetime(2026, 12, 31, 21, 0, tzinfo=UTC), "20261231 21:00:00 UTC"),
    # New York in winter (UTC-5) and in summer (UTC-4): the same wall time, an hour apart.
    (datetime(2026, 12, 31, 16, 0, tzinfo=ZoneInfo("America/New_York")), "20261231 21:00:00 UTC"),
    (datetime(2026, 7, 1, 16, 0, tzinfo=ZoneInfo("America/New_York")), "20260701 20:00:00 UTC"),
    # Kolkata (UTC+5:30) late in the evening is still the same day in UTC; Tokyo's morning
    # is the day before.
    (datetime(2026, 3, 2, 23, 45, tzinfo=ZoneInfo("Asia/Kolkata")), "20260302 18:15:00 UTC"),
    (datetime(2026, 3, 2, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo")), "20260301 23:00:00 UTC"),
    # IB takes whole seconds: a fraction is cut, never rounded past the expiry asked for.
    (datetime(2026, 3, 2, 14, 0, 59, 999999, tzinfo=timezone(timedelta(hours=-3))),
     "20260302 17:00:59 UTC"),
])
def test_expire_at_becomes_ibs_good_till_date_in_utc(expire_at: datetime, text: str) -> None:
    assert wire.good_till_date(expire_at) == text


def test_a_naive_expiry_is_refused_rather_than_read_in_some_time_zone() -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        wire.good_till_date(datetime(2026, 12, 31, 16, 0))  # noqa: DTZ001 - the point


@pytest.mark.parametrize(("text", "instant"), [
    ("20261231 21:00:00 UTC", datetime(2026, 12, 31, 21, 0, tzinfo=UTC)),
    ("20261231-21:00:00", datetime(2026, 12, 31, 21, 0, tzinfo=UTC)),
    ("20261231 16:00:00 US/Eastern", datetime(2026, 12, 31, 21, 0, tzinfo=UTC)),
    ("20261231", None),  # a bare date: the close of that day's market, not an instant we know
    ("20261231 16:00:00", None),  # the TWS machine's own zone
    ("20261231 16:00:00 Mars/Olympus", None),
    ("", None),
])
def test_good_till_dates_tws_reports_are_read_as_instants(text: str,
                                                          instant: datetime | None) -> None:
    assert wire.parse_good_till_date(text) == instant


def test_a_cancel_at_the_good_till_date_is_an_expiry() -> None:
    assert wire.order_status("Cancelled", D(10), D(0), expired=True) is OrderStatus.EXPIRED
    assert wire.order_status("Cancelled", D(10), D(4), expired=True) is OrderStatus.EXPIRED
    assert wire.order_status("Cancelled", D(10), D(0)) is OrderStatus.CANCELED
    # Only a cancel is read as an expiry: a fill stays a fill.
    assert wire.order_status("Filled", D(10), D(10), expired=True) is OrderStatus.FILLED


def _trailing(**terms: object) -> PlaceRequest:
    fields: dict[str, object] = {
        "order_id": str(uuid.uuid4()), "tag": "t", "instrument": SPY, "side": Side.SELL,
        "order_type": OrderType.TRAILING_STOP, "quantity": D(10),
        "time_in_force": TimeInForce.GTC, **terms}
    return PlaceRequest(**fields)  # type: ignore[arg-type]


def test_a_trail_by_amount_goes_in_aux_price_and_by_percent_in_trailing_percent() -> None:
    by_amount = order_for(_trailing(trail_price=D("1.50")), "DU1234567")
    by_percent = order_for(_trailing(trail_percent=D("2")), "DU1234567")
    assert (by_amount.orderType, str(by_amount.auxPrice), by_amount.trailingPercent) == (
        "TRAIL", "1.50", wire.UNSET_DOUBLE)
    assert (by_percent.orderType, by_percent.auxPrice, str(by_percent.trailingPercent)) == (
        "TRAIL", wire.UNSET_DOUBLE, "2")


def test_a_new_trail_replaces_the_other_kind_and_never_resends_the_starting_stop() -> None:
    order = order_for(_trailing(trail_percent=D("2"), trail_stop=D("98")), "DU1234567")
    apply_change(order, Modify(trail_price=D("0.40")))
    assert (str(order.auxPrice), order.trailingPercent, order.trailStopPrice) == (
        "0.40", wire.UNSET_DOUBLE, wire.UNSET_DOUBLE)
    apply_change(order, Modify(trail_percent=D("1.5")))
    assert (order.auxPrice, str(order.trailingPercent)) == (wire.UNSET_DOUBLE, "1.5")


@pytest.mark.parametrize(("broker", "changed", "field"), [
    (Broker.IBKR, {"time_in_force", "expire_at"}, "time_in_force"),
    (Broker.ZERODHA, {"trail_price"}, "trail_price"),
    (Broker.GROWW, {"expire_at"}, "expire_at"),
])
def test_a_term_the_brokers_modify_cannot_carry_is_refused_naming_it(
        broker: Broker, changed: set[str], field: str) -> None:
    with pytest.raises(InvalidOrder) as refused:
        check_replaceable(broker, changed)
    assert (refused.value.code, refused.value.details["field"]) == ("unsupported_by_broker",
                                                                    field)


@pytest.mark.parametrize(("broker", "changed"), [
    (Broker.IBKR, {"trail_price", "trail_percent", "expire_at", "quantity", "price"}),
    (Broker.ZERODHA, {"quantity", "price", "stop_price"}),
    (Broker.PAPER, {"time_in_force", "expire_at", "trail_percent"}),
])
def test_what_the_brokers_modify_carries_is_accepted(broker: Broker, changed: set[str]) -> None:
    check_replaceable(broker, changed)
