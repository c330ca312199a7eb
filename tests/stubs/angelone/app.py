"""A local Angel One SmartAPI: its headers, JSON envelopes, error codes and order book.

Faithful to smartapi.angelone.in/docs where the docs speak: every secured call carries the
X-* headers, `Authorization: Bearer <jwt>` and JSON bodies; answers are
{"status", "message", "errorcode", "data"}; token refusals come in the gateway dialect
{"success", "message", "errorCode", "data"}; throttling is HTTP 403 with plain text. Orders
start "put order req received" and move on as they are read; fills are trade-book rows.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from shared.brokers.angelone import wire
from shared.brokers.india import IST

CENT = Decimal("0.01")
# symboltoken -> (tradingsymbol, exchange, symbolname)
INSTRUMENTS = {"1594": ("INFY-EQ", "NSE", "INFY"), "3045": ("SBIN-EQ", "NSE", "SBIN")}
ENUMS = {"variety": {"NORMAL", "STOPLOSS", "ROBO"}, "transactiontype": {"BUY", "SELL"},
         "ordertype": {"MARKET", "LIMIT", "STOPLOSS_LIMIT", "STOPLOSS_MARKET"},
         "producttype": {"DELIVERY", "CARRYFORWARD", "MARGIN", "INTRADAY", "BO"},
         "duration": {"DAY", "IOC"}, "exchange": {"BSE", "NSE", "NFO", "MCX", "BFO", "CDS"}}
PLACE_FIELDS = ("variety", "tradingsymbol", "symboltoken", "transactiontype", "exchange",
                "ordertype", "producttype", "duration", "quantity")
MODIFY_FIELDS = ("variety", "orderid", "ordertype", "producttype", "duration", "price",
                 "quantity", "tradingsymbol", "symboltoken", "exchange")
WORKING = {"put order req received", "validation pending", "open pending", "open",
           "trigger pending", "modified"}
RATE_TEXT = "Access denied because of exceeding access rate"
_NUMBER = re.compile(r'"\\u0000(-?[0-9.]+)\\u0000"')


class Refusal(Exception):
    """A business refusal answered in the standard envelope."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def dumps(payload: Any) -> str:
    """JSON where Decimals are numbers (as SmartAPI sends prices), never floats."""
    return _NUMBER.sub(r"\1", json.dumps(payload, default=lambda d: f"\x00{d}\x00"))


def render(payload: Any, status: int = 200) -> Response:
    return Response(dumps(payload), status, media_type="application/json")


def ok(data: Any) -> Response:
    return render({"status": True, "message": "SUCCESS", "errorcode": "", "data": data})


def refused(code: str, message: str, status: int = 200) -> Response:
    return render({"status": False, "message": message, "errorcode": code, "data": None},
                  status)


def gateway(code: str, message: str, status: int) -> Response:
    return render({"success": False, "message": message, "errorCode": code, "data": ""}, status)


def _now() -> str:
    return datetime.now(IST).strftime("%d-%b-%Y %H:%M:%S")


