"""Submit accepted orders to the paper exchange; each order in its own transaction."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import market, orders
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from shared.domain.orders import transition
from worker.brokers.paper.matching import Action, PaperOrder, Quote, decide
from worker.handlers.closing import close_order
from worker.handlers.fills import BrokerExecution, apply_execution
from worker.runtime import Change, Runtime

log = logging.getLogger(__name__)


async def submit_orders(runtime: Runtime, order_ids: list[str]) -> int:
    """Submit each order once; returns how many this delivery actually moved."""
    changes: list[Change] = []
    for order_id in order_ids:
        changes += await runtime.in_transaction(functools.partial(_submit, order_id=order_id))
    await runtime.publish(changes)
    return len({str(row["id"]) for row, _ in changes})


async def _submit(conn: AsyncConnection, *, order_id: str) -> list[Change]:
    oid = uuid.UUID(order_id)
    row = await orders.claim_for_submit(conn, oid, broker_order_id=f"PAPER-{oid.hex[:16]}")
    if row is None:
        return []  # a redelivery, or canceled before we got to it
    changes: list[Change] = [(row, OrderStatus.PENDING_NEW.value)]
    quote_row = await market.get_quote(conn, row["symbol"])
    if quote_row is None:
        changes.append(await close_order(conn, row, OrderStatus.REJECTED,
                                    f"no quote for {row['symbol']}"))
        await orders.log_events(conn, changes)
        return changes
    quote = Quote(quote_row["bid"], quote_row["ask"], quote_row["last"])
    decision = decide(_paper_order(row), quote)
    if decision.action is Action.CANCEL:
        changes.append(await close_order(conn, row, OrderStatus.CANCELED, decision.reason))
    else:
        accepted = await orders.set_status(conn, row, transition(
            OrderStatus.SUBMITTED, OrderStatus.ACCEPTED))
        changes.append((accepted, row["status"]))
        if decision.action is Action.FILL:
            assert decision.price is not None
            filled = await apply_execution(conn, accepted, BrokerExecution(
                exec_id=f"{oid.hex}-1", quantity=Decimal(row["quantity"]),
                price=decision.price, executed_at=datetime.now(UTC)))
            if filled is not None:
                changes.append((filled, accepted["status"]))
    await orders.log_events(conn, changes)
    return changes


def _paper_order(row: Mapping[Any, Any]) -> PaperOrder:
    return PaperOrder(side=Side(row["side"]), order_type=OrderType(row["order_type"]),
                      time_in_force=TimeInForce(row["time_in_force"]), price=row["price"],
                      stop_price=row["stop_price"])
