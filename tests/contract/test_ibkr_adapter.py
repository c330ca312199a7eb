"""The IBKR adapter against ib_async's real IB over a simulated TWS (tests/stubs/ibkr).

Each test speaks through the adapter and checks what "TWS" received through the FakeIB's book.
"""

from __future__ import annotations

import socket
import uuid
from datetime import timedelta

import pytest

from shared.brokers.types import BrokerSession, Modify, NotSent, OrderNotFound, Rejected, Unknown
from shared.domain.enums import OrderStatus, OrderType, TimeInForce
from shared.settings import Settings
from tests.contract.ibkr import (
    CLIENT_ID,
    WORKING,
    Clock,
    D,
    arrive,
    book_order,
    make_adapter,
    order_request,
)
from tests.stubs.ibkr.fake_ib import ACCOUNT, FakeIB
from worker.brokers.ibkr.adapter import IbAdapter, build
from worker.brokers.ibkr.connection import shared_connection


async def test_place_sends_a_smart_routed_stock_order_carrying_our_order_id(
        fake: FakeIB, adapter: IbAdapter) -> None:
    request = order_request(tif=TimeInForce.GTC)
    placed = await adapter.place(request)
    held = book_order(fake, placed)
    assert (held.contract.secType, held.contract.symbol, held.contract.exchange,
            held.contract.primaryExchange, held.contract.currency) == (
        "STK", "SPY", "SMART", "ARCA", "USD")
    assert (held.order.action, held.order.orderType, held.order.tif, held.order.account,
            held.order.orderRef) == ("BUY", "LMT", "GTC", ACCOUNT, request.order_id)
    # Decimals reach the socket as their exact text.
    assert (str(held.order.totalQuantity), str(held.order.lmtPrice)) == ("10", "100.05")
    assert placed.status in WORKING
    current = await adapter.order(placed.broker_order_id)
    assert (current.quantity, current.filled_quantity, current.price, current.tag) == (
        D(10), D(0), D("100.05"), request.order_id)
    assert current.raw_status == "Submitted"


@pytest.mark.parametrize(
    ("order_type", "price", "stop", "tif", "ib_type", "lmt", "aux"),
    [
        (OrderType.MARKET, None, None, TimeInForce.IOC, "MKT", None, None),
        (OrderType.STOP, None, "95.5", TimeInForce.DAY, "STP", None, "95.5"),
        (OrderType.STOP_LIMIT, "95", "95.5", TimeInForce.FOK, "STP LMT", "95", "95.5"),
    ],
)
async def test_each_order_type_and_time_in_force_reaches_ib(
        fake: FakeIB, adapter: IbAdapter, order_type: OrderType, price: str | None,
        stop: str | None, tif: TimeInForce, ib_type: str, lmt: str | None,
        aux: str | None) -> None:
    placed = await adapter.place(order_request(order_type=order_type, price=price, stop=stop,
                                          tif=tif))
    held = book_order(fake, placed).order
    assert (held.orderType, held.tif) == (ib_type, tif.value)
    if lmt is not None:
        assert str(held.lmtPrice) == lmt
    if aux is not None:
        assert str(held.auxPrice) == aux


async def test_modify_changes_price_and_quantity_at_ib(fake: FakeIB, adapter: IbAdapter) -> None:
    placed = await adapter.place(order_request())
    changed = await adapter.modify(placed.broker_order_id,
                                   Modify(price=D("99.50"), quantity=D(12)))
    held = book_order(fake, placed)
    assert (str(held.order.lmtPrice), str(held.order.totalQuantity)) == ("99.50", "12")
    assert held.order_id == book_order(fake, placed).order_id  # same IB order, changed in place
    assert (changed.price, changed.quantity) == (D("99.50"), D(12))
    current = await adapter.order(placed.broker_order_id)
    assert current.price == D("99.50")
    assert current.status in WORKING


async def test_a_refused_modification_leaves_the_order_working_on_its_old_terms(
        fake: FakeIB, adapter: IbAdapter) -> None:
    placed = await adapter.place(order_request())
    fake.refuse_next_modify("price too far from the market")
    with pytest.raises(Rejected, match="price too far from the market"):
        await adapter.modify(placed.broker_order_id, Modify(price=D("50")))
    current = await adapter.order(placed.broker_order_id)
    assert (current.status, current.price) == (OrderStatus.ACCEPTED, D("100.05"))
    assert str(book_order(fake, placed).order.lmtPrice) == "100.05"
    await adapter.cancel(placed.broker_order_id)
    assert (await adapter.order(placed.broker_order_id)).status is OrderStatus.CANCELED


async def test_a_filled_order_cannot_be_modified(fake: FakeIB, adapter: IbAdapter) -> None:
    placed = await adapter.place(order_request(quantity="2"))
    fake.fill(int(placed.broker_order_id), D(2), D("100.00"))
    await arrive()
    with pytest.raises(Rejected, match="no longer be modified"):
        await adapter.modify(placed.broker_order_id, Modify(price=D("99")))


