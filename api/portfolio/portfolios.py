"""Portfolio routes: your named groups of orders and journaled trades, with their positions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from api.deps import EngineDep, PrincipalDep, SettingsDep
from api.pages import Limit, PageCursor
from api.paths import PORTFOLIO_ID
from api.portfolio import books, history
from api.portfolio.holdings import PAGE_ERRORS, holdings_page
from api.portfolio.schemas import (
    CreatePortfolio,
    HoldingPage,
    PatchPortfolio,
    PortfolioDetail,
    PortfolioHistory,
    PortfolioOut,
    PortfolioPage,
)
from api.responses import MALFORMED_BODY, READ, SCOPED, Responses
from shared.clock import calendar_from, clock_from
from shared.domain.portfolio import MAX_PORTFOLIOS_PER_USER

router = APIRouter(prefix="/portfolios", tags=["portfolios"])

_NOT_FOUND: Responses = {
    404: {"description": "no such portfolio among yours (another user's is not found either)"},
}
_NAME: Responses = {
    409: {"description": "you already have a portfolio of this name, whatever its case"
                         " (`portfolio_name_taken`)"},
    422: {"description": "an invalid name or description, or an unknown field"
                         " (`details.field`)"},
}


@router.post("", status_code=201, response_model=PortfolioOut,
             responses={**SCOPED, **MALFORMED_BODY, **_NAME,
                        422: {"description": "an invalid name or description, or an unknown "
                                             "field (`details.field`); or already "
                                             f"{MAX_PORTFOLIOS_PER_USER} portfolios"
                                             " (`too_many_portfolios`)"}})
async def create_portfolio(body: CreatePortfolio, principal: PrincipalDep,
                           engine: EngineDep) -> JSONResponse:
    """Create a portfolio: orders (`portfolio_id` on POST /orders) and journaled trades may
    then name it, and their positions and P&L roll up under it."""
    async with engine.begin() as conn:
        created = await books.create(conn, principal.user_id, body.name, body.description)
    return JSONResponse(created, status_code=201)


@router.get("", response_model=PortfolioPage,
            responses={**READ, 422: {"description": "invalid `limit` or `cursor`"
                                                    " (`details.field`)"}})
async def list_portfolios(principal: PrincipalDep, engine: EngineDep, limit: Limit = 100,
                          cursor: PageCursor = None) -> JSONResponse:
    """List your portfolios, newest first, with keyset pagination."""
    async with engine.connect() as conn:
        page = await books.list_page(conn, principal.user_id, limit, cursor)
    return JSONResponse(page)


@router.get(f"/{PORTFOLIO_ID}", response_model=PortfolioDetail,
            responses={**READ, **_NOT_FOUND})
async def get_portfolio(portfolio_id: str, principal: PrincipalDep,
                        engine: EngineDep) -> JSONResponse:
    """Return one of your portfolios with its positions (built from the fills of the orders
    and the journaled trades that name it, marked to the last price) and its P&L per account
    and per currency (amounts in two currencies never add up)."""
    async with engine.connect() as conn:
        found = await books.detail(conn, principal.user_id, portfolio_id)
    return JSONResponse(found)


@router.get(f"/{PORTFOLIO_ID}/holdings", response_model=HoldingPage,
            responses={**READ, **_NOT_FOUND, **PAGE_ERRORS})
async def list_portfolio_holdings(portfolio_id: str, principal: PrincipalDep,
                                  engine: EngineDep, limit: Limit = 100,
                                  cursor: PageCursor = None) -> JSONResponse:
    """List the delivery holdings of one of your portfolios by symbol (settled `quantity`,
    `t1_quantity` not settled yet), from the orders and journaled trades that name it, as of
    each exchange's last settled trading day."""
    async with engine.connect() as conn:
        found = await books.owned(conn, principal.user_id, portfolio_id)
        page = await holdings_page(conn, principal.user_id, found, account_id=None,
                                   limit=limit, cursor=cursor)
    return JSONResponse(page)


@router.get(f"/{PORTFOLIO_ID}/history", response_model=PortfolioHistory,
            responses={**READ, **_NOT_FOUND,
                       422: {"description": "`period` is not 1D, 1W, 1M or 1Y"}})
async def get_portfolio_history(
    portfolio_id: str, principal: PrincipalDep, engine: EngineDep, settings: SettingsDep,
    period: Annotated[history.Period, Query(description="how far back: the last day, week, "
                                                        "month (30 days) or year")] = "1M",
) -> JSONResponse:
    """Return the end-of-day snapshots of one of your portfolios (taken by Celery beat after
    each close of an account's exchange, keyed by its local trading day): market value and
    P&L per account and per currency each day."""
    async with engine.connect() as conn:
        found = await books.owned(conn, principal.user_id, portfolio_id)
        answer = await history.history(conn, principal.user_id, found, period,
                                       calendar_from(settings), clock_from(settings).now())
    return JSONResponse(answer)


@router.patch(f"/{PORTFOLIO_ID}", response_model=PortfolioOut,
              responses={**SCOPED, **MALFORMED_BODY, **_NOT_FOUND, **_NAME})
async def update_portfolio(portfolio_id: str, body: PatchPortfolio, principal: PrincipalDep,
                           engine: EngineDep) -> JSONResponse:
    """Rename one of your portfolios or change its description (a null one clears it)."""
    async with engine.begin() as conn:
        updated = await books.update(conn, principal.user_id, portfolio_id, body)
    return JSONResponse(updated)


@router.delete(f"/{PORTFOLIO_ID}", status_code=204, response_class=Response,
               responses={**SCOPED, **_NOT_FOUND,
                          409: {"description": "orders or journaled trades name the portfolio"
                                               " (`portfolio_in_use`, with their counts): it"
                                               " keeps their history"}})
async def delete_portfolio(portfolio_id: str, principal: PrincipalDep,
                           engine: EngineDep) -> Response:
    """Delete one of your portfolios that no order or journaled trade names."""
    async with engine.begin() as conn:
        await books.delete(conn, principal.user_id, portfolio_id)
    return Response(status_code=204)
