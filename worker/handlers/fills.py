"""The one fill path: every execution, from any broker, is booked here."""

from __future__ import annotations

import uuid
from dataclasses import replace
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import accounts, fills, orders
from shared.domain import events as ev
from shared.domain import positions
from shared.domain.errors import NotFound
from shared.domain.fees import FeeSchedule, fill_fee
from shared.domain.orders import Change
from worker.runtime import Runtime

NO_FEES = FeeSchedule()


async def book_fill(conn: AsyncConnection, change: Change, fill: ev.Filled,
                    fees: FeeSchedule = NO_FEES) -> Change:
    """Book one execution on a locked order: fills ledger, position, cash, reservations.

    A paper order pays `fees` (the paper exchange's profile); a broker's fill carries the
    commission the broker reported.

    Returns `change` with the fill applied, or `change` itself when the fill is not new: the
    order already has its trade id (the domain), or the account does (the ledger's unique key).
    Locks run order → position → account everywhere, so concurrent fills cannot deadlock.
    """
    before = change.after
    if before.is_paper:
        # The paper exchange charges its fee profile; a broker reports its own commission.
        fill = replace(fill, commission=fill_fee(
            fees, filled_before=before.filled_quantity,
            notional_before=before.filled_notional, quantity=fill.quantity, price=fill.price))
    booked = change.then(fill)
    if booked is change:
        return change
    after = booked.after
    recorded = await fills.insert_fill(conn, {
        "id": uuid.uuid4(), "order_id": before.id, "user_id": before.user_id,
        "account_id": before.account_id, "broker": before.broker,
        "broker_exec_id": fill.trade_id, "symbol": before.symbol, "side": before.side.value,
        "quantity": fill.quantity, "price": fill.price, "commission": fill.commission,
        # No margin product is traded yet, so every charge is brokerage.
        "brokerage_charge": fill.commission, "mtf_charge": Decimal(0),
        "executed_at": fill.at})
    if not recorded:
        return change
    held = await accounts.lock_position(conn, before.account_id, before.user_id, before.symbol)
    position = positions.apply_fill(
        positions.Position(held["quantity"], held["avg_price"], held["realized_pnl"]),
        before.side, fill.quantity, fill.price)
    await accounts.update_position(
        conn, before.account_id, before.symbol, quantity=position.quantity,
        avg_price=position.avg_price, realized_pnl=position.realized_pnl,
        release_quantity=before.reserved_quantity - after.reserved_quantity)
    await accounts.apply_cash(
        conn, before.account_id,
        delta=positions.cash_delta(before.side, fill.quantity, fill.price) - fill.commission,
        release=before.reserved_cash - after.reserved_cash)
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