class Book:
    """The account's state; every method takes the lock (tests drive it from another thread)."""

    def __init__(self, *, api_key: str, client_code: str, pin: str, totp: str) -> None:
        self.lock = threading.Lock()
        self.api_key, self.client_code, self.pin, self.totp = api_key, client_code, pin, totp
        self.jwt, self.refresh_token = "eyJ" + secrets.token_hex(16), secrets.token_hex(16)
        self.jwts, self.refresh_tokens = {self.jwt}, {self.refresh_token}
        self.orders: dict[str, dict[str, Any]] = {}
        self.trades: list[dict[str, Any]] = []
        self.positions: dict[tuple[str, str], dict[str, Any]] = {}
        self.holdings = [{"tradingsymbol": "SBIN-EQ", "exchange": "NSE", "isin": "INE062A01020",
                          "t1quantity": 0, "realisedquantity": 8, "quantity": 8,
                          "authorisedquantity": 0, "product": "DELIVERY",
                          "collateralquantity": None, "collateraltype": None, "haircut": 0,
                          "averageprice": Decimal("573.10"), "ltp": Decimal("579.05"),
                          "symboltoken": "3045", "close": Decimal("570.50"),
                          "profitandloss": 48, "pnlpercentage": Decimal("1.04")}]
        self.cash, self.debits = Decimal("1000000.00"), Decimal(0)
        self.sequence = 0
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.expired, self.throttled, self.stall = False, 0, 0.0
            self.reject_reason: str | None = None

    def take_throttle(self) -> bool:
        with self.lock:
            if self.throttled <= 0:
                return False
            self.throttled -= 1
            return True

    def issue(self) -> dict[str, str]:
        with self.lock:
            jwt, refresh = "eyJ" + secrets.token_hex(16), secrets.token_hex(16)
            self.jwts.add(jwt)
            self.refresh_tokens.add(refresh)
        return {"jwtToken": jwt, "refreshToken": refresh, "feedToken": secrets.token_hex(8)}

    def place(self, body: dict[str, Any]) -> tuple[dict[str, str], float]:
        with self.lock:
            self.sequence += 1
            orderid = datetime.now(IST).strftime("%y%m%d") + f"{self.sequence:09d}"
            stop = body["ordertype"] in {"STOPLOSS_LIMIT", "STOPLOSS_MARKET"}
            row = {key: body.get(key, "") for key in PLACE_FIELDS}
            row.update(orderid=orderid, uniqueorderid=str(uuid.uuid4()),
                       ordertag=body.get("ordertag", ""), price=_dec(body.get("price")),
                       triggerprice=_dec(body.get("triggerprice")), filled=0,
                       cost=Decimal(0), text="", status="put order req received",
                       pending=["open pending", "trigger pending" if stop else "open"],
                       updatetime=_now(), exchangeorderid="")
            row["orderstatus"] = row["status"]
            if self.reject_reason is not None:
                row.update(status="rejected", orderstatus="rejected", pending=[],
                           text=f"Your order has been rejected due to {self.reject_reason}.")
                self.reject_reason = None
            self.orders[orderid] = row
            stall, self.stall = self.stall, 0.0
            return {"script": row["tradingsymbol"], "orderid": orderid,
                    "uniqueorderid": row["uniqueorderid"]}, stall

    def working(self, body: dict[str, Any]) -> dict[str, Any]:
        row = self.orders.get(str(body.get("orderid")))
        if row is None:
            raise Refusal("AB1013", "Order not found")
        if body.get("variety") != row["variety"]:
            raise Refusal("AB1008", "Invalid Order Variety")
        if row["orderstatus"] not in WORKING:
            raise Refusal("AB1007", f"Order is {row['orderstatus']}, it cannot be changed")
        return row

    def modify(self, body: dict[str, Any]) -> dict[str, str]:
        with self.lock:
            row = self.working(body)
            quantity = int(body["quantity"])
            if quantity <= row["filled"]:
                raise Refusal("AB1007", "INVALID PARAMETERS: quantity below filled quantity")
            row.update(ordertype=body["ordertype"], price=_dec(body.get("price")),
                       triggerprice=_dec(body.get("triggerprice")), quantity=str(quantity),
                       status="modified", updatetime=_now())
            return {"orderid": row["orderid"], "uniqueorderid": row["uniqueorderid"]}

    def cancel(self, body: dict[str, Any]) -> dict[str, str]:
        with self.lock:
            row = self.working(body)
            row.update(status="cancelled", orderstatus="cancelled", pending=[],
                       updatetime=_now())
            return {"orderid": row["orderid"], "uniqueorderid": row["uniqueorderid"]}

    def fill(self, orderid: str, quantity: Decimal, price: Decimal) -> None:
        with self.lock:
            row = self.orders[orderid]
            open_qty = int(row["quantity"]) - row["filled"]
            if row["orderstatus"] not in WORKING or not 0 < quantity <= open_qty:
                raise ValueError(f"order {orderid} cannot fill {quantity} (open {open_qty})")
            row["filled"] += int(quantity)
            row["cost"] += quantity * price
            done = row["filled"] == int(row["quantity"])
            state = "complete" if done else "open"
            row.update(status=state, orderstatus=state, pending=[], updatetime=_now())
            self.trades.append({
                "exchange": row["exchange"], "producttype": row["producttype"],
                "tradingsymbol": row["tradingsymbol"], "instrumenttype": "",
                "symbolgroup": "EQ", "strikeprice": "-1", "optiontype": "", "expirydate": "",
                "marketlot": "1", "precision": "2", "multiplier": "-1",
                "tradevalue": str((quantity * price).quantize(CENT)),
                "transactiontype": row["transactiontype"], "fillprice": str(price),
                "fillsize": str(quantity), "orderid": orderid,
                "fillid": str(50005750 + len(self.trades)),
                "filltime": datetime.now(IST).strftime("%H:%M:%S")})
            self._book_position(row, quantity, price)

    def _book_position(self, row: dict[str, Any], quantity: Decimal, price: Decimal) -> None:
        key = (row["symboltoken"], row["producttype"])
        held = self.positions.setdefault(key, {"buyqty": Decimal(0), "sellqty": Decimal(0),
                                               "buyamount": Decimal(0),
                                               "sellamount": Decimal(0)})
        side = "buy" if row["transactiontype"] == "BUY" else "sell"
        held[f"{side}qty"] += quantity
        held[f"{side}amount"] += quantity * price
        self.cash += -quantity * price if side == "buy" else quantity * price
        self.debits += quantity * price if side == "buy" else 0

    def read(self, row: dict[str, Any], numbers: bool) -> dict[str, Any]:
        """The row as SmartAPI shows it (the order book quotes numbers, details do not)."""
        if row["pending"]:
            row["status"] = row["orderstatus"] = row["pending"].pop(0)
        average = (row["cost"] / row["filled"]).quantize(CENT, ROUND_HALF_UP) \
            if row["filled"] else Decimal(0)
        prices = {"price": row["price"], "triggerprice": row["triggerprice"],
                  "averageprice": average}
        shown = {key: value for key, value in row.items()
                 if key not in {"pending", "cost", "filled"}}
        shown.update({key: value if numbers else f"{value:.2f}" for key, value in prices.items()})
        shown.update(disclosedquantity="0", squareoff=0, stoploss=0, trailingstoploss=0,
                     instrumenttype="", strikeprice=-1, optiontype="", expirydate="",
                     lotsize="1", cancelsize=str(int(row["quantity"]) - row["filled"])
                     if row["orderstatus"] == "cancelled" else "0",
                     filledshares=str(row["filled"]),
                     unfilledshares=str(int(row["quantity"]) - row["filled"]),
                     exchtime="", exchorderupdatetime="", fillid="", filltime="",
                     parentorderid="")
        return shown

    def position_rows(self) -> list[dict[str, str]]:
        found = []
        for (token, product), held in self.positions.items():
            symbol, exchange, name = INSTRUMENTS[token]
            net = held["buyqty"] - held["sellqty"]
            side = "buy" if net >= 0 else "sell"
            qty, amount = held[f"{side}qty"], held[f"{side}amount"]
            average = (amount / qty).quantize(CENT) if qty else Decimal(0)
            found.append({"exchange": exchange, "symboltoken": token, "producttype": product,
                          "tradingsymbol": symbol, "symbolname": name, "instrumenttype": "",
                          "buyqty": str(held["buyqty"]), "sellqty": str(held["sellqty"]),
                          "buyamount": str(held["buyamount"]),
                          "sellamount": str(held["sellamount"]), "symbolgroup": "EQ",
                          "lotsize": "1", "avgnetprice": str(average), "netqty": str(net),
                          "netprice": str(average)})
        return found


