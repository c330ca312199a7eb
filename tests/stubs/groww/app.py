"""A local Groww Trade API v1: token, orders, trades, positions and margins, in memory.

Speaks the documented wire format: the {"status": "SUCCESS"|"FAILURE", "payload"|"error"}
envelope with GA0xx codes, bearer tokens, X-API-VERSION, JSON bodies, the annexure's enums and
statuses (NEW → ACKED → EXECUTED, MODIFICATION_REQUESTED, CANCELLATION_REQUESTED → CANCELLED,
REJECTED with a remark), order_reference_id rules and GA007 on a reused one, 429s. Time passes
when someone looks: a read moves a NEW order to ACKED, a requested change to its outcome.
The harness changes state from the test thread, so every access holds `book.lock`.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.brokers.india import IST

API_KEY = "groww-stub-api-key"
API_SECRET = "groww-stub-api-secret"
TOTP = "246810"
ISINS = {"INFY": "INE009A01021"}
ENUMS = {
    "validity": {"DAY", "IOC", "EOS", "GTC", "GTD"}, "exchange": {"NSE", "BSE"},
    "segment": {"CASH", "FNO"}, "product": {"CNC", "MIS", "NRML", "MTF", "ARB", "BO", "CO"},
    "order_type": {"MARKET", "LIMIT", "SL", "SL_M"}, "transaction_type": {"BUY", "SELL"},
}
PLACE_FIELDS = ("trading_symbol", "quantity", "validity", "exchange", "segment", "product",
                "order_type", "transaction_type", "order_reference_id")
WORKING = {"NEW", "ACKED", "TRIGGER_PENDING", "APPROVED", "MODIFICATION_REQUESTED", "EXECUTED"}
REFERENCE = re.compile(r"[A-Za-z0-9-]{8,20}")
Json = dict[str, Any]


def _now() -> str:
    return datetime.now(IST).strftime("%Y-%m-%dT%H:%M:%S")


class GrowwBook:
    """The one account's orders, trades, positions, cash and the test's controls."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token = "groww-stub-token-0"
        self.tokens = {self.token}
        self.orders: dict[str, Json] = {}
        self.trades: dict[str, list[Json]] = {}
        self.positions: dict[tuple[str, str, str], Json] = {}
        self.cash = Decimal(1_000_000)
        self.used = Decimal(0)
        self.to_reject: dict[str, str] = {}
        self.throttled = 0
        self.stall = 0.0
        self.modify_stall = 0.0
        self.reject_reason: str | None = None
        self.cancel_refusal: str | None = None
        self._ids = itertools.count(1)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):016d}"

    def advance(self, order: Json) -> Json:
        """Let the exchange catch up with what was asked of this order."""
        status = order["order_status"]
        if status == "NEW" and order["groww_order_id"] in self.to_reject:
            order.update(order_status="REJECTED",
                         remark=self.to_reject.pop(order["groww_order_id"]))
        elif status in ("NEW", "MODIFICATION_REQUESTED"):
            order.update(order_status="EXECUTED" if order["filled_quantity"] else "ACKED",
                         exchange_time=_now())
        elif status == "CANCELLATION_REQUESTED":
            order.update(order_status="CANCELLED", remark="Order cancelled")
        return order

    def fill(self, order_id: str, quantity: int, price: Decimal) -> None:
        """Execute `quantity` of a working order at `price`, with its trade and position."""
        order = self.advance(self.orders[order_id])
        if order["order_status"] not in WORKING or quantity > order["remaining_quantity"]:
            raise ValueError(f"order {order_id} cannot fill {quantity} "
                             f"({order['order_status']}, {order['remaining_quantity']} open)")
        filled = order["filled_quantity"] + quantity
        value = order["average_fill_price"] * order["filled_quantity"] + price * quantity
        order.update(filled_quantity=filled, remaining_quantity=order["quantity"] - filled,
                     order_status="EXECUTED",
                     average_fill_price=(value / filled).quantize(Decimal("0.01"),
                                                                  ROUND_HALF_EVEN))
        self.trades.setdefault(order_id, []).append({
            "groww_trade_id": self.next_id("GTR"), "groww_order_id": order_id,
            "exchange_trade_id": self.next_id(""), "exchange_order_id": self.next_id("1"),
            "trading_symbol": order["trading_symbol"], "isin": ISINS[order["trading_symbol"]],
            "quantity": quantity, "price": price, "trade_status": "EXECUTED",
            "exchange": order["exchange"], "segment": order["segment"],
            "product": order["product"], "transaction_type": order["transaction_type"],
            "remark": "", "created_at": _now(), "trade_date_time": _now(),
            "settlement_number": "2025001"})
        self._book_position(order, quantity, price)

    def _book_position(self, order: Json, quantity: int, price: Decimal) -> None:
        key = (order["trading_symbol"], order["exchange"], order["product"])
        row = self.positions.setdefault(key, {
            "trading_symbol": key[0], "segment": "CASH", "exchange": key[1], "product": key[2],
            "symbol_isin": ISINS[key[0]], "credit_quantity": 0, "credit_price": Decimal(0),
            "debit_quantity": 0, "debit_price": Decimal(0), "carry_forward_credit_quantity": 0,
            "carry_forward_credit_price": 0, "carry_forward_debit_quantity": 0,
            "carry_forward_debit_price": 0, "quantity": 0, "net_carry_forward_quantity": 0,
            "net_price": Decimal(0), "net_carry_forward_price": 0, "realised_pnl": 0})
        side = "credit" if order["transaction_type"] == "BUY" else "debit"
        held = row[f"{side}_quantity"]
        row[f"{side}_price"] = (row[f"{side}_price"] * held + price * quantity) / (held + quantity)
        row[f"{side}_quantity"] = held + quantity
        row["quantity"] = row["credit_quantity"] - row["debit_quantity"]
        row["net_price"] = row["credit_price"] if row["quantity"] >= 0 else row["debit_price"]
        value = price * quantity
        self.cash += -value if side == "credit" else value
        self.used += value if side == "credit" else 0


