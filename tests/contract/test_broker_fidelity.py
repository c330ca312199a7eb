"""What the brokers' own SDKs and fixtures show, through the real adapters (issue 14).

Each stub answers in its broker's published shapes: Kite refuses MARKET and SL-M orders
without market_protection, Upstox and Groww list delivered shares as holdings apart from the
day's positions, and Groww's clear_cash is gross while its balances available are net.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import pytest

from shared.brokers.types import Modify, PlaceRequest
from shared.domain.enums import OrderType, Side, TimeInForce
from tests.stubs.groww import harness as groww_harness
from tests.stubs.groww.harness import GrowwStub
from tests.stubs.upstox import harness as upstox_harness
from tests.stubs.upstox.harness import UpstoxStub
from tests.stubs.zerodha import harness as zerodha_harness
from tests.stubs.zerodha.harness import StubKite
from worker.brokers.upstox.adapter import UpstoxAdapter
from worker.brokers.zerodha.adapter import ZerodhaAdapter


@pytest.fixture(scope="module")
def kite() -> Iterator[StubKite]:
    with zerodha_harness.running() as running:
        yield running


@pytest.fixture(scope="module")
def upstox() -> Iterator[UpstoxStub]:
    with upstox_harness.running() as running:
        yield running


@pytest.fixture(scope="module")
def groww() -> Iterator[GrowwStub]:
    with groww_harness.running() as running:
        yield running


def _request(instrument_of: StubKite | UpstoxStub | GrowwStub, order_type: OrderType, *,
             quantity: str = "2", price: str | None = None,
             stop: str | None = None) -> PlaceRequest:
    order_id = uuid.uuid4()
    return PlaceRequest(
        order_id=str(order_id), tag="og" + order_id.hex[:18],
        instrument=instrument_of.instrument, side=Side.BUY, order_type=order_type,
        quantity=Decimal(quantity), time_in_force=TimeInForce.DAY,
        price=Decimal(price) if price else None, stop_price=Decimal(stop) if stop else None)


def _kite_adapter(kite: StubKite, protection: str | None = None) -> ZerodhaAdapter:
    session = kite.session()
    if protection is not None:
        session = replace(session, extra={"market_protection": protection})
    return ZerodhaAdapter(session, kite.settings(), timeout=2.0)


def _kite_row(kite: StubKite, order_id: str) -> dict[str, object]:
    return dict(kite.exchange.history(order_id)[-1])


@pytest.mark.parametrize(("order_type", "stop"), [(OrderType.MARKET, None),
                                                  (OrderType.STOP, "99.5")])
async def test_a_kite_market_or_stop_market_order_is_placed_with_automatic_protection(
        kite: StubKite, order_type: OrderType, stop: str | None) -> None:
    adapter = _kite_adapter(kite)
    try:
        placed = await adapter.place(_request(kite, order_type, stop=stop))
    finally:
        await adapter.aclose()
    assert _kite_row(kite, placed.broker_order_id)["market_protection"] == -1


async def test_a_kite_market_order_carries_the_connections_protection(kite: StubKite) -> None:
    adapter = _kite_adapter(kite, "5")
    try:
        placed = await adapter.place(_request(kite, OrderType.MARKET))
    finally:
        await adapter.aclose()
    assert _kite_row(kite, placed.broker_order_id)["market_protection"] == 5


async def test_a_kite_limit_modified_to_market_and_a_stop_market_modified_reach_kite(
        kite: StubKite) -> None:
    adapter = _kite_adapter(kite)
    try:
        limit = await adapter.place(_request(kite, OrderType.LIMIT, price="100.05"))
        stop = await adapter.place(_request(kite, OrderType.STOP, stop="99.5"))
        await adapter.modify(limit.broker_order_id, Modify(order_type=OrderType.MARKET))
        await adapter.modify(stop.broker_order_id, Modify(stop_price=Decimal("98.5")))
    finally:
        await adapter.aclose()
    assert _kite_row(kite, limit.broker_order_id)["order_type"] == "MARKET"
    assert _kite_row(kite, stop.broker_order_id)["trigger_price"] == Decimal("98.5")


async def test_an_upstox_market_order_carries_a_chosen_protection_only(
        upstox: UpstoxStub) -> None:
    chosen = UpstoxAdapter(replace(upstox.session(), extra={"market_protection": "3"}),
                           upstox.settings, timeout=2.0)
    automatic = upstox.adapter()
    try:
        with_choice = await chosen.place(_request(upstox, OrderType.MARKET))
        without = await automatic.place(_request(upstox, OrderType.MARKET))
    finally:
        await chosen.aclose()
        await automatic.aclose()
    assert upstox.book.orders[with_choice.broker_order_id].body["market_protection"] == 3
    assert "market_protection" not in upstox.book.orders[without.broker_order_id].body


async def test_upstox_positions_include_delivered_holdings(upstox: UpstoxStub) -> None:
    adapter = upstox.adapter()
    try:
        held = {(p.symbol, p.product): p for p in await adapter.positions()}
    finally:
        await adapter.aclose()
    assert held[("ITC", "CNC")].quantity == 8
    assert held[("ITC", "CNC")].avg_price == Decimal("410.50")


async def test_groww_positions_include_delivered_holdings(groww: GrowwStub) -> None:
    adapter = groww.adapter()
    try:
        held = {(p.symbol, p.product): p for p in await adapter.positions()}
    finally:
        await adapter.aclose()
    assert held[("ITC", "CNC")].quantity == 8


async def test_groww_buying_power_falls_by_what_a_filled_buy_used(groww: GrowwStub) -> None:
    adapter = groww.adapter()
    try:
        before = await adapter.funds()
        placed = await adapter.place(_request(groww, OrderType.LIMIT, quantity="3",
                                              price="100.00"))
        groww.fill(placed.broker_order_id, Decimal(3), Decimal("100.00"))
        after = await adapter.funds()
    finally:
        await adapter.aclose()
    assert after.available_cash == before.available_cash - Decimal("300.00")
