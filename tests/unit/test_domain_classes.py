"""Order classes' pure rules: what a bracket, oto or oco must say, and what fills do to legs."""

from __future__ import annotations

import uuid
from dataclasses import replace
from decimal import Decimal

import pytest

from shared.domain import events as ev
from shared.domain.classes import (
    SIBLING_FILLED,
    Exits,
    StopLoss,
    TakeProfit,
    after_sibling_fill,
    check_class,
    exit_validity,
    grow,
    new_legs,
)
from shared.domain.enums import OrderClass, OrderType, Side, TimeInForce
from shared.domain.errors import InvalidOrder
from shared.domain.orders import Change
from shared.domain.risk import Instrument, OrderRequest
from tests.unit.factories import T0, S, new_order

AAPL = Instrument("AAPL", "USD", tick_size=Decimal("0.01"), lot_size=Decimal(1))
D = Decimal
BRACKET = Exits(TakeProfit(D("110")), StopLoss(D("90")))


def _req(side: Side = Side.BUY, order_type: OrderType = OrderType.LIMIT,
         price: str | None = "100") -> OrderRequest:
    return OrderRequest("AAPL", side, order_type, D(100), D(price) if price else None, None,
                        TimeInForce.GTC)


def _field(order_class: OrderClass, req: OrderRequest, exits: Exits) -> str:
    with pytest.raises(InvalidOrder) as caught:
        check_class(order_class, req, exits, AAPL)
    return str(caught.value.details["field"])


@pytest.mark.parametrize(("order_class", "req", "exits"), [
    (OrderClass.BRACKET, _req(), BRACKET),
    (OrderClass.BRACKET, _req(Side.BUY, OrderType.MARKET, None), BRACKET),
    (OrderClass.BRACKET, _req(), Exits(TakeProfit(D(110)), StopLoss(D(90), D("89.5")))),
    (OrderClass.OTO, _req(), Exits(stop_loss=StopLoss(D(90)))),
    (OrderClass.OTO, _req(), Exits(take_profit=TakeProfit(D(110)))),
    (OrderClass.OCO, _req(Side.SELL, price="110"), Exits(stop_loss=StopLoss(D(90)))),
    (OrderClass.OCO, _req(Side.SELL, price="110"), BRACKET),
    (OrderClass.SIMPLE, _req(), Exits()),
])
def test_sane_classes_pass(order_class: OrderClass, req: OrderRequest, exits: Exits) -> None:
    check_class(order_class, req, exits, AAPL)


@pytest.mark.parametrize(("order_class", "req", "exits", "field"), [
    (OrderClass.SIMPLE, _req(), Exits(stop_loss=StopLoss(D(90))), "stop_loss"),
    (OrderClass.BRACKET, _req(), Exits(take_profit=TakeProfit(D(110))), "stop_loss"),
    (OrderClass.BRACKET, _req(), Exits(stop_loss=StopLoss(D(90))), "take_profit"),
    (OrderClass.BRACKET, _req(Side.SELL), BRACKET, "side"),
    (OrderClass.OTO, _req(), BRACKET, "take_profit"),
    (OrderClass.OTO, _req(), Exits(), "take_profit"),
    # The take-profit above the stop, both on the right side of the entry's price.
    (OrderClass.BRACKET, _req(), Exits(TakeProfit(D(95)), StopLoss(D(96))),
     "take_profit.limit_price"),
    (OrderClass.BRACKET, _req(), Exits(TakeProfit(D(100)), StopLoss(D(90))),
     "take_profit.limit_price"),
    (OrderClass.BRACKET, _req(), Exits(TakeProfit(D(110)), StopLoss(D(100))),
     "stop_loss.stop_price"),
    (OrderClass.BRACKET, _req(), Exits(TakeProfit(D(110)), StopLoss(D(90), D("90.5"))),
     "stop_loss.limit_price"),
    # Each exit is validated like a new order: ticks and bounds.
    (OrderClass.BRACKET, _req(), Exits(TakeProfit(D("110.001")), StopLoss(D(90))),
     "take_profit.limit_price"),
    (OrderClass.BRACKET, _req(), Exits(TakeProfit(D(110)), StopLoss(D("-1"))),
     "stop_loss.stop_price"),
    (OrderClass.OCO, _req(Side.SELL, OrderType.MARKET, None), Exits(stop_loss=StopLoss(D(90))),
     "order_type"),
    (OrderClass.OCO, _req(Side.BUY, price="110"), Exits(stop_loss=StopLoss(D(90))), "side"),
    (OrderClass.OCO, _req(Side.SELL, price="110"), Exits(take_profit=TakeProfit(D(110))),
     "stop_loss"),
    (OrderClass.OCO, _req(Side.SELL, price="110"), Exits(TakeProfit(D(111)), StopLoss(D(90))),
     "take_profit.limit_price"),
    (OrderClass.OCO, _req(Side.SELL, price="90"), Exits(stop_loss=StopLoss(D(95))),
     "take_profit.limit_price"),
])
def test_a_class_that_makes_no_sense_names_its_field(order_class: OrderClass,
                                                     req: OrderRequest, exits: Exits,
                                                     field: str) -> None:
    assert _field(order_class, req, exits) == field


