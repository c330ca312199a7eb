"""A local Kite Connect v3: login, regular orders, trades, portfolio and margins, in memory.

It answers as kite.trade/docs/connect/v3 documents: `X-Kite-Version: 3` required, `Authorization:
token api_key:access_token`, form-encoded POST/PUT bodies, `{"status": "success", "data": ...}`
or `{"status": "error", "message": ..., "error_type": ...}` with the documented HTTP codes, and
order history rows PUT ORDER REQ RECEIVED -> VALIDATION PENDING -> OPEN PENDING -> OPEN. Like
Kite, it accepts a place and then rejects the order in its risk checks (status REJECTED with
the reason in status_message). `KiteExchange` holds the state; tests drive it from their own
thread, so every read and change happens under one lock. With a `postback_url`, every order
update (fill, cancel, reject, modify) is POSTed there as Kite's postback JSON.
Unverified detail: Kite's HTTP code for an unknown order id (we answer 400 GeneralException
"Couldn't find that `order_id`.", the message Kite's clients are seen handling).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from itertools import count
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.brokers.india import IST

log = logging.getLogger(__name__)
FORM = "application/x-www-form-urlencoded"
INSTRUMENTS = {("NSE", "INFY"): 408065, ("NSE", "SBIN"): 779521, ("BSE", "INFY"): 128053508}
WORKING = {"OPEN", "TRIGGER PENDING"}
FINAL = {"COMPLETE", "CANCELLED", "REJECTED"}
Row = dict[str, Any]


class KiteError(Exception):
    """An error answer: HTTP status, Kite error_type and message."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message