def _dec(value: Any) -> Decimal:
    return Decimal(str(value or "0"))


def _check_order(body: dict[str, Any], fields: tuple[str, ...]) -> None:
    missing = [name for name in fields if body.get(name) in (None, "")]
    if missing:
        raise Refusal("AB1007", f"INVALID PARAMETERS: {', '.join(missing)} required")
    for name, allowed in ENUMS.items():
        if name in body and body[name] not in allowed:
            raise Refusal("AB1012" if name == "producttype" else "AB1007",
                          f"INVALID PARAMETERS: {name} {body[name]!r}")
    if INSTRUMENTS.get(str(body["symboltoken"]), ("",))[0] != body["tradingsymbol"]:
        raise Refusal("AB1009", "Symbol Not Found")
    if not str(body["quantity"]).isdigit() or int(body["quantity"]) <= 0:
        raise Refusal("AB1007", "INVALID PARAMETERS: quantity")
    stop = body["ordertype"] in {"STOPLOSS_LIMIT", "STOPLOSS_MARKET"}
    if stop != (body["variety"] == "STOPLOSS") or (stop and _dec(body.get("triggerprice")) <= 0):
        raise Refusal("AB1007", "INVALID PARAMETERS: stop-loss orders need variety STOPLOSS "
                                "and a triggerprice")
    if body["ordertype"] in {"LIMIT", "STOPLOSS_LIMIT"} and _dec(body.get("price")) <= 0:
        raise Refusal("AB1007", "INVALID PARAMETERS: price")
    if len(str(body.get("ordertag", ""))) >= 20:
        raise Refusal("AB4008", "ordertag length should be less than 20 characters")


