"""The stub Upstox's account: orders, trades and the exchange-side controls, in memory.

`Book.lock` guards every change: the harness drives the exchange side from the test thread
while the server answers from its own.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shared.brokers.india import IST

FINAL = frozenset({"complete", "cancelled", "rejected"})
CENT = Decimal("0.01")


class Refusal(Exception):
    """An Upstox error answer: HTTP status, error code, message, offending property."""

    def __init__(self, status: int, code: str, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.path = status, code, message, path


def encode(value: Any) -> str:
    """JSON with Decimal written as exact numbers."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return json.dumps(value)


@dataclass
class Trade:
    trade_id: str
    quantity: int
    price: Decimal
    at: datetime


@dataclass
class Order:
    order_id: str
    body: dict[str, Any]
    symbol: str
    exchange: str
    placed_at: datetime
    status: str = "put order req received"
    message: str | None = None
    trades: list[Trade] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def filled(self) -> int:
        """Shares executed so far."""
        return sum(t.quantity for t in self.trades)

    def average(self) -> Decimal:
        """The average traded price, to the paisa (0 before any trade)."""
        if not self.trades:
            return Decimal(0)
        value = sum((t.price * t.quantity for t in self.trades), Decimal(0))
        return (value / self.filled).quantize(CENT, ROUND_HALF_UP)

    def row(self) -> dict[str, Any]:
        """The order as OrderBookData (get-order-details)."""
        b = self.body
        stamp = f"{self.placed_at:%Y-%m-%d %H:%M:%S}"
        return {
            "exchange": self.exchange, "product": b["product"], "price": b["price"],
            "quantity": b["quantity"], "status": self.status, "guid": None, "tag": b.get("tag"),
            "instrument_token": b["instrument_token"], "placed_by": "STUB01",
            "trading_symbol": f"{self.symbol}-EQ", "tradingsymbol": f"{self.symbol}-EQ",
            "order_type": b["order_type"], "validity": b["validity"],
            "trigger_price": b["trigger_price"], "disclosed_quantity": b["disclosed_quantity"],
            "transaction_type": b["transaction_type"], "average_price": self.average(),
            "filled_quantity": self.filled, "pending_quantity": b["quantity"] - self.filled,
            "status_message": self.message, "status_message_raw": self.message,
            "exchange_order_id": None if self.status == "rejected" else "1" + self.order_id,
            "parent_order_id": None, "order_id": self.order_id, "variety": "SIMPLE",
            "order_timestamp": stamp, "exchange_timestamp": stamp, "is_amo": b["is_amo"],
            "order_request_id": str(len(self.history) + 1), "order_ref_id": None}

    def move(self, *statuses: str) -> None:
        """Pass through `statuses` in turn, each a row of the order's history."""
        for status in statuses:
            self.status = status
            self.history.append(self.row())

    def trade_rows(self) -> list[dict[str, Any]]:
        """The order's trades as TradeData."""
        return [{"exchange": self.exchange, "product": self.body["product"],
                 "trading_symbol": f"{self.symbol}-EQ", "tradingsymbol": f"{self.symbol}-EQ",
                 "instrument_token": self.body["instrument_token"],
                 "order_type": self.body["order_type"],
                 "transaction_type": self.body["transaction_type"], "quantity": t.quantity,
                 "exchange_order_id": "1" + self.order_id, "order_id": self.order_id,
                 "exchange_timestamp": f"{t.at:%d-%b-%Y %H:%M:%S}", "average_price": t.price,
                 "trade_id": t.trade_id, "order_ref_id": None,
                 "order_timestamp": f"{self.placed_at:%d-%b-%Y %H:%M:%S}"}
                for t in self.trades]


@dataclass
class Book:
    """The account's state and the exchange-side controls."""

    api_key: str
    api_secret: str
    redirect_uri: str
    user_id: str = "STUB01"
    # instrument_token -> (symbol, exchange)
    instruments: dict[str, tuple[str, str]] = field(default_factory=dict)
    cash: Decimal = Decimal("1000000")
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    lock: threading.Lock = field(default_factory=threading.Lock)
    orders: dict[str, Order] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)
    throttled: int = 0
    stall: float = 0.0
    reject: str | None = None
    _serial: int = 0

    def reset(self) -> None:
        """Undo the controls: the account's token valid again, no throttle, stall or reject."""
        with self.lock:
            self.tokens = {self.token}
            self.throttled, self.stall, self.reject = 0, 0.0, None

    def next_id(self) -> str:
        """A new id shaped like Upstox's (yymmdd and a serial, 15 digits)."""
        self._serial += 1
        return f"{datetime.now(IST):%y%m%d}{self._serial:09d}"

    def issue_code(self) -> str:
        """A single-use authorization code, as the login redirect carries it."""
        with self.lock:
            code = secrets.token_urlsafe(6)
            self.codes.add(code)
            return code

    def get_order(self, order_id: str) -> Order:
        """The order with this id, or the UDAPI100010 refusal."""
        order = self.orders.get(order_id)
        if order is None:
            raise Refusal(400, "UDAPI100010", "Order not found", "order_id")
        return order

    def fill(self, order_id: str, quantity: int, price: Decimal) -> None:
        """Execute `quantity` at `price`; the order completes when nothing is left."""
        with self.lock:
            order = self.get_order(order_id)
            if order.status in FINAL or quantity > order.body["quantity"] - order.filled:
                raise ValueError(f"order {order_id} cannot fill {quantity} ({order.status})")
            self._serial += 1
            order.trades.append(Trade(f"5009{self._serial:04d}", quantity, price,
                                      datetime.now(IST)))
            full = order.filled == order.body["quantity"]
            order.move("complete" if full else order.status)

    def positions(self) -> list[dict[str, Any]]:
        """Net positions per instrument and product, as PositionData."""
        totals: dict[tuple[str, str], dict[str, Any]] = {}
        for order in self.orders.values():
            key = (order.body["instrument_token"], order.body["product"])
            row = totals.setdefault(key, {"order": order, "bq": 0, "bv": Decimal(0), "sq": 0,
                                          "sv": Decimal(0)})
            side = "b" if order.body["transaction_type"] == "BUY" else "s"
            for t in order.trades:
                row[side + "q"] += t.quantity
                row[side + "v"] += t.price * t.quantity
        return [_position(key, row) for key, row in totals.items() if row["bq"] or row["sq"]]

    def used_margin(self) -> Decimal:
        """Cash bound by buys: traded value plus the open part of working orders."""
        used = Decimal(0)
        for order in self.orders.values():
            if order.body["transaction_type"] != "BUY" or order.status == "rejected":
                continue
            used += sum((t.price * t.quantity for t in order.trades), Decimal(0))
            if order.status not in FINAL:
                used += order.body["price"] * (order.body["quantity"] - order.filled)
        return used


def _position(key: tuple[str, str], row: dict[str, Any]) -> dict[str, Any]:
    order: Order = row["order"]
    net = row["bq"] - row["sq"]
    side = "b" if net > 0 else "s"
    average = (row[side + "v"] / row[side + "q"]).quantize(CENT) if net else Decimal(0)
    return {"exchange": order.exchange, "multiplier": 1, "product": key[1],
            "instrument_token": key[0], "trading_symbol": order.symbol,
            "tradingsymbol": order.symbol, "quantity": net, "average_price": average,
            "overnight_quantity": 0, "day_buy_quantity": row["bq"], "day_buy_value": row["bv"],
            "day_sell_quantity": row["sq"], "day_sell_value": row["sv"],
            "buy_value": row["bv"], "sell_value": row["sv"]}
