"""Trades journal routes: trades done outside ordergate, booked into positions and cash."""

from __future__ import annotations

import io
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from api.deps import EngineDep, PrincipalDep, SettingsDep
from api.errors import ApiError, header_field
from api.pages import Limit, PageCursor
from api.paths import TRADE_ID
from api.portfolio import books, journal
from api.portfolio.schemas import TradebookImported, TradeIn, TradeOut, TradePage
from api.query import IsoDatetime
from api.responses import MALFORMED_BODY, READ, SCOPED, Responses
from shared.clock import clock_from

router = APIRouter(prefix="/trades", tags=["trades journal"])

_NOT_FOUND: Responses = {
    404: {"description": "no such trade among yours (another user's is not found either), or "
                         "an `account_id` (on the import, a `portfolio_id`) that is not yours"},
}
_INVALID: Responses = {
    422: {"description": "a field is invalid (`details.field`): quantity or price not "
                         "positive, a negative charge, `executed_at` in the future or without "
                         "a time zone (`invalid_trade`), a symbol not in the instrument master "
                         "(`unknown_symbol`), an instrument in another currency than the "
                         "account (`currency_mismatch`), fewer shares left than working SELL "
                         "orders hold (`insufficient_position`), an unknown field"},
}


@router.post("", status_code=201, response_model=TradeOut,
             responses={**SCOPED, **MALFORMED_BODY, **_NOT_FOUND, **_INVALID})
async def create_trade(body: TradeIn, principal: PrincipalDep, engine: EngineDep,
                       settings: SettingsDep) -> JSONResponse:
    """Journal a trade done outside ordergate: it books into the account's position and cash
    as a fill does (cash moves by its amount less its charges)."""
    async with engine.begin() as conn:
        created = await journal.create(conn, principal.user_id, body,
                                       clock_from(settings).now())
    return JSONResponse(created, status_code=201)


@router.post(
    "/import", response_model=TradebookImported,
    openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {
        "type": "string", "description": "a Zerodha (Kite Console) tradebook CSV, UTF-8"}}}}},
    responses={**SCOPED, **_NOT_FOUND,
               413: {"description": "the file is larger than the API takes in one request "
                                    "(`body_too_large`): split it"},
               415: {"description": "the body is not `text/csv` (`unsupported_media_type`)"},
               422: {"description": "bad rows, each named with its line and reason in "
                                    "`details.bad_rows` (`invalid_tradebook`): nothing was "
                                    "imported; or not a tradebook at all"}})
async def import_tradebook(
    request: Request, principal: PrincipalDep, engine: EngineDep, settings: SettingsDep,
    account_id: Annotated[uuid.UUID | None, Query(
        description="the account the trades book in (its currency must be theirs); default: "
                    "your paper account")] = None,
    portfolio_id: Annotated[uuid.UUID | None, Query(
        description="one of your portfolios the trades roll up under (another user's is not "
                    "found: 404)")] = None,
) -> JSONResponse:
    """Import a Zerodha tradebook into the journal, all of it or nothing. A trade whose
    `trade_id` the account already has is left as it is: importing a file again changes
    nothing."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "text/csv":
        raise ApiError(415, "this route takes a CSV body (Content-Type: text/csv)",
                       code="unsupported_media_type",
                       details={"field": header_field("Content-Type"),
                                "content_type": content_type})
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(422, f"the file is not UTF-8 (byte {error.start})",
                       code="invalid_tradebook", details={"bad_rows": []}) from None
    async with engine.begin() as conn:
        if portfolio_id is not None:
            await books.owned(conn, principal.user_id, str(portfolio_id))
        summary = await journal.import_tradebook(conn, principal.user_id, account_id,
                                                 io.StringIO(text, newline=""),
                                                 clock_from(settings).now(),
                                                 portfolio_id=portfolio_id)
    return JSONResponse(summary)


@router.get("", response_model=TradePage,
            responses={**READ, 422: {"description": "invalid `limit`, `cursor`, `from` or `to`"
                                                    " (`details.field`)"}})
async def list_trades(
    principal: PrincipalDep, engine: EngineDep, limit: Limit = 100, cursor: PageCursor = None,
    symbol: Annotated[str | None, Query(min_length=1, max_length=32,
                                        description="only this symbol's")] = None,
    since: Annotated[IsoDatetime | None, Query(alias="from", description="executed at or after "
                                                                      "this instant")] = None,
    until: Annotated[IsoDatetime | None, Query(alias="to", description="executed before this "
                                                                    "instant")] = None,
) -> JSONResponse:
    """List your journaled trades, the latest executed first, with keyset pagination."""
    async with engine.connect() as conn:
        page = await journal.list_page(conn, principal.user_id,
                                       symbol=symbol.upper() if symbol else None, since=since,
                                       until=until, limit=limit, cursor=cursor)
    return JSONResponse(page)


@router.get(f"/{TRADE_ID}", response_model=TradeOut, responses={**READ, **_NOT_FOUND})
async def get_trade(trade_id: str, principal: PrincipalDep, engine: EngineDep) -> JSONResponse:
    """Return one of your journaled trades."""
    async with engine.connect() as conn:
        trade = await journal.get(conn, principal.user_id, trade_id)
    return JSONResponse(trade)


@router.put(f"/{TRADE_ID}", response_model=TradeOut,
            responses={**SCOPED, **MALFORMED_BODY, **_NOT_FOUND, **_INVALID})
async def replace_trade(trade_id: str, body: TradeIn, principal: PrincipalDep,
                        engine: EngineDep, settings: SettingsDep) -> JSONResponse:
    """Replace every field of one of your trades; the positions and cash it touched, before
    and after, are rebooked."""
    async with engine.begin() as conn:
        trade = await journal.replace(conn, principal.user_id, trade_id, body,
                                      clock_from(settings).now())
    return JSONResponse(trade)


@router.delete(f"/{TRADE_ID}", status_code=204, response_class=Response,
               responses={**SCOPED, **_NOT_FOUND,
                          422: {"description": "fewer shares would be left than working SELL"
                                               " orders hold (`insufficient_position`)"}})
async def delete_trade(trade_id: str, principal: PrincipalDep, engine: EngineDep) -> Response:
    """Delete one of your trades: its position is rebuilt without it, its cash given back."""
    async with engine.begin() as conn:
        await journal.delete(conn, principal.user_id, trade_id)
    return Response(status_code=204)
