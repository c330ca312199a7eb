"""Random event sequences through the order aggregate keep its books right after every step."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import events as ev
from shared.domain.errors import InvalidTransition, OverFill
from shared.domain.orders import LATE_FILL_STATUSES, Order, apply, is_terminal
from shared.domain.values import PRICE_PLACES
from tests.unit.factories import T0, new_order

QUANTITIES = st.integers(min_value=1, max_value=60).map(Decimal)
PRICES = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000"), places=4)
# A small pool of trade ids, so the same execution is often delivered again.
FILLS = st.builds(lambda trade, qty, price: ev.Filled(f"T-{trade}", qty, price, T0),
                  st.integers(0, 6), QUANTITIES, PRICES)
EVENTS = st.one_of(
    FILLS, FILLS,
    st.just(ev.Submitted("PAPER-1")), st.just(ev.PlacementStarted()),
    st.builds(ev.Placed, st.sampled_from(["B-1", "B-2"])),
    st.just(ev.PlacementNotSent("never received")), st.just(ev.Accepted()),
    st.just(ev.Rejected("refused")), st.just(ev.CancelRequested()), st.just(ev.Canceled()),
    st.just(ev.CancelRejected("refused")), st.just(ev.Expired()),
    st.builds(ev.BrokerStatusNoted, st.sampled_from(["OPEN", "COMPLETE"])),
    st.builds(ev.Waiting, st.sampled_from(["waiting: down", "checking"])),
)
START = st.builds(lambda broker, quantity: new_order(
    str(quantity), broker=broker, reserved_cash=str(quantity * 5000)),
    st.sampled_from(["paper", "zerodha"]), st.integers(min_value=1, max_value=100))


def _fold(booked: dict[str, ev.Filled]) -> Decimal | None:
    quantity = sum((f.quantity for f in booked.values()), Decimal(0))
    if not quantity:
        return None
    notional = sum((f.quantity * f.price for f in booked.values()), Decimal(0))
    return (notional / quantity).quantize(PRICE_PLACES, rounding=ROUND_HALF_EVEN)


def _check(before: Order, event: ev.OrderEvent, after: Order,
           booked: dict[str, ev.Filled]) -> None:
    assert after.filled_quantity + after.leaves == after.quantity
    assert after.filled_quantity == sum((f.quantity for f in booked.values()), Decimal(0))
    assert after.avg_fill_price == _fold(booked)
    assert 0 <= after.reserved_cash <= before.reserved_cash
    if is_terminal(after.status):
        assert after.reserved_cash == after.reserved_quantity == 0
    if is_terminal(before.status):
        assert after.status is before.status  # final stays final
        if after is not before:
            assert isinstance(event, ev.Filled | ev.BrokerStatusNoted)
            assert isinstance(event, ev.BrokerStatusNoted) or before.status in LATE_FILL_STATUSES


@settings(max_examples=400, deadline=None)
@given(START, st.lists(EVENTS, max_size=30))
def test_every_step_keeps_quantities_average_and_finality(
        start: Order, events: list[ev.OrderEvent]) -> None:
    order, booked = start, {}
    for event in events:
        repeat = isinstance(event, ev.Filled) and event.trade_id in booked
        try:
            after = apply(order, event)
        except (InvalidTransition, OverFill):
            continue  # refused: the order is untouched (it is immutable) and stays in use
        if repeat:
            assert after is order  # a trade seen before changes nothing
        elif isinstance(event, ev.Filled):
            booked[event.trade_id] = event
        _check(order, event, after, booked)
        assert after.version == order.version + (after is not order)
        order = after