def dumps(value: Any) -> str:
    """JSON with Decimals as exact numbers (the stdlib would refuse them)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return format(value, "f")
    return json.dumps(value)


def _reply(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json")


def _ok(payload: Json) -> Response:
    return _reply({"status": "SUCCESS", "payload": payload})


def _fail(status: int, code: str, message: str) -> Response:
    return _reply({"status": "FAILURE", "error": {"code": code, "message": message}}, status)


def _is_price(value: Any) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool) and value > 0


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _order_problem(body: Json) -> str | None:
    """What Groww would refuse in an order's type, price and trigger price."""
    kind = body.get("order_type")
    if kind not in ENUMS["order_type"]:
        return f"Invalid order_type {kind!r}"
    if not _is_count(body.get("quantity")):
        return "quantity must be a positive integer"
    if kind in ("LIMIT", "SL") and not _is_price(body.get("price")):
        return f"price is required for a {kind} order"
    if kind in ("SL", "SL_M") and not _is_price(body.get("trigger_price")):
        return f"trigger_price is required for a {kind} order"
    return None


def _place_problem(body: Json) -> str | None:
    for field in PLACE_FIELDS:
        if body.get(field) in (None, ""):
            return f"{field} is required"
    for field, allowed in ENUMS.items():
        if body[field] not in allowed:
            return f"Invalid {field} {body[field]!r}"
    reference = str(body["order_reference_id"])
    if not REFERENCE.fullmatch(reference) or reference.count("-") > 2:
        return "order_reference_id must be 8 to 20 alphanumeric characters, at most two hyphens"
    if body["trading_symbol"] not in ISINS:
        return f"Invalid trading_symbol {body['trading_symbol']!r}"
    return _order_problem(body)


def _create(book: GrowwBook, request: Request, body: Json) -> Response:
    problem = _place_problem(body)
    if problem:
        return _fail(400, "GA001", problem)
    reference = body["order_reference_id"]
    if any(o["order_reference_id"] == reference for o in book.orders.values()):
        return _fail(400, "GA007", "Duplicate order reference id")
    order_id = book.next_id("GMK")
    kind, quantity = body["order_type"], body["quantity"]
    book.orders[order_id] = {
        "groww_order_id": order_id, "trading_symbol": body["trading_symbol"],
        "order_status": "NEW", "remark": "Order placed successfully", "quantity": quantity,
        "price": body.get("price") if kind in ("LIMIT", "SL") else 0,
        "trigger_price": body.get("trigger_price") if kind in ("SL", "SL_M") else None,
        "filled_quantity": 0, "remaining_quantity": quantity, "average_fill_price": Decimal(0),
        "deliverable_quantity": 0, "amo_status": "NA", "validity": body["validity"],
        "exchange": body["exchange"], "order_type": kind,
        "transaction_type": body["transaction_type"], "segment": body["segment"],
        "product": body["product"], "created_at": _now(), "exchange_time": None,
        "trade_date": _now(), "order_reference_id": reference}
    if book.reject_reason is not None:
        book.to_reject[order_id], book.reject_reason = book.reject_reason, None
    return _ok({"groww_order_id": order_id, "order_status": "NEW",
                "order_reference_id": reference, "remark": "Order placed successfully"})


