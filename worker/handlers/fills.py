"""The one fill path: every execution, from any broker, is booked here.

A transaction books its fills on `Books`: the positions it holds locked, folded in memory by the
domain's position rules, and written with the cash and the fills ledger by `flush` in two
statements however many fills there were. A batch of orders therefore costs a handful of
statements, not a handful per order.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import accounts, fills, orders
from shared.domain import events as ev
from shared.domain import positions
from shared.domain.enums import Side
from shared.domain.errors import NotFound
from shared.domain.fees import FeeSchedule, fill_fee
from shared.domain.orders import Change
from worker.runtime import Runtime

NO_FEES = FeeSchedule()


class KnownExecution(Exception):  # noqa: N818 - it names what happened, like StopIteration
    """A fill new to its order whose execution id the account's ledger already has."""


class Books:
    """The fills a transaction books, and the positions and accounts they change.

    `book` applies a fill to its order (the domain) and keeps it; `flush` writes the fills
    kept since the last flush into the ledger, folds them into their positions and moves the
    cash, one statement each for all of them. The positions are those `lock` took up front
    (a batch: every lock in one global order), else locked at the flush. Locks run order →
    position → account everywhere, so concurrent fills cannot deadlock.
    """

    def __init__(self, held: Mapping[tuple[uuid.UUID, str], RowMapping] | None = None) -> None:
        self._positions: dict[tuple[uuid.UUID, str], positions.Position] = {}
        self._hold(held or {})
        self._fills: list[tuple[dict[str, Any], Side]] = []
        self._released: dict[tuple[uuid.UUID, str], Decimal] = defaultdict(Decimal)
        self._cash: dict[uuid.UUID, list[Decimal]] = {}  # account: [delta, release]

    @classmethod
    async def lock(cls, conn: AsyncConnection,
                   books: list[tuple[uuid.UUID, uuid.UUID, str]]) -> Books:
        """Lock the positions, then the accounts, of (account, user, symbol) triples."""
        return cls(await accounts.lock_books(conn, books))

    def _hold(self, held: Mapping[tuple[uuid.UUID, str], RowMapping]) -> None:
        for key, row in held.items():
            self._positions[key] = positions.Position(row["quantity"], row["avg_price"],
                                                      row["realized_pnl"])

    def book(self, change: Change, fill: ev.Filled, fees: FeeSchedule = NO_FEES) -> Change:
        """Apply one execution to a locked order and keep it for the flush.

        A paper order pays `fees` (the paper exchange's profile); a broker's fill carries the
        commission the broker reported. Returns `change` with the fill applied, or `change`
        itself when the order already has the fill's trade id.
        """
        before = change.after
        if before.is_paper:
            fill = replace(fill, commission=fill_fee(
                fees, filled_before=before.filled_quantity,
                notional_before=before.filled_notional, quantity=fill.quantity,
                price=fill.price))
        booked = change.then(fill)
        if booked is change:
            return change
        after = booked.after
        self._fills.append(({
            "id": uuid.uuid4(), "order_id": before.id, "user_id": before.user_id,
            "account_id": before.account_id, "broker": before.broker,
            "broker_exec_id": fill.trade_id, "symbol": before.symbol,
            "side": before.side.value, "quantity": fill.quantity, "price": fill.price,
            "commission": fill.commission,
            # No margin product is traded yet, so every charge is brokerage.
            "brokerage_charge": fill.commission, "mtf_charge": Decimal(0),
            "executed_at": fill.at}, before.side))
        self._released[before.account_id, before.symbol] += (before.reserved_quantity
                                                             - after.reserved_quantity)
        cash = self._cash.setdefault(before.account_id, [Decimal(0), Decimal(0)])
        cash[0] += positions.cash_delta(before.side, fill.quantity, fill.price) - fill.commission
        cash[1] += before.reserved_cash - after.reserved_cash
        return booked

    async def flush(self, conn: AsyncConnection) -> None:
        """Write the fills kept since the last flush, then their positions and cash.

        KnownExecution, with only the new fills written, if the ledger already had one of
        them: the caller rolls back, or drops that fill when it was the only one.
        """
        if not self._fills:
            return
        booked, self._fills = self._fills, []
        recorded = await fills.insert_fills(conn, [row for row, _ in booked])
        known = sorted({row["broker_exec_id"] for row, _ in booked} - recorded)
        if known:
            raise KnownExecution(f"executions already booked on the account: {known}")
        missing = [(row["account_id"], row["user_id"], row["symbol"]) for row, _ in booked
                   if (row["account_id"], row["symbol"]) not in self._positions]
        self._hold(await accounts.lock_positions(conn, missing))
        for row, side in booked:
            key = (row["account_id"], row["symbol"])
            self._positions[key] = positions.apply_fill(self._positions[key], side,
                                                        row["quantity"], row["price"])
        released, self._released = self._released, defaultdict(Decimal)
        moves, self._cash = self._cash, {}
        await accounts.write_books(conn, [
            (account_id, symbol, self._positions[account_id, symbol].quantity,
             self._positions[account_id, symbol].avg_price,
             self._positions[account_id, symbol].realized_pnl, release)
            for (account_id, symbol), release in sorted(
                released.items(), key=lambda item: (str(item[0][0]), item[0][1]))], [
            (account_id, delta, release)
            for account_id, (delta, release) in sorted(moves.items(), key=lambda m: str(m[0]))])


async def book_fill(conn: AsyncConnection, change: Change, fill: ev.Filled,
                    fees: FeeSchedule = NO_FEES) -> Change:
    """Book one execution on a locked order at once (see `Books`); `change` itself when the
    fill is not new: the order already has its trade id, or the account does."""
    books = Books()
    booked = books.book(change, fill, fees)
    try:
        await books.flush(conn)
    except KnownExecution:
        return change  # it was the only fill, and nothing else was written
    return booked


async def record_execution(runtime: Runtime, order_id: uuid.UUID, fill: ev.Filled) -> bool:
    """Book a broker's execution report on an order; False if it was already booked."""

    async def work(conn: AsyncConnection) -> Change:
        order = await orders.lock(conn, order_id)
        if order is None:
            raise NotFound(f"order {order_id} not found")
        return await orders.save(conn, await book_fill(conn, Change(order), fill),
                                 actor="paper" if order.is_paper else f"broker:{order.broker}")

    change = await runtime.in_transaction(work)
    await runtime.publish([change])
    return bool(change.steps)