async def test_cancel_ends_the_order_canceled(fake: FakeIB, adapter: IbAdapter) -> None:
    placed = await adapter.place(order_request())
    await adapter.cancel(placed.broker_order_id)
    current = await adapter.order(placed.broker_order_id)
    assert (current.status, current.raw_status) == (OrderStatus.CANCELED, "Cancelled")
    assert book_order(fake, placed).status == "Cancelled"


async def test_partial_fill_then_fill_with_statuses_from_quantities(
        fake: FakeIB, adapter: IbAdapter) -> None:
    placed = await adapter.place(order_request())
    perm = int(placed.broker_order_id)
    fake.fill(perm, D(4), D("100.00"))
    await arrive()
    partial = await adapter.order(placed.broker_order_id)
    assert (partial.status, partial.raw_status, partial.filled_quantity) == (
        OrderStatus.PARTIALLY_FILLED, "Submitted", D(4))
    first = await adapter.fills(placed.broker_order_id)
    assert [(f.quantity, f.price) for f in first] == [(D(4), D("100.00"))]

    fake.fill(perm, D(6), D("100.05"))
    await arrive()
    done = await adapter.order(placed.broker_order_id)
    both = await adapter.fills(placed.broker_order_id)
    assert (done.status, done.filled_quantity, done.avg_price) == (
        OrderStatus.FILLED, D(10), D("100.03"))
    assert [(f.quantity, f.price, f.commission) for f in both] == [
        (D(4), D("100.00"), D("1.00")), (D(6), D("100.05"), D("1.00"))]
    assert len({f.exec_id for f in both}) == 2
    assert {f.broker_order_id for f in both} == {placed.broker_order_id}


async def test_a_rejected_order_raises_with_ibs_reason(fake: FakeIB, adapter: IbAdapter) -> None:
    fake.reject_next_place("Insufficient funds")
    request = order_request()
    with pytest.raises(Rejected, match="Insufficient funds") as raised:
        await adapter.place(request)
    assert raised.value.code == "201"
    assert fake.order_by_ref(request.order_id) == []


async def test_a_duplicate_order_id_is_not_sent_and_a_retry_places_once(
        fake: FakeIB, adapter: IbAdapter) -> None:
    fake.duplicate_next_place()
    request = order_request()
    with pytest.raises(NotSent, match="Duplicate order id"):
        await adapter.place(request)
    assert fake.order_by_ref(request.order_id) == []
    await adapter.place(request)
    assert len(fake.order_by_ref(request.order_id)) == 1


async def test_fills_are_deduplicated_and_wait_for_their_commission(
        fake: FakeIB, adapter: IbAdapter) -> None:
    placed = await adapter.place(order_request(quantity="5"))
    exec_id = fake.fill(int(placed.broker_order_id), D(5), D("100.00"), commission=None)
    assert await adapter.fills(placed.broker_order_id) == []  # its commission is on its way
    fake.report_commission(exec_id, D("1.25"))
    once = await adapter.fills(placed.broker_order_id)
    again = await adapter.fills(placed.broker_order_id)  # IB re-sends the execution
    assert [(f.quantity, f.commission) for f in once] == [(D(5), D("1.25"))]
    assert again == once


async def test_fills_of_one_order_leave_out_the_others(fake: FakeIB, adapter: IbAdapter) -> None:
    first = await adapter.place(order_request(quantity="2"))
    second = await adapter.place(order_request(quantity="3"))
    fake.fill(int(first.broker_order_id), D(2), D("100.00"))
    fake.fill(int(second.broker_order_id), D(3), D("100.01"))
    mine = await adapter.fills(second.broker_order_id)
    everything = await adapter.fills()
    assert [(f.broker_order_id, f.quantity) for f in mine] == [(second.broker_order_id, D(3))]
    assert [f.quantity for f in everything] == [D(2), D(3)]
    assert await adapter.fills("not-an-ib-id") == []


async def test_a_fill_whose_commission_never_comes_is_reported_after_the_grace(
        fake: FakeIB, adapter: IbAdapter, clock: Clock) -> None:
    placed = await adapter.place(order_request(quantity="5"))
    fake.fill(int(placed.broker_order_id), D(5), D("100.00"), commission=None)
    assert await adapter.fills() == []
    clock.ahead = timedelta(seconds=11)
    late = await adapter.fills()
    assert [(f.quantity, f.commission) for f in late] == [(D(5), D(0))]


