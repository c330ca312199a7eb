"""A local Upstox: the documented endpoints over the in-memory `Book`.

Serves at its root both the API host (/v2 reads, login) and the order host (/v3 place,
modify, cancel). Requests are checked as Upstox documents them (Bearer token, Accept and
Content-Type, required fields and enums) and refused with its error envelope.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.brokers.india import IST
from tests.stubs.upstox.book import FINAL, Book, Order, Refusal, encode

ORDER_TYPES = frozenset({"MARKET", "LIMIT", "SL", "SL-M"})


def answer(payload: dict[str, Any], status: int = 200) -> Response:
    """A JSON answer with exact numbers."""
    return Response(encode(payload), status_code=status, media_type="application/json")


def refusal(exc: Refusal) -> Response:
    """Upstox's error envelope (camelCase fields and their snake_case twins)."""
    problem = {"errorCode": exc.code, "message": exc.message, "propertyPath": exc.path,
               "invalidValue": None, "error_code": exc.code, "property_path": exc.path,
               "invalid_value": None}
    return answer({"status": "error", "errors": [problem]}, exc.status)


Handler = Callable[[Request, Book], Awaitable[Response]]


def endpoint(book: Book, handler: Handler, *, authed: bool = True
             ) -> Callable[[Request], Awaitable[Response]]:
    """Throttling, the Accept header and the Bearer token, in Upstox's order, then `handler`."""
    async def run(request: Request) -> Response:
        try:
            with book.lock:
                if book.throttled > 0:
                    book.throttled -= 1
                    raise Refusal(429, "UDAPI10005", "Too Many Request Sent")
                if "application/json" not in request.headers.get("accept", ""):
                    raise Refusal(406, "UDAPI100036", "Accept must be application/json")
                bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
                if authed and bearer not in book.tokens:
                    raise Refusal(401, "UDAPI100050", "Invalid token used to access API")
            return await handler(request, book)
        except Refusal as exc:
            return refusal(exc)
    return run


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object of a request sent as application/json, or UDAPI100036."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise Refusal(400, "UDAPI100036", "Invalid Input: Content-Type must be application/json")
    try:
        body = json.loads(await request.body(), parse_float=Decimal)
    except ValueError:
        raise Refusal(400, "UDAPI100036", "Invalid Input: malformed JSON") from None
    if not isinstance(body, dict):
        raise Refusal(400, "UDAPI100036", "Invalid Input: expected a JSON object")
    return body


def _number(body: dict[str, Any], name: str) -> Decimal:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or value < 0:
        raise Refusal(400, "UDAPI100036", f"Invalid Input: {name} must be a number", name)
    return Decimal(value)


def _count(body: dict[str, Any], name: str, *, positive: bool) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < (1 if positive else 0):
        raise Refusal(400, "UDAPI100036", f"Invalid Input: {name} must be a whole number", name)
    return value


def check_terms(body: dict[str, Any]) -> None:
    """Validity, order type and the prices it needs (shared by place and modify)."""
    if "order_type" not in body:
        raise Refusal(400, "UDAPI1004", "Valid order type is required", "order_type")
    if body["order_type"] not in ORDER_TYPES:
        raise Refusal(400, "UDAPI1056", "The 'order_type' is invalid", "order_type")
    if "validity" not in body:
        raise Refusal(400, "UDAPI1007", "Validity is required", "validity")
    if body["validity"] not in {"DAY", "IOC"}:
        raise Refusal(400, "UDAPI1055", "The 'validity' is invalid", "validity")
    price, trigger = _number(body, "price"), _number(body, "trigger_price")
    if body["order_type"] in {"LIMIT", "SL"} and price <= 0:
        raise Refusal(400, "UDAPI100036", "Invalid Input: a limit order needs a price", "price")
    if body["order_type"] in {"SL", "SL-M"} and trigger <= 0:
        raise Refusal(400, "UDAPI100036", "Invalid Input: trigger price required",
                      "trigger_price")
    if "market_protection" in body:
        protection = _number(body, "market_protection")
        if not 0 < protection <= 100:
            raise Refusal(400, "UDAPI100036", "Invalid Input: market_protection is a "
                          "percentage above 0 up to 100", "market_protection")


def check_place(body: dict[str, Any], book: Book) -> None:
    """The documented required fields and enums of POST /v3/order/place."""
    _count(body, "quantity", positive=True)
    _count(body, "disclosed_quantity", positive=False)
    if body.get("product") not in {"D", "I", "MTF"}:
        raise Refusal(400, "UDAPI100036", "Invalid Input: product", "product")
    if body.get("transaction_type") not in {"BUY", "SELL"}:
        raise Refusal(400, "UDAPI100036", "Invalid Input: transaction_type", "transaction_type")
    if not isinstance(body.get("is_amo"), bool) or not isinstance(body.get("slice", False), bool):
        raise Refusal(400, "UDAPI100036", "Invalid Input: is_amo and slice are booleans")
    if not isinstance(body.get("tag", ""), str | None):
        raise Refusal(400, "UDAPI100036", "Invalid Input: tag", "tag")
    if body.get("instrument_token") not in book.instruments:
        raise Refusal(400, "UDAPI100036", "Invalid Input: unknown instrument_token",
                      "instrument_token")
    check_terms(body)


