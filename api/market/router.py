"""Market data routes: the instrument universe and current quotes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import EngineDep, PrincipalDep
from shared.db.repositories import market
from shared.domain.errors import NotFound
from shared.messaging.order_view import json_value

router = APIRouter(prefix="/market", tags=["market"])


class QuoteOut(BaseModel):
    """The current quote of a symbol."""

    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    ts: datetime


class SymbolOut(BaseModel):
    """A tradable instrument."""

    symbol: str
    name: str
    exchange: str
    currency: str
    tick_size: Decimal
    lot_size: Decimal


@router.get("/quotes/{symbol}", response_model=QuoteOut,
            responses={404: {"description": "unknown symbol"}})
async def get_quote(symbol: str, _: PrincipalDep, engine: EngineDep) -> Response:
    """Return the current bid, ask and last price of a symbol."""
    async with engine.connect() as conn:
        row = await market.get_quote(conn, symbol.upper())
    if row is None:
        raise NotFound(f"unknown symbol {symbol}", details={"field": "symbol"})
    return JSONResponse({key: json_value(value) for key, value in row.items()})


@router.get("/symbols", response_model=list[SymbolOut])
async def list_symbols(_: PrincipalDep, engine: EngineDep) -> Response:
    """List the tradable instruments."""
    async with engine.connect() as conn:
        rows = await market.list_symbols(conn)
    return JSONResponse([{k: json_value(v) for k, v in row.items()} for row in rows])