def test_a_leg_error_message_names_the_leg_field() -> None:
    with pytest.raises(InvalidOrder, match="take_profit.limit_price must be a multiple"):
        check_class(OrderClass.BRACKET, _req(),
                    Exits(TakeProfit(D("110.001")), StopLoss(D(90))), AAPL)


def test_exit_terms_survive_their_stored_form() -> None:
    exits = Exits(TakeProfit(D("110.5")), StopLoss(D(90), D("89.5")))
    assert Exits.from_json(exits.to_json()) == exits
    assert Exits.from_json(Exits(stop_loss=StopLoss(D(90))).to_json()).take_profit is None



def test_a_bracket_entry_opens_a_sell_take_profit_holding_the_shares_and_a_bare_stop() -> None:
    entry = new_order(order_class=OrderClass.BRACKET, time_in_force=TimeInForce.GTC)
    tp, sl = new_legs(entry, Exits(TakeProfit(D(110)), StopLoss(D(90), D("89.5"))), D(40),
                      oco=False, ids=[uuid.uuid4(), uuid.uuid4()], now=T0)
    assert (tp.side, tp.order_type, tp.price, tp.quantity) == (Side.SELL, OrderType.LIMIT,
                                                              D(110), D(40))
    assert (sl.side, sl.order_type, sl.stop_price, sl.price) == (Side.SELL, OrderType.STOP_LIMIT,
                                                                D(90), D("89.5"))
    assert tp.parent_id == sl.parent_id == entry.id
    assert tp.order_class is sl.order_class is OrderClass.BRACKET
    assert (tp.reserved_quantity, sl.reserved_quantity) == (D(40), D(0))
    assert tp.status is sl.status is S.PENDING_NEW


def test_an_oco_order_opens_only_its_stop_loss_on_the_same_side_holding_nothing() -> None:
    parent = new_order(side=Side.SELL, order_class=OrderClass.OCO, price=D(110))
    (sl,) = new_legs(parent, Exits(stop_loss=StopLoss(D(90))), D(100), oco=True,
                     ids=[uuid.uuid4()], now=T0)
    assert (sl.side, sl.order_type, sl.stop_price, sl.reserved_quantity) == (
        Side.SELL, OrderType.STOP, D(90), D(0))


@pytest.mark.parametrize(("tif", "kept"), [
    (TimeInForce.DAY, TimeInForce.DAY), (TimeInForce.GTC, TimeInForce.GTC),
    (TimeInForce.IOC, TimeInForce.GTC), (TimeInForce.FOK, TimeInForce.GTC)])
def test_exits_keep_a_day_or_gtc_entry_validity_and_outlive_an_immediate_one(
        tif: TimeInForce, kept: TimeInForce) -> None:
    assert exit_validity(new_order(time_in_force=tif))[0] is kept


def _working_leg(quantity: str = "100", filled: str = "0") -> Change:
    leg = replace(new_order(quantity, side=Side.SELL, price=D(110)), status=S.ACCEPTED,
                  reserved_quantity=D(quantity) - D(filled), filled_quantity=D(filled))
    return Change(leg)


def _apply(change: Change, events: list[ev.OrderEvent]) -> Change:
    for event in events:
        change = change.then(event)
    return change


def test_a_partial_fill_on_one_leg_takes_as_much_off_its_sibling() -> None:
    sibling = _working_leg("100")
    after = _apply(sibling, after_sibling_fill(sibling.after, D(30), leg_done=False)).after
    assert (after.quantity, after.status, after.reserved_quantity) == (D(70), S.ACCEPTED, D(70))


def test_a_filled_leg_cancels_its_sibling() -> None:
    sibling = _working_leg("100", filled="20")
    after = _apply(sibling, after_sibling_fill(sibling.after, D(80), leg_done=True)).after
    assert (after.status, after.reject_reason, after.reserved_quantity) == (
        S.CANCELED, SIBLING_FILLED, D(0))


def test_a_sibling_being_canceled_is_canceled_by_a_fill_of_its_leg() -> None:
    sibling = Change(_working_leg().after).then(ev.CancelRequested())
    assert after_sibling_fill(sibling.after, D(10), leg_done=False) == [
        ev.Canceled(SIBLING_FILLED)]


def test_a_later_entry_fill_grows_the_open_leg() -> None:
    leg = _working_leg("40", filled="10")
    after = _apply(leg, grow(leg.after, D(60))).after
    assert (after.quantity, after.filled_quantity, after.reserved_quantity) == (D(100), D(10),
                                                                                D(90))