async def test_a_correction_replaces_its_original_under_the_same_exec_id(
        fake: FakeIB, adapter: IbAdapter) -> None:
    placed = await adapter.place(order_request(quantity="5"))
    original = fake.fill(int(placed.broker_order_id), D(5), D("100.00"))
    before = await adapter.fills(placed.broker_order_id)
    corrected = fake.correct(original, commission=D("0.80"))
    after = await adapter.fills(placed.broker_order_id)
    assert corrected.endswith(".02")
    assert [(f.quantity, f.commission) for f in before] == [(D(5), D("1.00"))]
    assert [(f.quantity, f.commission) for f in after] == [(D(5), D("0.80"))]
    assert after[0].exec_id == before[0].exec_id


async def test_a_lost_acknowledgement_is_unknown_and_found_by_tag(
        fake: FakeIB, clock: Clock) -> None:
    impatient = make_adapter(fake, clock, timeout=0.2)
    try:
        fake.stall_next_place()
        request = order_request()
        with pytest.raises(Unknown):
            await impatient.place(request)
        found = await impatient.find_by_tag(request.order_id)
    finally:
        await impatient.aclose()
    assert found is not None
    assert (found.tag, found.quantity, found.status) == (
        request.order_id, D(10), OrderStatus.ACCEPTED)
    assert found.broker_order_id == str(fake.order_by_ref(request.order_id)[0].perm_id)
    assert len(fake.order_by_ref(request.order_id)) == 1


async def test_an_unused_tag_is_not_found(adapter: IbAdapter) -> None:
    assert await adapter.find_by_tag(str(uuid.uuid4())) is None


@pytest.mark.parametrize("broker_order_id", ["999999999", "abc", "0"])
async def test_an_unknown_order_id_is_not_found(adapter: IbAdapter,
                                                broker_order_id: str) -> None:
    with pytest.raises(OrderNotFound):
        await adapter.order(broker_order_id)


async def test_a_drop_during_place_is_unknown_then_the_adapter_reconnects(
        fake: FakeIB, adapter: IbAdapter) -> None:
    await adapter.positions()  # connected
    fake.drop_on_next_place()
    request = order_request()
    with pytest.raises(Unknown):
        await adapter.place(request)
    assert not fake.isConnected()
    found = await adapter.find_by_tag(request.order_id)
    assert fake.connects == 2
    assert found is not None
    assert found.status in WORKING
    await adapter.cancel(found.broker_order_id)  # bound to this client again after reconnect
    assert fake.order_by_ref(request.order_id)[0].status == "Cancelled"


async def test_a_refused_connection_has_certainly_not_placed(fake: FakeIB,
                                                             adapter: IbAdapter) -> None:
    fake.refuse_connections = True
    request = order_request()
    with pytest.raises(NotSent, match="unreachable"):
        await adapter.place(request)
    assert fake.order_by_ref(request.order_id) == []
    fake.refuse_connections = False
    placed = await adapter.place(request)
    assert placed.status in WORKING


async def test_orders_of_another_ib_client_are_read_but_not_changed(
        fake: FakeIB, adapter: IbAdapter) -> None:
    perm = fake.place_from_other_client(CLIENT_ID + 1, "placed-by-another-worker")
    seen = await adapter.order(str(perm))
    assert (seen.status, seen.tag) == (OrderStatus.ACCEPTED, "placed-by-another-worker")
    with pytest.raises(NotSent, match="client id 8") as raised:
        await adapter.cancel(str(perm))
    assert raised.value.code == "other_ib_client"
    assert fake.book[perm].status == "Submitted"


async def test_positions_and_funds_reflect_a_fill(fake: FakeIB, adapter: IbAdapter) -> None:
    placed = await adapter.place(order_request(quantity="3"))
    fake.fill(int(placed.broker_order_id), D(3), D("100.00"))
    await arrive()
    positions = await adapter.positions()
    assert [(p.symbol, p.exchange, p.quantity, p.avg_price) for p in positions] == [
        ("SPY", "NYSEARCA", D(3), D("100.00"))]
    funds = await adapter.funds()
    assert (funds.currency, funds.available_cash, funds.used_margin) == (
        "USD", D("99625.00"), D("75.00"))


async def test_build_connects_lazily_and_a_closed_port_is_not_sent() -> None:
    with socket.socket() as probe:  # a local port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(ib_host="127.0.0.1", ib_port=port, ib_client_id=40)
    adapter = build(BrokerSession(broker_user_id=ACCOUNT), settings)
    connection = shared_connection(settings)
    assert connection.endpoint.client_id == 40  # + pool index 0 outside a Celery pool
    assert not connection.ib.isConnected()
    try:
        with pytest.raises(NotSent, match="unreachable"):
            await adapter.place(order_request())
    finally:
        await adapter.aclose()
        connection.close()


async def test_without_ib_host_nothing_is_sent() -> None:
    adapter = build(BrokerSession(broker_user_id=ACCOUNT), Settings(ib_host=None))
    with pytest.raises(NotSent, match="IB_HOST"):
        await adapter.funds()
