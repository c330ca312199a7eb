"""Trailing stops (IB's TRAIL) and GTD orders through the IBKR adapter, against the FakeIB.

The FakeIB keeps no time of its own: a test says when TWS expires an order (`fake.expire`,
dated by the time its news arrives), and moves the adapter's clock instead of waiting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.brokers.ibkr.wire import UNSET_DOUBLE
from shared.brokers.types import Modify, Rejected
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from tests.contract.ibkr import WORKING, Clock, D, arrive, book_order, make_adapter, order_request
from tests.stubs.ibkr.fake_ib import FakeIB
from worker.brokers.ibkr.adapter import IbAdapter

NEW_YORK = ZoneInfo("America/New_York")


def _trailing(**terms: Any) -> dict[str, Any]:
    return {"order_type": OrderType.TRAILING_STOP, "price": None, "side": Side.SELL, **terms}


def _gtd(expire_at: datetime) -> dict[str, Any]:
    return {"tif": TimeInForce.GTD, "expire_at": expire_at}


async def test_a_trailing_stop_by_amount_reaches_ib_as_trail_with_the_amount_in_aux_price(
        fake: FakeIB, adapter: IbAdapter) -> None:
    placed = await adapter.place(order_request(**_trailing(trail_price=D("1.25"))))
    held = book_order(fake, placed).order
    assert (held.action, held.orderType, str(held.auxPrice)) == ("SELL", "TRAIL", "1.25")
    assert (held.trailingPercent, held.trailStopPrice) == (UNSET_DOUBLE, UNSET_DOUBLE)
    assert placed.status in WORKING


async def test_a_trailing_stop_by_percent_reaches_ib_with_its_starting_stop(
        fake: FakeIB, adapter: IbAdapter) -> None:
    placed = await adapter.place(order_request(**_trailing(
        trail_percent=D("2.5"), trail_stop=D("97.50"))))
    held = book_order(fake, placed).order
    assert (held.orderType, str(held.trailingPercent), str(held.trailStopPrice)) == (
        "TRAIL", "2.5", "97.50")
    assert held.auxPrice == UNSET_DOUBLE  # IB takes an amount or a percentage, never both


async def test_a_trailing_stop_without_a_trail_is_rejected_before_reaching_ib(
        fake: FakeIB, adapter: IbAdapter) -> None:
    request = order_request(**_trailing())
    with pytest.raises(Rejected, match="exactly one of trail_price and trail_percent"):
        await adapter.place(request)
    assert fake.order_by_ref(request.order_id) == []


async def test_a_gtd_order_reaches_ib_with_its_expiry_as_a_utc_good_till_date(
        fake: FakeIB, adapter: IbAdapter) -> None:
    close = datetime(2026, 12, 31, 16, 0, tzinfo=NEW_YORK)  # 21:00 UTC in winter
    placed = await adapter.place(order_request(**_gtd(close)))
    held = book_order(fake, placed).order
    assert (held.orderType, held.tif, held.goodTillDate) == (
        "LMT", "GTD", "20261231 21:00:00 UTC")


async def test_a_gtd_order_without_an_expiry_is_rejected_before_reaching_ib(
        fake: FakeIB, adapter: IbAdapter) -> None:
    request = order_request(tif=TimeInForce.GTD)
    with pytest.raises(Rejected, match="expire_at") as raised:
        await adapter.place(request)
    assert raised.value.details == {"field": "expire_at"}
    assert fake.order_by_ref(request.order_id) == []


async def test_a_modify_of_the_trail_reaches_ib_on_the_same_order(
        fake: FakeIB, adapter: IbAdapter) -> None:
    placed = await adapter.place(order_request(**_trailing(
        trail_percent=D("2"), trail_stop=D("98.00"))))
    order_id = book_order(fake, placed).order_id
    await adapter.modify(placed.broker_order_id, Modify(trail_percent=D("3")))
    held = book_order(fake, placed)
    assert (held.order_id, str(held.order.trailingPercent)) == (order_id, "3")
    # The stop IB has trailed since placement is not sent back to where it started.
    assert held.order.trailStopPrice == UNSET_DOUBLE

    changed = await adapter.modify(placed.broker_order_id, Modify(trail_price=D("0.75")))
    held = book_order(fake, placed)
    assert (str(held.order.auxPrice), held.order.trailingPercent) == ("0.75", UNSET_DOUBLE)
    assert changed.status in WORKING


async def test_a_modify_of_the_expiry_reaches_ib_on_the_same_order(
        fake: FakeIB, adapter: IbAdapter) -> None:
    placed = await adapter.place(order_request(**_gtd(datetime(2026, 12, 31, 21, tzinfo=UTC))))
    order_id = book_order(fake, placed).order_id
    later = datetime(2027, 1, 15, 14, 30, 5, tzinfo=NEW_YORK)
    await adapter.modify(placed.broker_order_id, Modify(expire_at=later))
    held = book_order(fake, placed)
    assert (held.order_id, held.order.tif, held.order.goodTillDate) == (
        order_id, "GTD", "20270115 19:30:05 UTC")


async def test_a_refused_expiry_change_leaves_the_old_expiry_for_the_next_change(
        fake: FakeIB, adapter: IbAdapter) -> None:
    placed = await adapter.place(order_request(**_gtd(datetime(2026, 12, 31, 21, tzinfo=UTC))))
    fake.refuse_next_modify("invalid expiry")
    with pytest.raises(Rejected, match="invalid expiry"):
        await adapter.modify(placed.broker_order_id,
                             Modify(expire_at=datetime(2027, 1, 4, 21, tzinfo=UTC)))
    await adapter.modify(placed.broker_order_id, Modify(quantity=D(12)))
    held = book_order(fake, placed).order
    assert (str(held.totalQuantity), held.goodTillDate) == ("12", "20261231 21:00:00 UTC")


async def test_a_gtd_order_ib_ends_at_its_good_till_date_is_expired(
        fake: FakeIB, adapter: IbAdapter) -> None:
    due = datetime.now(UTC) + timedelta(hours=1)
    placed = await adapter.place(order_request(quantity="10", **_gtd(due)))
    fake.fill(int(placed.broker_order_id), D(4), D("100.00"))
    fake.expire(int(placed.broker_order_id), at=due)
    await arrive()
    ended = await adapter.order(placed.broker_order_id)
    assert (ended.status, ended.raw_status, ended.filled_quantity) == (
        OrderStatus.EXPIRED, "Cancelled", D(4))


async def test_a_gtd_order_canceled_before_its_good_till_date_is_canceled(
        fake: FakeIB, adapter: IbAdapter) -> None:
    placed = await adapter.place(order_request(**_gtd(datetime.now(UTC) + timedelta(hours=1))))
    await adapter.cancel(placed.broker_order_id)
    assert (await adapter.order(placed.broker_order_id)).status is OrderStatus.CANCELED


@pytest.mark.parametrize(("clock_ahead", "status"), [
    (timedelta(hours=2), OrderStatus.EXPIRED), (timedelta(0), OrderStatus.CANCELED)])
async def test_a_done_gtd_order_first_seen_after_a_restart_is_judged_by_the_clock(
        fake: FakeIB, clock: Clock, clock_ahead: timedelta, status: OrderStatus) -> None:
    first = make_adapter(fake, clock)
    placed = await first.place(order_request(**_gtd(datetime.now(UTC) + timedelta(hours=1))))
    await first.aclose()
    fake.expire(int(placed.broker_order_id))  # ended while no worker was connected
    clock.ahead = clock_ahead
    restarted = make_adapter(fake, clock)
    try:
        seen = await restarted.order(placed.broker_order_id)
    finally:
        await restarted.aclose()
    assert (seen.status, seen.raw_status) == (status, "Cancelled")