def _success(data: Any, *, latency: bool = False) -> Response:
    payload: dict[str, Any] = {"status": "success", "data": data}
    if latency:
        payload["metadata"] = {"latency": 12}
    return answer(payload)


def _order_id(request: Request) -> str:
    order_id = request.query_params.get("order_id", "")
    if not order_id:
        raise Refusal(400, "UDAPI1023", "Order id is required", "order_id")
    return order_id


async def place(request: Request, book: Book) -> Response:
    """POST /v3/order/place: accepted for processing, then open (or rejected by RMS)."""
    body = await json_body(request)
    with book.lock:
        check_place(body, book)
        symbol, exchange = book.instruments[body["instrument_token"]]
        order = Order(book.next_id(), body, symbol, exchange, datetime.now(IST))
        book.orders[order.order_id] = order
        order.move("put order req received", "validation pending")
        if book.reject:
            order.message, book.reject = book.reject, None
            order.move("rejected")
        else:
            stop = body["order_type"] in {"SL", "SL-M"}
            order.move("open pending", "trigger pending" if stop else "open")
        stall, book.stall = book.stall, 0.0
    if stall:
        await asyncio.sleep(stall)
    return _success({"order_ids": [order.order_id]}, latency=True)


async def modify(request: Request, book: Book) -> Response:
    """PUT /v3/order/modify."""
    body = await json_body(request)
    if not body.get("order_id"):
        raise Refusal(400, "UDAPI1023", "Order id is required", "order_id")
    with book.lock:
        order = book.get_order(str(body["order_id"]))
        check_terms(body)
        quantity = body.get("quantity", order.body["quantity"])
        if order.status in FINAL:
            raise Refusal(400, "UDAPI100036",
                          "Modify of already cancelled/rejected/completed order is not allowed")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= order.filled:
            raise Refusal(400, "UDAPI100036", "Invalid Input: quantity", "quantity")
        terms = ("quantity", "validity", "price", "order_type", "trigger_price")
        order.body.update({k: body[k] for k in terms if k in body})
        stop = order.body["order_type"] in {"SL", "SL-M"}
        order.move("modify validation pending", "modify pending", "modified",
                   "trigger pending" if stop else "open")
    return _success({"order_id": order.order_id}, latency=True)


async def cancel(request: Request, book: Book) -> Response:
    """DELETE /v3/order/cancel?order_id=."""
    order_id = _order_id(request)
    with book.lock:
        order = book.get_order(order_id)
        if order.status in FINAL:
            raise Refusal(400, "UDAPI100040", "Cancel of already cancelled/rejected/completed "
                          "order is not allowed", "order_id")
        order.move("cancel pending", "cancelled")
    return _success({"order_id": order_id}, latency=True)


async def details(request: Request, book: Book) -> Response:
    """GET /v2/order/details?order_id=: the latest state."""
    order_id = _order_id(request)
    with book.lock:
        return _success(book.get_order(order_id).row())


async def history(request: Request, book: Book) -> Response:
    """GET /v2/order/history?order_id=|tag=: every state each matching order went through."""
    order_id = request.query_params.get("order_id")
    tag = request.query_params.get("tag")
    if not order_id and not tag:
        raise Refusal(400, "UDAPI1023", "Order id is required", "order_id")
    with book.lock:
        if order_id:
            book.get_order(order_id)
        rows = [row for o in book.orders.values() for row in o.history
                if (not order_id or o.order_id == order_id)
                and (not tag or o.body.get("tag") == tag)]
    return _success(rows)


async def order_book(request: Request, book: Book) -> Response:
    """GET /v2/order/retrieve-all."""
    with book.lock:
        return _success([o.row() for o in book.orders.values()])


async def trades(request: Request, book: Book) -> Response:
    """GET /v2/order/trades?order_id=."""
    order_id = _order_id(request)
    with book.lock:
        return _success(book.get_order(order_id).trade_rows())


async def day_trades(request: Request, book: Book) -> Response:
    """GET /v2/order/trades/get-trades-for-day."""
    with book.lock:
        return _success([row for o in book.orders.values() for row in o.trade_rows()])


async def positions(request: Request, book: Book) -> Response:
    """GET /v2/portfolio/short-term-positions."""
    with book.lock:
        return _success(book.positions())


async def holdings(request: Request, book: Book) -> Response:
    """GET /v2/portfolio/long-term-holdings: the delivered shares, as HoldingsData."""
    return _success([dict(row) for row in HOLDINGS])