Handler = Callable[[Request, Book], Coroutine[Any, Any, Response]]


def _headers_wrong(request: Request, book: Book) -> Response | None:
    sent = request.headers
    if sent.get("x-privatekey") != book.api_key:
        return gateway("AG8004", "Invalid API Key", 403)
    wanted = {"x-usertype": "USER", "x-sourceid": "WEB", "accept": "application/json"}
    for name in ("x-clientlocalip", "x-clientpublicip", "x-macaddress", *wanted):
        if not sent.get(name) or sent[name] != wanted.get(name, sent[name]):
            return refused("AB1007", f"INVALID PARAMETERS: header {name}", 400)
    if request.method == "POST" and sent.get("content-type") != "application/json":
        return refused("AB1007", "INVALID PARAMETERS: Content-Type must be application/json",
                       400)
    return None


def endpoint(handler: Handler, book: Book, *, secured: bool = True) -> Any:
    """Wrap a handler with throttling, header and token checks and the refusal envelope."""

    async def serve(request: Request) -> Response:
        if book.take_throttle():
            return PlainTextResponse(RATE_TEXT, 403)
        wrong = _headers_wrong(request, book)
        if wrong is not None:
            return wrong
        bearer = request.headers.get("authorization", "")
        if secured and not bearer.startswith("Bearer "):
            return gateway("AG8003", "Token missing", 401)
        with book.lock:
            valid = not book.expired and bearer.removeprefix("Bearer ") in book.jwts
        if secured and not valid:
            return gateway("AG8001", "Invalid Token", 401)
        try:
            return await handler(request, book)
        except Refusal as refusal:
            return refused(refusal.code, refusal.message)

    return serve


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise Refusal("AB1007", "INVALID PARAMETERS: body is not JSON") from None
    if not isinstance(body, dict):
        raise Refusal("AB1007", "INVALID PARAMETERS: body is not a JSON object")
    return body


async def login(request: Request, book: Book) -> Response:
    body = await _json(request)
    if body.get("clientcode") != book.client_code or body.get("password") != book.pin:
        raise Refusal("AB1007", "YOUR USER ID OR PASSWORD IS INVALID")
    if body.get("totp") != book.totp:
        raise Refusal("AB1050", "Invalid totp")
    return ok(book.issue())


