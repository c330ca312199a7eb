"""The adapter contract: every REST broker adapter, against its stub, behaves the same way.

Each test speaks only through the real adapter (HTTP to the stub) and checks what the broker
side saw through the stub's controls.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal

import pytest

from shared.brokers.types import (
    BrokerOrder,
    Modify,
    NotSent,
    OrderNotFound,
    PlaceRequest,
    RateLimited,
    Rejected,
    SessionExpired,
    Unknown,
)
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from tests.stubs.harness import BrokerStub
from worker.brokers.base import BrokerAdapter

WORKING = {OrderStatus.SUBMITTED, OrderStatus.ACCEPTED}


def _request(stub: BrokerStub, *, quantity: str = "10", price: str = "100.05",
             order_type: OrderType = OrderType.LIMIT) -> PlaceRequest:
    order_id = uuid.uuid4()
    return PlaceRequest(
        order_id=str(order_id), tag="og" + order_id.hex[:18], instrument=stub.instrument,
        side=Side.BUY, order_type=order_type, quantity=Decimal(quantity),
        time_in_force=TimeInForce.DAY,
        price=Decimal(price) if order_type is OrderType.LIMIT else None)


@pytest.fixture
async def adapter(stub: BrokerStub) -> AsyncIterator[BrokerAdapter]:
    client = stub.adapter()
    yield client
    await client.aclose()


async def _placed(adapter: BrokerAdapter, stub: BrokerStub, quantity: str = "10") -> BrokerOrder:
    return await adapter.place(_request(stub, quantity=quantity))


async def test_place_returns_the_broker_order_id_and_the_order_is_working(
        stub: BrokerStub, adapter: BrokerAdapter) -> None:
    request = _request(stub)
    placed = await adapter.place(request)
    assert placed.broker_order_id
    current = await adapter.order(placed.broker_order_id)
    assert current.status in WORKING
    assert current.raw_status
    assert current.quantity == Decimal(10)
    assert current.filled_quantity == 0
    assert current.price == Decimal("100.05")
    assert stub.orders_tagged(request.tag) == 1


async def test_modify_changes_the_price_at_the_broker(stub: BrokerStub,
                                                      adapter: BrokerAdapter) -> None:
    placed = await _placed(adapter, stub)
    await adapter.modify(placed.broker_order_id, Modify(price=Decimal("99.50")))
    current = await adapter.order(placed.broker_order_id)
    assert current.price == Decimal("99.50")
    assert current.status in WORKING


async def test_cancel_ends_the_order_canceled(stub: BrokerStub, adapter: BrokerAdapter) -> None:
    placed = await _placed(adapter, stub)
    await adapter.cancel(placed.broker_order_id)
    current = await adapter.order(placed.broker_order_id)
    assert current.status is OrderStatus.CANCELED


async def test_partial_fill_is_derived_from_quantities_then_completes(
        stub: BrokerStub, adapter: BrokerAdapter) -> None:
    placed = await _placed(adapter, stub)
    stub.fill(placed.broker_order_id, Decimal(4), Decimal("100.00"))
    partial = await adapter.order(placed.broker_order_id)
    assert partial.status is OrderStatus.PARTIALLY_FILLED
    assert partial.filled_quantity == Decimal(4)
    first = await adapter.fills(placed.broker_order_id)
    assert [(f.quantity, f.price) for f in first] == [(Decimal(4), Decimal("100.00"))]

    stub.fill(placed.broker_order_id, Decimal(6), Decimal("100.05"))
    done = await adapter.order(placed.broker_order_id)
    both = await adapter.fills(placed.broker_order_id)
    assert done.status is OrderStatus.FILLED
    assert done.filled_quantity == Decimal(10)
    assert done.avg_price == Decimal("100.03")
    assert [f.quantity for f in both] == [Decimal(4), Decimal(6)]
    assert len({f.exec_id for f in both}) == 2
    assert all(f.broker_order_id == placed.broker_order_id for f in both)


async def test_account_fills_include_the_order_fills(stub: BrokerStub,
                                                     adapter: BrokerAdapter) -> None:
    placed = await _placed(adapter, stub)
    stub.fill(placed.broker_order_id, Decimal(10), Decimal("100.00"))
    mine = await adapter.fills(placed.broker_order_id)
    everything = await adapter.fills()
    assert {f.exec_id for f in mine} <= {f.exec_id for f in everything}


async def test_a_rejected_order_reports_the_brokers_reason(stub: BrokerStub,
                                                           adapter: BrokerAdapter) -> None:
    stub.reject_next_place("Insufficient funds")
    request = _request(stub)
    try:
        placed = await adapter.place(request)
    except Rejected as exc:
        # Refused at the door (some brokers do), or...
        status, message = OrderStatus.REJECTED, exc.message
    else:
        # ...accepted for processing, then rejected by the broker's risk checks (Kite, Upstox).
        current = await adapter.order(placed.broker_order_id)
        status, message = current.status, current.message or ""
    assert status is OrderStatus.REJECTED
    assert "Insufficient funds" in message


async def test_an_expired_session_is_reported_and_places_nothing(
        stub: BrokerStub, adapter: BrokerAdapter) -> None:
    stub.expire_session()
    request = _request(stub)
    with pytest.raises(SessionExpired):
        await adapter.place(request)
    with pytest.raises(SessionExpired):
        await adapter.order("1")
    assert stub.orders_tagged(request.tag) == 0


async def test_a_429_is_rate_limited_and_places_nothing(stub: BrokerStub,
                                                        adapter: BrokerAdapter) -> None:
    stub.throttle(1)
    request = _request(stub)
    with pytest.raises(RateLimited) as raised:
        await adapter.place(request)
    assert raised.value.retry_after > 0
    assert stub.orders_tagged(request.tag) == 0
    placed = await adapter.place(request)
    assert placed.broker_order_id
    assert stub.orders_tagged(request.tag) == 1


async def test_a_timed_out_place_is_unknown_and_found_by_its_tag(stub: BrokerStub) -> None:
    impatient = stub.adapter(timeout=0.3)
    try:
        stub.stall_next_place(1.0)
        request = _request(stub)
        with pytest.raises(Unknown):
            await impatient.place(request)
        found = await impatient.find_by_tag(request.tag)
    finally:
        await impatient.aclose()
    assert found is not None
    assert found.tag == request.tag
    assert found.quantity == request.quantity
    assert stub.orders_tagged(request.tag) == 1


async def test_an_unused_tag_is_not_found(stub: BrokerStub, adapter: BrokerAdapter) -> None:
    assert await adapter.find_by_tag("og" + uuid.uuid4().hex[:18]) is None


async def test_an_unknown_order_id_is_not_found(stub: BrokerStub,
                                                adapter: BrokerAdapter) -> None:
    with pytest.raises(OrderNotFound):
        await adapter.order("999999999999")


async def test_a_broker_that_is_down_has_certainly_not_placed(stub: BrokerStub,
                                                              adapter: BrokerAdapter) -> None:
    request = _request(stub)
    with stub.outage(), pytest.raises(NotSent):
        await adapter.place(request)
    assert stub.orders_tagged(request.tag) == 0


async def test_positions_and_funds_reflect_a_fill(stub: BrokerStub,
                                                  adapter: BrokerAdapter) -> None:
    before = {p.symbol: p.quantity for p in await adapter.positions()}
    placed = await _placed(adapter, stub, quantity="3")
    stub.fill(placed.broker_order_id, Decimal(3), Decimal("100.00"))
    after = {p.symbol: p.quantity for p in await adapter.positions()}
    symbol = stub.instrument.symbol
    assert after[symbol] == before.get(symbol, Decimal(0)) + 3
    funds = await adapter.funds()
    assert funds.currency == "INR"
    assert funds.available_cash >= 0


async def test_a_signed_delivery_is_verified_and_names_the_order(
        stub: BrokerStub, adapter: BrokerAdapter) -> None:
    placed = await _placed(adapter, stub)
    stub.fill(placed.broker_order_id, Decimal(10), Decimal("100.00"))
    trigger = stub.verify(stub.delivery(placed.broker_order_id))
    assert trigger is not None
    assert trigger.broker_order_id == placed.broker_order_id


async def test_a_delivery_with_a_bad_signature_is_refused(stub: BrokerStub,
                                                          adapter: BrokerAdapter) -> None:
    placed = await _placed(adapter, stub)
    genuine = stub.delivery(placed.broker_order_id)
    assert stub.verify(genuine) is not None
    assert stub.verify(stub.forge(genuine)) is None
    assert stub.verify(replace(genuine, body=b"{}")) is None