def dumps(value: object) -> str:
    """JSON with Decimals written as exact numbers (Kite sends prices as JSON numbers)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def sha256(*parts: str) -> str:
    """Hex SHA-256 of the concatenated parts (Kite's login and postback checksums)."""
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def _now() -> str:
    return datetime.now(IST).strftime("%Y-%m-%d %H:%M:%S")


def _require(form: Mapping[str, str], name: str, allowed: set[str] | None = None) -> str:
    value = form.get(name, "")
    if not value:
        raise KiteError(400, "InputException", f"Missing `{name}`.")
    if allowed is not None and value not in allowed:
        raise KiteError(400, "InputException", f"Invalid `{name}`.")
    return value


def _amount(form: Mapping[str, str], name: str, *, whole: bool = False) -> Decimal:
    try:
        value = Decimal(_require(form, name))
    except InvalidOperation:
        raise KiteError(400, "InputException", f"Invalid `{name}`.") from None
    if not value.is_finite() or value <= 0 or (whole and value != int(value)):
        raise KiteError(400, "InputException", f"Invalid `{name}`.")
    return value


class KiteExchange:
    """One Kite account's broker side: tokens, order book, trades, controls. Thread-safe."""

    def __init__(self, *, api_key: str, api_secret: str, access_token: str, user_id: str,
                 postback_url: str | None = None, issue_refresh_tokens: bool = True,
                 cash: Decimal = Decimal("1000000")) -> None:
        self.api_key, self.api_secret, self.user_id = api_key, api_secret, user_id
        self.initial_token, self.postback_url = access_token, postback_url
        self.issue_refresh_tokens, self.cash = issue_refresh_tokens, cash
        self.lock = threading.RLock()
        self.access_tokens = {access_token}
        self.request_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.orders: dict[str, list[Row]] = {}
        self.trades: list[Row] = []
        self.holdings = [_holding("SBIN", "NSE", "INE062A01020", 5, Decimal("500.00"))]
        self.reject_reason: str | None = None
        self.throttled = 0
        self.stall_seconds = 0.0
        self._order_ids, self._trade_ids = count(1), count(10000001)

    # --- sessions ------------------------------------------------------------------------

    def check(self, request: Request, *, authenticated: bool = True) -> None:
        """Refuse a throttled, unversioned or unauthenticated request as Kite does."""
        with self.lock:
            if self.throttled > 0:
                self.throttled -= 1
                raise KiteError(429, "NetworkException", "Too many requests")
            if request.headers.get("x-kite-version") != "3":
                raise KiteError(400, "InputException", "Invalid or missing `X-Kite-Version`.")
            given = request.headers.get("authorization", "")
            valid = {f"token {self.api_key}:{token}" for token in self.access_tokens}
            if authenticated and given not in valid:
                raise KiteError(403, "TokenException", "Incorrect `api_key` or `access_token`.")

    def login(self, form: Mapping[str, str]) -> Row:
        """POST /session/token: a single-use request token for an access token."""
        token = _require(form, "request_token")
        with self.lock:
            self._check_app(form, token)
            if token not in self.request_tokens:
                raise KiteError(403, "TokenException", "Token is invalid or has expired.")
            self.request_tokens.discard(token)
            refresh = secrets.token_hex(16) if self.issue_refresh_tokens else ""
            if refresh:
                self.refresh_tokens.add(refresh)
            return self._session(refresh)

    def renew(self, form: Mapping[str, str]) -> Row:
        """POST /session/refresh_token: a held refresh token for a new access token."""
        token = _require(form, "refresh_token")
        with self.lock:
            self._check_app(form, token)
            if token not in self.refresh_tokens:
                raise KiteError(403, "TokenException", "Token is invalid or has expired.")
            return self._session(token)

    def _check_app(self, form: Mapping[str, str], token: str) -> None:
        if _require(form, "api_key") != self.api_key:
            raise KiteError(403, "TokenException", "Invalid `api_key`.")
        if _require(form, "checksum") != sha256(self.api_key, token, self.api_secret):
            raise KiteError(403, "TokenException", "Invalid `checksum`.")

    def _session(self, refresh_token: str) -> Row:
        access = secrets.token_hex(16)
        self.access_tokens.add(access)
        return {"user_type": "individual", "email": "kite@example.com", "user_name": "Kite Stub",
                "user_shortname": "Stub", "broker": "ZERODHA", "exchanges": ["NSE", "BSE"],
                "products": ["CNC", "NRML", "MIS"],
                "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
                "user_id": self.user_id, "api_key": self.api_key, "access_token": access,
                "public_token": secrets.token_hex(8), "refresh_token": refresh_token,
                "login_time": _now(), "meta": {"demat_consent": "consent"}}

    # --- orders --------------------------------------------------------------------------

    def place(self, form: Mapping[str, str]) -> tuple[str, float, bytes | None]:
        """POST /orders/regular: (order id, seconds to stall, REJECTED postback or None)."""
        row = _new_order(form)
        with self.lock:
            order_id = f"{datetime.now(IST):%y%m%d}{next(self._order_ids):09d}"
            row.update(order_id=order_id, placed_by=self.user_id, order_timestamp=_now())
            history = [dict(row, status=s) for s in ("PUT ORDER REQ RECEIVED",
                                                     "VALIDATION PENDING")]
            self.orders[order_id] = history
            reason, self.reject_reason = self.reject_reason, None
            stall, self.stall_seconds = self.stall_seconds, 0.0
            if reason is not None:
                self._append(order_id, status="REJECTED", status_message=reason,
                             status_message_raw=f"RMS:{reason}")
                return order_id, stall, self.postback(order_id)
            self._append(order_id, status="OPEN PENDING")
            opened = "TRIGGER PENDING" if row["order_type"] in ("SL", "SL-M") else "OPEN"
            self._append(order_id, status=opened, exchange_order_id=f"13{order_id}",
                         exchange_timestamp=_now(), exchange_update_timestamp=_now())
            return order_id, stall, None

    def modify(self, order_id: str, form: Mapping[str, str]) -> bytes:
        """PUT /orders/regular/{order_id}: new terms for a working order; its postback."""
        with self.lock:
            current = self._working(order_id)
            change: Row = {}
            if "order_type" in form:
                change["order_type"] = _require(form, "order_type", {"MARKET", "LIMIT", "SL",
                                                                     "SL-M"})
            for name in ("price", "trigger_price"):
                if name in form:
                    change[name] = _amount(form, name)
            order_type = str(change.get("order_type", current["order_type"]))
            protection = _protection(form, order_type)
            if "market_protection" in form:
                change["market_protection"] = protection
            if "quantity" in form:
                change["quantity"] = int(_amount(form, "quantity", whole=True))
                if change["quantity"] < current["filled_quantity"]:
                    raise KiteError(400, "OrderException", "Quantity is below the filled one.")
                change["pending_quantity"] = change["quantity"] - current["filled_quantity"]
            for status in ("MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED"):
                self._append(order_id, status=status)
            stop = change.get("order_type", current["order_type"]) in ("SL", "SL-M")
            resting = "TRIGGER PENDING" if stop and not current["filled_quantity"] else "OPEN"
            self._append(order_id, status=resting, modified=True, **change)
            return self.postback(order_id, status="UPDATE")

    def cancel(self, order_id: str) -> bytes:
        """Cancel a working order (DELETE /orders/regular/{order_id}, or the exchange)."""
        with self.lock:
            current = self._working(order_id)
            self._append(order_id, status="CANCEL PENDING")
            # As in Kite's order book: pending_quantity stays, cancelled_quantity says why.
            self._append(order_id, status="CANCELLED",
                         cancelled_quantity=current["pending_quantity"])
            return self.postback(order_id)

    def fill(self, order_id: str, quantity: int, price: Decimal) -> bytes:
        """Execute part or all of a working order; the UPDATE or COMPLETE postback."""
        with self.lock:
            row = self._working(order_id)
            if not 0 < quantity <= row["pending_quantity"]:
                raise ValueError(f"cannot fill {quantity} of {row['pending_quantity']} open")
            filled = row["filled_quantity"] + quantity
            average = (row["average_price"] * row["filled_quantity"] + price * quantity) / filled
            pending = row["quantity"] - filled
            self.trades.append({
                "trade_id": str(next(self._trade_ids)), "order_id": order_id,
                "exchange": row["exchange"], "tradingsymbol": row["tradingsymbol"],
                "instrument_token": row["instrument_token"], "product": row["product"],
                "average_price": price, "quantity": quantity,
                "exchange_order_id": row["exchange_order_id"],
                "transaction_type": row["transaction_type"], "fill_timestamp": _now(),
                "order_timestamp": _now()[11:], "exchange_timestamp": _now()})
            self._append(order_id, status="COMPLETE" if pending == 0 else "OPEN",
                         filled_quantity=filled, pending_quantity=pending, average_price=average,
                         exchange_update_timestamp=_now())
            return self.postback(order_id, status=None if pending == 0 else "UPDATE")

    def _append(self, order_id: str, **change: Any) -> None:
        history = self.orders[order_id]
        history.append(dict(history[-1], **change))

    def _working(self, order_id: str) -> Row:
        current = self.history(order_id)[-1]
        if current["status"] in FINAL:
            raise KiteError(400, "OrderException",
                            f"Order cannot be changed as it is {current['status'].lower()}.")
        return current

    def history(self, order_id: str) -> list[Row]:
        """GET /orders/{order_id}: every state of the order, oldest first."""
        with self.lock:
            if order_id not in self.orders:
                raise KiteError(400, "GeneralException", "Couldn't find that `order_id`.")
            return [dict(row) for row in self.orders[order_id]]

    def book(self) -> list[Row]:
        """GET /orders: the current state of each of today's orders."""
        with self.lock:
            return [dict(history[-1]) for history in self.orders.values()]

    def order_trades(self, order_id: str | None = None) -> list[Row]:
        """GET /trades or GET /orders/{order_id}/trades."""
        with self.lock:
            if order_id is not None and order_id not in self.orders:
                raise KiteError(400, "GeneralException", "Couldn't find that `order_id`.")
            return [dict(t) for t in self.trades if order_id in (None, t["order_id"])]

    def tagged(self, tag: str) -> int:
        """How many orders carry `tag`."""
        with self.lock:
            return sum(1 for history in self.orders.values() if history[0]["tag"] == tag)

    def postback(self, order_id: str, *, status: str | None = None) -> bytes:
        """Kite's postback JSON for the order as it stands, checksummed with the app secret."""
        with self.lock:
            row = self.orders[order_id][-1]
            payload = {"user_id": self.user_id, "unfilled_quantity": row["pending_quantity"],
                       "app_id": 1234,
                       "checksum": sha256(order_id, row["order_timestamp"], self.api_secret),
                       **row, "status": status or row["status"]}
            return dumps(payload).encode()

    # --- portfolio -----------------------------------------------------------------------

    def positions(self) -> Row:
        """GET /portfolio/positions: today's trades netted per symbol and product."""
        with self.lock:
            net: dict[tuple[str, str, str], Row] = {}
            for trade in self.trades:
                key = (trade["tradingsymbol"], trade["exchange"], trade["product"])
                row = net.setdefault(key, _position(*key, trade["instrument_token"]))
                side = "buy" if trade["transaction_type"] == "BUY" else "sell"
                row[f"{side}_quantity"] += trade["quantity"]
                row[f"{side}_value"] += trade["quantity"] * trade["average_price"]
            for row in net.values():
                _settle_position(row)
            rows = list(net.values())
            return {"net": rows, "day": [dict(r) for r in rows]}

    def holdings_rows(self) -> list[Row]:
        """GET /portfolio/holdings: the delivery holdings the account started the day with."""
        with self.lock:
            return [dict(row) for row in self.holdings]

    def margins(self) -> Row:
        """GET /user/margins: cash less what today's buys used, plus what sells freed."""
        with self.lock:
            spent = sum((t["quantity"] * t["average_price"] * (1 if t["transaction_type"] ==
                                                                "BUY" else -1)
                         for t in self.trades), Decimal(0))
            equity = _segment(self.cash, spent)
            return {"equity": equity, "commodity": _segment(Decimal(0), Decimal(0))}

    def deliver(self, body: bytes) -> None:
        """POST a postback to the configured URL (errors are logged, never raised)."""
        url = self.postback_url
        if not url:
            return
        try:
            with httpx.Client(timeout=5.0) as client:
                client.post(url, content=body, headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            log.warning("postback to %s failed: %s", url, exc)


def _protection(form: Mapping[str, str], order_type: str) -> Decimal:
    """market_protection, which Kite requires of MARKET and SL-M orders (-1 or 0 < p <= 100)."""
    text = form.get("market_protection")
    if text is None:
        if order_type in ("MARKET", "SL-M"):
            raise KiteError(400, "InputException",
                            "Market orders without market protection are not allowed via API.")
        return Decimal(0)
    try:
        value = Decimal(text)
    except ArithmeticError:
        value = Decimal(-2)
    if not (value == -1 or 0 < value <= 100):
        raise KiteError(400, "InputException", "Invalid `market_protection`.")
    return value


def _new_order(form: Mapping[str, str]) -> Row:
    exchange = _require(form, "exchange", {"NSE", "BSE", "NFO", "CDS", "BFO", "MCX", "BCD"})
    symbol = _require(form, "tradingsymbol")
    if (exchange, symbol) not in INSTRUMENTS:
        raise KiteError(400, "InputException", "Invalid `tradingsymbol`.")
    order_type = _require(form, "order_type", {"MARKET", "LIMIT", "SL", "SL-M"})
    tag = form.get("tag") or None
    if tag is not None and (len(tag) > 20 or not tag.isalnum()):
        raise KiteError(400, "InputException", "Invalid `tag`: up to 20 letters or digits.")
    quantity = int(_amount(form, "quantity", whole=True))
    priced, triggered = order_type in ("LIMIT", "SL"), order_type in ("SL", "SL-M")
    return {
        "placed_by": "", "order_id": "", "exchange_order_id": None, "parent_order_id": None,
        "status": "", "status_message": None, "status_message_raw": None,
        "order_timestamp": "", "exchange_update_timestamp": None, "exchange_timestamp": None,
        "variety": "regular", "modified": False, "exchange": exchange, "tradingsymbol": symbol,
        "instrument_token": INSTRUMENTS[(exchange, symbol)], "order_type": order_type,
        "transaction_type": _require(form, "transaction_type", {"BUY", "SELL"}),
        "validity": _require(form, "validity", {"DAY", "IOC", "TTL"}), "validity_ttl": 0,
        "product": _require(form, "product", {"CNC", "NRML", "MIS", "MTF"}),
        "quantity": quantity, "disclosed_quantity": 0,
        "price": _amount(form, "price") if priced else Decimal(0),
        "trigger_price": _amount(form, "trigger_price") if triggered else Decimal(0),
        "average_price": Decimal(0), "filled_quantity": 0, "pending_quantity": quantity,
        "cancelled_quantity": 0, "market_protection": _protection(form, order_type),
        "meta": {}, "tag": tag,
        "tags": [tag] if tag else [], "guid": secrets.token_hex(6)}


def _holding(symbol: str, exchange: str, isin: str, quantity: int, average: Decimal) -> Row:
    return {"tradingsymbol": symbol, "exchange": exchange,
            "instrument_token": INSTRUMENTS[(exchange, symbol)], "isin": isin,
            "product": "CNC", "price": 0, "quantity": quantity, "used_quantity": 0,
            "t1_quantity": 0, "realised_quantity": quantity, "authorised_quantity": 0,
            "opening_quantity": quantity, "collateral_quantity": 0, "collateral_type": "",
            "discrepancy": False, "average_price": average, "last_price": average,
            "close_price": average, "pnl": 0, "day_change": 0, "day_change_percentage": 0}


def _position(symbol: str, exchange: str, product: str, token: int) -> Row:
    zeros = ("quantity", "overnight_quantity", "pnl", "m2m", "unrealised", "realised",
             "average_price", "buy_quantity", "buy_price", "buy_value", "sell_quantity",
             "sell_price", "sell_value")
    return {"tradingsymbol": symbol, "exchange": exchange, "instrument_token": token,
            "product": product, "multiplier": 1, **dict.fromkeys(zeros, Decimal(0))}


def _settle_position(row: Row) -> None:
    for side in ("buy", "sell"):
        if row[f"{side}_quantity"]:
            row[f"{side}_price"] = row[f"{side}_value"] / row[f"{side}_quantity"]
        row[f"day_{side}_quantity"] = row[f"{side}_quantity"]
        row[f"day_{side}_price"] = row[f"{side}_price"]
        row[f"day_{side}_value"] = row[f"{side}_value"]
    row["quantity"] = row["buy_quantity"] - row["sell_quantity"]
    row["average_price"] = row["buy_price"] if row["quantity"] >= 0 else row["sell_price"]


def _segment(cash: Decimal, spent: Decimal) -> Row:
    zero = Decimal(0)
    used = ("exposure", "m2m_realised", "m2m_unrealised", "option_premium", "payout", "span",
            "holding_sales", "turnover", "liquid_collateral", "stock_collateral", "delivery")
    return {"enabled": True, "net": cash - spent,
            "available": {"adhoc_margin": zero, "cash": cash, "opening_balance": cash,
                          "live_balance": cash - spent, "collateral": zero,
                          "intraday_payin": zero},
            "utilised": {"debits": spent, **dict.fromkeys(used, zero)}}


# --- HTTP ----------------------------------------------------------------------------------

Endpoint = Callable[[Request], Awaitable[Response]]


def _json(status: int, payload: object, background: BackgroundTask | None = None) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json",
                    background=background)


def _ok(data: object, background: BackgroundTask | None = None) -> Response:
    return _json(200, {"status": "success", "data": data}, background)


def _error(status: int, error_type: str, message: str) -> Response:
    return _json(status, {"status": "error", "message": message, "data": None,
                          "error_type": error_type})


async def _form(request: Request) -> dict[str, str]:
    if not request.headers.get("content-type", "").startswith(FORM):
        raise KiteError(400, "InputException", f"The request body must be {FORM}.")
    return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))


