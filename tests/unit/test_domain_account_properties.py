"""Random submits, quotes, fills, modifies and cancels on one paper account, through the domain.

A Hypothesis state machine drives the pure domain the way the paper exchange and the API do
(`risk.reservation` to hold cash, `apply` for every order change, `positions.apply_fill` and
`positions.cash_delta` to book a fill) and checks the books after every step: filled + leaves
= quantity, the average price is the exact fold of the fills, the position is the sum of the
signed fills, cash + what the fills spent is conserved, nothing is spent or sold twice, and no
reservation remains once every order is final.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_HALF_EVEN, Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from shared.domain import events as ev
from shared.domain import positions
from shared.domain.enums import OrderType, Side, TimeInForce
from shared.domain.errors import InvalidOrder, InvalidTransition
from shared.domain.orders import Order, apply, is_terminal
from shared.domain.risk import OrderRequest, reservation
from shared.domain.values import PRICE_PLACES
from tests.unit.factories import T0, new_order

START_CASH = Decimal(20_000)  # small enough that buying power often runs out
CUSHION = Decimal("0.05")
PRICES = st.integers(min_value=50, max_value=150).map(Decimal)
QUANTITIES = st.integers(min_value=1, max_value=40).map(Decimal)


class PaperAccount(RuleBasedStateMachine):
    """One account's cash, its one symbol's position and its orders."""

    def __init__(self) -> None:
        super().__init__()
        self.cash = START_CASH
        self.reserved_cash = Decimal(0)
        self.position = positions.Position.flat()
        self.reserved_quantity = Decimal(0)
        self.ask = Decimal(100)
        self.orders: list[Order] = []
        self.fills: dict[int, list[ev.Filled]] = {}
        self.units: dict[int, Decimal] = {}  # cash held per unfilled share of each BUY
        self.spent = Decimal(0)  # Σ buys − Σ sells, at the fill prices
        self.trades = 0

    # --- what the API does ---------------------------------------------------------------

    def _hold(self, order: Order, cash: Decimal, shares: Decimal) -> bool:
        """Take `cash` and `shares` more (or give back, negative); False if not free."""
        if cash > self.cash - self.reserved_cash or shares > (
                self.position.quantity - self.reserved_quantity):
            return False
        self.reserved_cash += cash
        self.reserved_quantity += shares
        return True

    def _release(self, before: Order, after: Order) -> None:
        self.reserved_cash -= before.reserved_cash - after.reserved_cash
        self.reserved_quantity -= before.reserved_quantity - after.reserved_quantity

    @rule(side=st.sampled_from(Side), market=st.booleans(), quantity=QUANTITIES, price=PRICES)
    def submit(self, side: Side, market: bool, quantity: Decimal, price: Decimal) -> None:
        kind = OrderType.MARKET if market else OrderType.LIMIT
        req = OrderRequest("AAPL", side, kind, quantity, None if market else price, None,
                           TimeInForce.GTC)
        cash = reservation(req, self.ask, CUSHION)
        shares = quantity if side is Side.SELL else Decimal(0)
        order = replace(new_order(str(quantity), side=side, reserved_cash=str(cash),
                                  reserved_quantity=str(shares)),
                        order_type=kind, price=req.price)
        if not self._hold(order, cash, shares):
            return  # refused: insufficient buying power or position, nothing held
        order = apply(apply(order, ev.Submitted("PAPER-1")), ev.Accepted())
        self.orders.append(order)
        self.fills[len(self.orders) - 1] = []
        self.units[len(self.orders) - 1] = cash / quantity

    @rule(ask=PRICES)
    def quote(self, ask: Decimal) -> None:
        self.ask = ask

    def _open(self) -> list[int]:
        return [i for i, order in enumerate(self.orders) if not is_terminal(order.status)]

    @precondition(lambda self: self._open())
    @rule(data=st.data())
    def fill(self, data: st.DataObject) -> None:
        index = data.draw(st.sampled_from(self._open()))
        order = self.orders[index]
        quantity = data.draw(st.integers(1, int(order.leaves)).map(Decimal))
        # A venue fills a BUY at its limit or better, a MARKET BUY within its cushion.
        unit = order.price if order.price is not None else self.ask
        price = data.draw(st.integers(max(1, int(unit) - 20), int(unit)).map(Decimal)
                          if order.side is Side.BUY else
                          st.integers(int(unit), int(unit) + 20).map(Decimal))
        self.trades += 1
        fill = ev.Filled(f"T-{self.trades}", quantity, price, T0)
        after = apply(order, fill)
        self._book(order, after, fill)
        self.fills[index].append(fill)
        self.orders[index] = after

    def _book(self, before: Order, after: Order, fill: ev.Filled) -> None:
        self.position = positions.apply_fill(self.position, before.side, fill.quantity,
                                             fill.price)
        delta = positions.cash_delta(before.side, fill.quantity, fill.price)
        self.cash += delta
        self.spent -= delta
        self._release(before, after)

    @precondition(lambda self: self._open())
    @rule(data=st.data(), quantity=QUANTITIES, price=PRICES, refused=st.booleans())
    def modify(self, data: st.DataObject, quantity: Decimal, price: Decimal,
               refused: bool) -> None:
        index = data.draw(st.sampled_from(self._open()))
        order = self.orders[index]
        terms = replace(order.terms, quantity=order.filled_quantity + quantity,
                        price=price if order.order_type is OrderType.LIMIT else None)
        try:
            pending = apply(order, ev.ReplaceRequested(terms))
        except (InvalidOrder, InvalidTransition):
            return  # nothing to change, or not replaceable now: the order is untouched
        if refused:
            self.orders[index] = apply(pending, ev.ReplaceRejected("refused"))
            assert self.orders[index].terms == order.terms
            return
        # The paper exchange recomputes the BUY's hold for what the new terms leave unfilled.
        leaves = terms.quantity - order.filled_quantity
        req = OrderRequest("AAPL", order.side, order.order_type, leaves, terms.price, None,
                           TimeInForce.GTC)
        cash = reservation(req, self.ask, CUSHION)
        shares = leaves if order.side is Side.SELL else Decimal(0)
        if not self._hold(order, cash - order.reserved_cash, shares - order.reserved_quantity):
            return  # not enough free to hold the new terms: refused before anything moved
        after = apply(pending, ev.Replaced(reserved_cash=cash))
        assert (after.reserved_cash, after.reserved_quantity) == (cash, shares)
        self.orders[index] = after
        if leaves:
            self.units[index] = cash / leaves

    @precondition(lambda self: self._open())
    @rule(data=st.data(), refused=st.booleans())
    def cancel(self, data: st.DataObject, refused: bool) -> None:
        index = data.draw(st.sampled_from(self._open()))
        order = self.orders[index]
        try:
            pending = apply(order, ev.CancelRequested())
        except InvalidTransition:
            return
        after = apply(pending, ev.CancelRejected("refused") if refused else ev.Canceled())
        self._release(order, after)
        self.orders[index] = after

    # --- the books ---------------------------------------------------------------------

    @invariant()
    def each_order_adds_up(self) -> None:
        for index, order in enumerate(self.orders):
            booked = self.fills[index]
            assert order.filled_quantity + order.leaves == order.quantity
            assert order.filled_quantity == sum((f.quantity for f in booked), Decimal(0))
            if booked:
                notional = sum((f.quantity * f.price for f in booked), Decimal(0))
                assert order.avg_fill_price == (notional / order.filled_quantity).quantize(
                    PRICE_PLACES, rounding=ROUND_HALF_EVEN)

    @invariant()
    def an_open_order_holds_what_its_unfilled_part_may_cost(self) -> None:
        for index, order in enumerate(self.orders):
            if is_terminal(order.status):
                continue
            due = self.units[index] * order.leaves
            # Within the rounding of one share of the hold: never short, never money stuck.
            assert abs(order.reserved_cash - due) <= Decimal("0.0001") * order.quantity
            if order.side is Side.SELL:
                assert order.reserved_quantity == order.leaves

    @invariant()
    def position_is_the_sum_of_signed_fills(self) -> None:
        signed = sum((f.quantity if order.side is Side.BUY else -f.quantity
                      for i, order in enumerate(self.orders) for f in self.fills[i]),
                     Decimal(0))
        assert self.position.quantity == signed

    @invariant()
    def cash_is_conserved_and_never_spent_twice(self) -> None:
        assert self.cash + self.spent == START_CASH
        assert self.reserved_cash == sum((o.reserved_cash for o in self.orders), Decimal(0))
        assert self.reserved_quantity == sum((o.reserved_quantity for o in self.orders),
                                             Decimal(0))
        assert 0 <= self.reserved_cash <= self.cash
        assert 0 <= self.reserved_quantity <= max(self.position.quantity, Decimal(0))

    @invariant()
    def nothing_is_held_once_every_order_is_final(self) -> None:
        if all(is_terminal(order.status) for order in self.orders):
            assert self.reserved_cash == self.reserved_quantity == 0


PaperAccount.TestCase.settings = settings(max_examples=150, stateful_step_count=40,
                                          deadline=None)
test_a_paper_account_keeps_its_books_through_any_sequence = PaperAccount.TestCase
