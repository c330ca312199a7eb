"""Orders built in memory for the pure domain tests."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.domain import events as ev
from shared.domain.enums import OrderStatus, OrderType, Placement, Side, TimeInForce
from shared.domain.orders import Order

S = OrderStatus
T0 = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)


def new_order(quantity: str = "100", *, broker: str = "paper", reserved_cash: str = "0",
              reserved_quantity: str = "0", side: Side = Side.BUY, **fields: Any) -> Order:
    """A PENDING_NEW limit order as the API inserts it."""
    order = Order(
        id=uuid.uuid4(), user_id=uuid.uuid4(), account_id=uuid.uuid4(), broker=broker,
        symbol="AAPL", side=side, order_type=OrderType.LIMIT, quantity=Decimal(quantity),
        price=Decimal("10"), stop_price=None, time_in_force=TimeInForce.DAY,
        status=S.PENDING_NEW, version=1, created_at=T0, updated_at=T0,
        reserved_cash=Decimal(reserved_cash), reserved_quantity=Decimal(reserved_quantity),
        broker_tag=None if broker == "paper" else "og-tag")
    return replace(order, **fields)


def fill(trade_id: str, quantity: str, price: str = "10") -> ev.Filled:
    """An execution report."""
    return ev.Filled(trade_id=trade_id, quantity=Decimal(quantity), price=Decimal(price), at=T0)


def order_in(status: OrderStatus, quantity: str = "100", **fields: Any) -> Order:
    """A consistent order in `status` at a real broker, filled 10 where the status says so."""
    base = new_order(quantity, broker="zerodha")
    placed = {"placement": Placement.IN_FLIGHT, "placement_attempts": 1}
    filled_ten = {"filled_quantity": Decimal(10), "avg_fill_price": Decimal(10),
                  "filled_notional": Decimal(100), "trade_ids": frozenset({"T-0"})}
    shapes: dict[OrderStatus, dict[str, Any]] = {
        S.PENDING_NEW: {},
        S.SUBMITTED: placed,
        S.ACCEPTED: {**placed, "broker_order_id": "B-1", "placement": Placement.PLACED},
        S.PARTIALLY_FILLED: {**placed, "broker_order_id": "B-1", **filled_ten},
        S.TRIGGERED: {**placed, "broker_order_id": "B-1", "placement": Placement.PLACED,
                      "order_type": OrderType.STOP, "price": None, "stop_price": Decimal(10)},
        S.PENDING_CANCEL: {**placed, "previous_status": S.ACCEPTED},
        S.PENDING_REPLACE: {**placed, "previous_status": S.ACCEPTED,
                            "pending_terms": replace(base.terms, quantity=Decimal(200))},
        S.FILLED: {"broker_order_id": "B-1", "filled_quantity": Decimal(quantity),
                   "avg_fill_price": Decimal(10), "filled_notional": Decimal(quantity) * 10,
                   "trade_ids": frozenset({"T-0"})},
        S.CANCELED: {"broker_order_id": "B-1"},
        S.EXPIRED: {"broker_order_id": "B-1"},
        S.REJECTED: {},
    }
    return replace(base, status=status, **{**shapes[status], **fields})