def create_app(exchange: KiteExchange) -> Starlette:
    """The Kite Connect v3 HTTP API over `exchange`, served at the root."""

    def guarded(handler: Endpoint, *, authenticated: bool = True) -> Endpoint:
        async def run(request: Request) -> Response:
            try:
                exchange.check(request, authenticated=authenticated)
                return await handler(request)
            except KiteError as exc:
                return _error(exc.status, exc.error_type, exc.message)
        return run

    def read(fetch: Callable[[Request], object]) -> Endpoint:
        async def handle(request: Request) -> Response:
            return _ok(fetch(request))
        return guarded(handle)

    async def login(request: Request) -> Response:
        form = await _form(request)
        renew = request.url.path.endswith("refresh_token")
        return _ok(exchange.renew(form) if renew else exchange.login(form))

    async def place(request: Request) -> Response:
        order_id, stall, postback = exchange.place(await _form(request))
        if stall:
            # The order is already in the book: only the answer is late (the client times out).
            await asyncio.sleep(stall)
        task = BackgroundTask(exchange.deliver, postback) if postback else None
        return _ok({"order_id": order_id}, task)

    async def change(request: Request) -> Response:
        order_id = request.path_params["order_id"]
        if request.method == "DELETE":
            postback = exchange.cancel(order_id)
        else:
            postback = exchange.modify(order_id, await _form(request))
        return _ok({"order_id": order_id}, BackgroundTask(exchange.deliver, postback))

    async def not_routed(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = "Method not allowed" if status == 405 else "Route not found"
        return _error(status, "GeneralException", message)

    def order_id(request: Request) -> str:
        return str(request.path_params["order_id"])

    routes = [
        Route("/session/token", guarded(login, authenticated=False), methods=["POST"]),
        Route("/session/refresh_token", guarded(login, authenticated=False), methods=["POST"]),
        Route("/orders/regular", guarded(place), methods=["POST"]),
        Route("/orders/regular/{order_id}", guarded(change), methods=["PUT", "DELETE"]),
        Route("/orders", read(lambda r: exchange.book())),
        Route("/orders/{order_id}", read(lambda r: exchange.history(order_id(r)))),
        Route("/orders/{order_id}/trades", read(lambda r: exchange.order_trades(order_id(r)))),
        Route("/trades", read(lambda r: exchange.order_trades())),
        Route("/portfolio/positions", read(lambda r: exchange.positions())),
        Route("/portfolio/holdings", read(lambda r: exchange.holdings_rows())),
        Route("/user/margins", read(lambda r: exchange.margins())),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_routed, 405: not_routed})