def _working(book: GrowwBook, body: Json) -> Json | Response:
    """The working order a modify/cancel names, or the refusal."""
    if body.get("segment") not in ENUMS["segment"]:
        return _fail(400, "GA001", "segment is required")
    order = book.orders.get(str(body.get("groww_order_id")))
    if order is None:
        return _fail(404, "GA004", "Requested entity does not exist")
    if book.advance(order)["order_status"] not in WORKING or not order["remaining_quantity"]:
        return _fail(400, "GA006", f"Cannot process this request: order is "
                                   f"{order['order_status']}")
    return order


def _modify(book: GrowwBook, request: Request, body: Json) -> Response:
    order = _working(book, body)
    if isinstance(order, Response):
        return order
    problem = _order_problem(body)
    if problem or body["quantity"] <= order["filled_quantity"]:
        return _fail(400, "GA001", problem or "quantity must exceed the filled quantity")
    kind = body["order_type"]
    order.update(order_type=kind, quantity=body["quantity"],
                 remaining_quantity=body["quantity"] - order["filled_quantity"],
                 price=body.get("price") if kind in ("LIMIT", "SL") else 0,
                 trigger_price=body.get("trigger_price") if kind in ("SL", "SL_M") else None,
                 order_status="MODIFICATION_REQUESTED")
    return _ok({"groww_order_id": order["groww_order_id"], "order_status": order["order_status"]})


def _cancel(book: GrowwBook, request: Request, body: Json) -> Response:
    order = _working(book, body)
    if isinstance(order, Response):
        return order
    if book.cancel_refusal is not None:
        refusal, book.cancel_refusal = book.cancel_refusal, None
        return _fail(400, "GA006", f"Cannot process this request: {refusal}")
    order["order_status"] = "CANCELLATION_REQUESTED"
    return _ok({"groww_order_id": order["groww_order_id"], "order_status": order["order_status"]})


def _found(book: GrowwBook, request: Request) -> Json | Response:
    if request.query_params.get("segment") not in ENUMS["segment"]:
        return _fail(400, "GA001", "segment is required")
    order = book.orders.get(request.path_params["order_id"])
    return _fail(404, "GA004", "Requested entity does not exist") if order is None else order


def _detail(book: GrowwBook, request: Request, body: Json) -> Response:
    order = _found(book, request)
    return order if isinstance(order, Response) else _ok(dict(book.advance(order)))


def _status(order: Json) -> Json:
    keys = ("groww_order_id", "order_status", "remark", "filled_quantity", "order_reference_id")
    return {key: order[key] for key in keys}


def _status_by_reference(book: GrowwBook, request: Request, body: Json) -> Response:
    if request.query_params.get("segment") not in ENUMS["segment"]:
        return _fail(400, "GA001", "segment is required")
    reference = request.path_params["reference"]
    for order in book.orders.values():
        if order["order_reference_id"] == reference:
            return _ok(_status(book.advance(order)))
    return _fail(404, "GA004", "Requested entity does not exist")


def _page(request: Request, largest: int) -> tuple[int, int] | Response:
    try:
        page = int(request.query_params.get("page", "0"))
        size = int(request.query_params.get("page_size", "25"))
    except ValueError:
        return _fail(400, "GA001", "page and page_size must be integers")
    if page < 0 or not 0 < size <= largest:
        return _fail(400, "GA001", f"page_size must be between 1 and {largest}")
    return page, size


def _list(book: GrowwBook, request: Request, body: Json) -> Response:
    paging = _page(request, 100)
    if isinstance(paging, Response):
        return paging
    page, size = paging
    rows = [dict(book.advance(order)) for order in book.orders.values()]
    return _ok({"order_list": rows[page * size:(page + 1) * size]})


def _trades(book: GrowwBook, request: Request, body: Json) -> Response:
    order = _found(book, request)
    if isinstance(order, Response):
        return order
    paging = _page(request, 50)
    if isinstance(paging, Response):
        return paging
    page, size = paging
    rows = book.trades.get(order["groww_order_id"], [])
    return _ok({"trade_list": rows[page * size:(page + 1) * size]})


def _positions(book: GrowwBook, request: Request, body: Json) -> Response:
    segment = request.query_params.get("segment")
    rows = [row for row in book.positions.values() if segment in (None, row["segment"])]
    return _ok({"positions": rows})


# The account's demat holdings, in the documented GET /v1/holdings/user shape.
HOLDINGS: tuple[Json, ...] = (
    {"isin": "INE154A01025", "trading_symbol": "ITC", "quantity": 8,
     "average_price": Decimal("410.50"), "pledge_quantity": 0, "demat_locked_quantity": 0,
     "groww_locked_quantity": 0, "repledge_quantity": 0, "t1_quantity": 0,
     "demat_free_quantity": 8, "corporate_action_additional_quantity": 0,
     "active_demat_transfer_quantity": 0},
)


def _holdings(book: GrowwBook, request: Request, body: Json) -> Response:
    return _ok({"holdings": [dict(row) for row in HOLDINGS]})