async def generate_tokens(request: Request, book: Book) -> Response:
    # Sent with the current (possibly expired) jwt, so the gateway's token check is skipped.
    if not request.headers.get("authorization", "").startswith("Bearer "):
        return gateway("AG8003", "Token missing", 401)
    body = await _json(request)
    with book.lock:
        known = body.get("refreshToken") in book.refresh_tokens and not book.expired
    if not known:
        raise Refusal("AB8050", "Invalid Refresh Token")
    return ok(book.issue())


async def place(request: Request, book: Book) -> Response:
    body = await _json(request)
    _check_order(body, PLACE_FIELDS)
    data, stall = book.place(body)
    if stall:
        await asyncio.sleep(stall)
    return ok(data)


async def modify(request: Request, book: Book) -> Response:
    body = await _json(request)
    _check_order(body, MODIFY_FIELDS)
    return ok(book.modify(body))


async def cancel(request: Request, book: Book) -> Response:
    body = await _json(request)
    if not body.get("variety") or not body.get("orderid"):
        raise Refusal("AB1007", "INVALID PARAMETERS: variety and orderid required")
    return ok(book.cancel(body))


async def order_book(request: Request, book: Book) -> Response:
    with book.lock:
        shown = [book.read(row, numbers=False) for row in book.orders.values()]
    return ok(shown or None)


async def details(request: Request, book: Book) -> Response:
    unique = request.path_params["unique"]
    with book.lock:
        found = [book.read(row, numbers=True) for row in book.orders.values()
                 if row["uniqueorderid"] == unique]
    if not found:
        raise Refusal("AB1007", "Order not found")
    return ok(found[0])


async def trade_book(request: Request, book: Book) -> Response:
    with book.lock:
        return ok(list(book.trades) or None)


async def positions(request: Request, book: Book) -> Response:
    with book.lock:
        return ok(book.position_rows() or None)


async def holdings(request: Request, book: Book) -> Response:
    with book.lock:
        return ok(list(book.holdings))


async def rms(request: Request, book: Book) -> Response:
    with book.lock:
        cash, debits = book.cash, book.debits
    return ok({"net": str(cash), "availablecash": str(cash), "availableintradaypayin": "0",
               "availablelimitmargin": "0", "collateral": "0", "m2munrealized": "0",
               "m2mrealized": "0", "utiliseddebits": str(debits), "utilisedspan": "0",
               "utilisedoptionpremium": "0", "utilisedholdingsales": "0",
               "utilisedexposure": "0", "utilisedturnover": "0", "utilisedpayout": "0"})


def create_app(book: Book) -> Starlette:
    """The SmartAPI endpoints ordergate uses, served at the root as apiconnect.angelone.in."""
    routes = [
        Route(wire.LOGIN_PATH, endpoint(login, book, secured=False), methods=["POST"]),
        Route(wire.REFRESH_PATH, endpoint(generate_tokens, book, secured=False),
              methods=["POST"]),
        Route(wire.PLACE_PATH, endpoint(place, book), methods=["POST"]),
        Route(wire.MODIFY_PATH, endpoint(modify, book), methods=["POST"]),
        Route(wire.CANCEL_PATH, endpoint(cancel, book), methods=["POST"]),
        Route(wire.ORDER_BOOK_PATH, endpoint(order_book, book), methods=["GET"]),
        Route(wire.DETAILS_PATH + "{unique}", endpoint(details, book), methods=["GET"]),
        Route(wire.TRADE_BOOK_PATH, endpoint(trade_book, book), methods=["GET"]),
        Route(wire.POSITION_PATH, endpoint(positions, book), methods=["GET"]),
        Route(wire.HOLDING_PATH, endpoint(holdings, book), methods=["GET"]),
        Route(wire.RMS_PATH, endpoint(rms, book), methods=["GET"]),
    ]
    return Starlette(routes=routes)
