"""Submit accepted orders to the paper exchange: one transaction per delivered batch.

A batch shares one commit (one WAL flush instead of one per order). Locks are taken in one
global order, orders → positions (sorted) → accounts (sorted), so two batches never deadlock.
If a batch fails, its orders are retried one at a time so that one bad order cannot hold up
the others; what still fails is left to the sweeper.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import accounts, market, orders
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from shared.domain.orders import transition
from worker.brokers.paper.matching import Action, PaperOrder, Quote, decide
from worker.handlers.closing import close_order
from worker.handlers.fills import BrokerExecution, apply_execution
from worker.runtime import Change, Runtime

log = logging.getLogger(__name__)


async def submit_orders(runtime: Runtime, order_ids: list[str]) -> int:
    """Submit each order once; returns how many this delivery actually moved."""
    try:
        changes = await runtime.in_transaction(functools.partial(_submit, order_ids=order_ids))
    except Exception:
        if len(order_ids) == 1:
            raise
        log.exception("a batch of %d orders failed; retrying them one by one", len(order_ids))
        changes = await _one_by_one(runtime, order_ids)
    await runtime.publish(changes)
    return len({str(row["id"]) for row, _ in changes})


async def _one_by_one(runtime: Runtime, order_ids: list[str]) -> list[Change]:
    changes: list[Change] = []
    for order_id in order_ids:
        try:
            changes += await runtime.in_transaction(
                functools.partial(_submit, order_ids=[order_id]))
        except Exception:
            log.exception("order %s failed; the sweeper will retry it", order_id)
    return changes


async def _submit(conn: AsyncConnection, *, order_ids: list[str]) -> list[Change]:
    ids = sorted({uuid.UUID(order_id) for order_id in order_ids})
    claimed = await orders.claim_for_submit(conn, ids)  # redeliveries claim nothing
    if not claimed:
        return []
    await accounts.lock_books(conn, [(r["account_id"], r["user_id"], r["symbol"])
                                     for r in claimed])
    quotes = await market.get_quotes(conn, sorted({r["symbol"] for r in claimed}))
    changes: list[Change] = []
    for row in claimed:
        changes.append((row, OrderStatus.PENDING_NEW.value))
        changes += await _execute(conn, row, quotes.get(row["symbol"]))
    await orders.log_events(conn, changes)
    return changes


async def _execute(conn: AsyncConnection, row: RowMapping,
                   quote_row: Mapping[Any, Any] | None) -> list[Change]:
    if quote_row is None:
        return [await close_order(conn, row, OrderStatus.REJECTED,
                                  f"no quote for {row['symbol']}")]
    quote = Quote(quote_row["bid"], quote_row["ask"], quote_row["last"])
    decision = decide(_paper_order(row), quote)
    if decision.action is Action.CANCEL:
        return [await close_order(conn, row, OrderStatus.CANCELED, decision.reason)]
    accepted = await orders.set_status(conn, row, transition(
        OrderStatus.SUBMITTED, OrderStatus.ACCEPTED))
    changes: list[Change] = [(accepted, row["status"])]
    if decision.action is Action.FILL:
        assert decision.price is not None
        filled = await apply_execution(conn, accepted, BrokerExecution(
            exec_id=f"{row['id'].hex}-1", quantity=Decimal(row["quantity"]),
            price=decision.price, executed_at=datetime.now(UTC)))
        if filled is not None:
            changes.append((filled, accepted["status"]))
    return changes


def _paper_order(row: Mapping[Any, Any]) -> PaperOrder:
    return PaperOrder(side=Side(row["side"]), order_type=OrderType(row["order_type"]),
                      time_in_force=TimeInForce(row["time_in_force"]), price=row["price"],
                      stop_price=row["stop_price"])