# The account's demat holdings, in the upstox-python-sdk HoldingsData shape.
HOLDINGS: tuple[dict[str, Any], ...] = (
    {"isin": "INE154A01025", "cnc_used_quantity": 0, "collateral_type": "WC",
     "company_name": "ITC LTD", "haircut": Decimal("0.2"), "product": "D", "quantity": 8,
     "tradingsymbol": "ITC", "trading_symbol": "ITC", "last_price": Decimal("410.50"),
     "close_price": Decimal("410.50"), "pnl": Decimal(0), "day_change": Decimal(0),
     "day_change_percentage": Decimal(0), "instrument_token": "NSE_EQ|INE154A01025",
     "average_price": Decimal("410.50"), "collateral_quantity": 0,
     "collateral_update_quantity": 0, "t1_quantity": 0, "exchange": "NSE"},
)


async def funds(request: Request, book: Book) -> Response:
    """GET /v2/user/get-funds-and-margin[?segment=SEC|COM]."""
    segment = request.query_params.get("segment")
    if segment not in {None, "SEC", "COM"}:
        raise Refusal(400, "UDAPI100036", "Invalid Input: segment", "segment")
    with book.lock:
        used = book.used_margin()
    zero = {k: Decimal(0) for k in ("used_margin", "payin_amount", "span_margin",
                                    "adhoc_margin", "notional_cash", "available_margin",
                                    "exposure_margin")}
    equity = {**zero, "used_margin": used, "available_margin": max(book.cash - used, Decimal(0))}
    data = {"equity": equity, "commodity": zero}
    return _success({k: v for k, v in data.items()
                     if segment is None or k == ("equity" if segment == "SEC" else "commodity")})


async def token(request: Request, book: Book) -> Response:
    """POST /v2/login/authorization/token: a code (single use) for an access token."""
    if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        raise Refusal(400, "UDAPI100036", "Invalid Input: send a url-encoded form")
    form = await request.form()
    fields = {k: str(form.get(k) or "") for k in ("code", "client_id", "client_secret",
                                                  "redirect_uri", "grant_type")}
    missing = [k for k, v in fields.items() if not v]
    if missing or fields["grant_type"] != "authorization_code":
        raise Refusal(400, "UDAPI100036", f"Invalid Input: {missing or 'grant_type'}")
    with book.lock:
        known = fields["code"] in book.codes
        book.codes.discard(fields["code"])  # spent whether or not the exchange succeeds
        if fields["client_id"] != book.api_key or fields["redirect_uri"] != book.redirect_uri:
            raise Refusal(400, "UDAPI100068", "Check your 'client_id' and 'redirect_uri'; one "
                          "or both are incorrect.")
        if not known or not secrets.compare_digest(fields["client_secret"], book.api_secret):
            raise Refusal(401, "UDAPI100016", "Invalid Credentials")
        issued = secrets.token_urlsafe(24)
        book.tokens.add(issued)
    return answer({"email": "stub@example.com", "exchanges": ["NSE", "BSE"],
                   "products": ["D", "I"], "broker": "UPSTOX", "user_id": book.user_id,
                   "user_name": "Stub User", "order_types": sorted(ORDER_TYPES),
                   "user_type": "individual", "poa": False, "is_active": True,
                   "access_token": issued})


def webhook_body(book: Book, order_id: str) -> bytes:
    """The order update Upstox would POST to the app's webhook URL now."""
    with book.lock:
        row = book.get_order(order_id).row()
    update = {"update_type": "order", "user_id": book.user_id, "userId": book.user_id,
              "instrument_key": row["instrument_token"], **row}
    return encode(update).encode()


async def _not_supported(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return refusal(Refusal(status, "UDAPI10000", "This request is not supported by Upstox API"))


def create_app(book: Book) -> Starlette:
    """The stub's ASGI app over `book`."""
    routes = [("/v2/login/authorization/token", token, "POST"), ("/v3/order/place", place, "POST"),
              ("/v3/order/modify", modify, "PUT"), ("/v3/order/cancel", cancel, "DELETE"),
              ("/v2/order/details", details, "GET"), ("/v2/order/history", history, "GET"),
              ("/v2/order/retrieve-all", order_book, "GET"), ("/v2/order/trades", trades, "GET"),
              ("/v2/order/trades/get-trades-for-day", day_trades, "GET"),
              ("/v2/portfolio/short-term-positions", positions, "GET"),
              ("/v2/portfolio/long-term-holdings", holdings, "GET"),
              ("/v2/user/get-funds-and-margin", funds, "GET")]
    book.reset()
    return Starlette(
        routes=[Route(path, endpoint(book, handler, authed=handler is not token),
                      methods=[method]) for path, handler, method in routes],
        exception_handlers={404: _not_supported, 405: _not_supported})