def _margins(book: GrowwBook, request: Request, body: Json) -> Response:
    # As Groww reports it: clear_cash is gross, the balances available are net of margin used.
    zero = Decimal(0)
    return _ok({
        "clear_cash": book.cash + book.used, "net_margin_used": book.used,
        "brokerage_and_charges": zero,
        "collateral_used": zero, "collateral_available": zero, "adhoc_margin": zero,
        "equity_margin_details": {
            "net_equity_margin_used": book.used, "cnc_margin_used": book.used,
            "mis_margin_used": zero, "cnc_balance_available": book.cash,
            "mis_balance_available": book.cash},
        "fno_margin_details": {
            "net_fno_margin_used": zero, "span_margin_used": zero, "exposure_margin_used": zero,
            "future_balance_available": zero, "option_buy_balance_available": zero,
            "option_sell_balance_available": zero}})


def _token(book: GrowwBook, request: Request, body: Json) -> Response:
    kind = body.get("key_type")
    if kind == "approval":
        stamp = body.get("timestamp")
        expected = hashlib.sha256(f"{API_SECRET}{stamp}".encode()).hexdigest()
        good = isinstance(stamp, int) and abs(time.time() - stamp) <= 300 and (
            body.get("checksum") == expected)
    else:
        good = kind == "totp" and body.get("totp") == TOTP
    if not good:
        # The token endpoint explains itself in error.displayMessage (growwapi reads it).
        return _reply({"status": "FAILURE", "error": {
            "code": "GA001", "displayMessage": "Invalid checksum, timestamp or TOTP"}}, 400)
    token = book.next_id("groww-stub-token-")
    book.tokens.add(token)
    return _reply({"token": token, "tokenRefId": book.next_id("ref"), "sessionName": "api",
                   "expiry": None, "isActive": True})


Handler = Callable[[GrowwBook, Request, Json], Response]


def _refusal(book: GrowwBook, request: Request, login: bool) -> Response | None:
    """Throttling, then the bearer credential, then the documented headers."""
    if book.throttled > 0:
        book.throttled -= 1
        # Answered by the gateway before the API: not the GA0xx envelope (growwapi maps the
        # bare HTTP 429 to GrowwAPIRateLimitException).
        return _reply({"message": "Too Many Requests"}, 429)
    bearer = request.headers.get("authorization", "")
    allowed = {API_KEY} if login else book.tokens
    if not bearer.startswith("Bearer ") or bearer.removeprefix("Bearer ") not in allowed:
        return _fail(401, "GA005", "User not authorised to perform this operation")
    if request.headers.get("x-api-version") != "1.0":
        return _fail(400, "GA001", "X-API-VERSION header must be 1.0")
    if request.method == "POST" and not request.headers.get(
            "content-type", "").startswith("application/json"):
        return _fail(400, "GA001", "Content-Type must be application/json")
    return None


def _endpoint(handler: Handler, *, login: bool = False,
              stalls: str | None = None) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        book: GrowwBook = request.app.state.book
        raw = await request.body()
        with book.lock:
            refusal = _refusal(book, request, login)
        if refusal is not None:
            return refusal
        try:
            body = json.loads(raw, parse_float=Decimal) if request.method == "POST" else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _fail(400, "GA001", "Request body must be a JSON object")
        with book.lock:
            response = handler(book, request, body)
            # `stalls` names the book's stall for this endpoint (place and modify have one each)
            delay = getattr(book, stalls) if stalls and response.status_code == 200 else 0.0
            if stalls and delay:
                setattr(book, stalls, 0.0)
        if delay:
            await asyncio.sleep(delay)
        return response
    return endpoint


def create_app(book: GrowwBook) -> Starlette:
    """The stub's ASGI app over `book`, served at its root like api.groww.in."""
    get, post = ["GET"], ["POST"]
    app = Starlette(routes=[
        Route("/v1/token/api/access", _endpoint(_token, login=True), methods=post),
        Route("/v1/order/create", _endpoint(_create, stalls="stall"), methods=post),
        Route("/v1/order/modify", _endpoint(_modify, stalls="modify_stall"), methods=post),
        Route("/v1/order/cancel", _endpoint(_cancel), methods=post),
        Route("/v1/order/detail/{order_id}", _endpoint(_detail), methods=get),
        Route("/v1/order/status/reference/{reference}", _endpoint(_status_by_reference),
              methods=get),
        Route("/v1/order/list", _endpoint(_list), methods=get),
        Route("/v1/order/trades/{order_id}", _endpoint(_trades), methods=get),
        Route("/v1/positions/user", _endpoint(_positions), methods=get),
        Route("/v1/holdings/user", _endpoint(_holdings), methods=get),
        Route("/v1/margins/detail/user", _endpoint(_margins), methods=get),
    ])
    app.state.book = book
    return app
