"""GET /holdings: your delivery holdings as of each exchange's last settled trading day.

The end-of-day task (worker/handlers/settlement.py) writes them; this reads and marks them.
GET /portfolios/{portfolio_id}/holdings reads a portfolio's through `holdings_page` too.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from api.accounts import broker_source
from api.accounts.schemas import BrokerPositions
from api.deps import EngineDep, PrincipalDep, RedisDep, SettingsDep
from api.pages import Limit, PageCursor, decode_pair, encode_pair, invalid_cursor
from api.portfolio.schemas import HoldingPage
from api.responses import READ, Responses
from shared.db.repositories import holdings
from shared.domain.positions import Position, market_value, unrealized_pnl
from shared.domain.values import ZERO
from shared.messaging.order_view import json_value

router = APIRouter(tags=["portfolio"])

PAGE_ERRORS: Responses = {422: {"description": "invalid `limit` or `cursor` (`details.field`)"}}


async def holdings_page(conn: AsyncConnection, user_id: uuid.UUID,
                        portfolio_id: uuid.UUID | None, *, account_id: uuid.UUID | None,
                        limit: int, cursor: str | None) -> dict[str, Any]:
    """A page of the user's holdings (a portfolio's, or the accounts' when None)."""
    after = _read_cursor(cursor) if cursor else None
    rows = await holdings.page(conn, user_id, portfolio_id, account_id=account_id,
                               limit=limit, after=after)
    last = rows[-1] if len(rows) == limit else None
    return {"items": [_holding(row) for row in rows],
            "next_cursor": encode_pair(last["symbol"], str(last["account_id"])) if last
            else None}


def _read_cursor(cursor: str) -> tuple[str, str]:
    try:
        symbol, account = decode_pair(cursor)
        return symbol, str(uuid.UUID(account))
    except (ValueError, UnicodeDecodeError):
        raise invalid_cursor() from None


def _holding(row: RowMapping) -> dict[str, Any]:
    held = Position(row["quantity"] + row["t1_quantity"], row["avg_price"], ZERO)
    mark = row["mark"]
    view = {name: row[name] for name in ("account_id", "broker", "currency", "exchange",
                                         "symbol", "quantity", "t1_quantity", "avg_price")}
    view |= {"last_price": mark,
             "market_value": None if mark is None else market_value(held, mark),
             "unrealized_pnl": None if mark is None else unrealized_pnl(held, mark),
             "trading_day": row["trading_day"].isoformat()}
    return {name: json_value(value) for name, value in view.items()}


@router.get("/holdings", response_model=HoldingPage | BrokerPositions,
            responses={**READ, **PAGE_ERRORS, **broker_source.FROM_BROKER,
                       404: {"description": "an `account_id` that is not yours"}})
async def list_holdings(
    principal: PrincipalDep, engine: EngineDep, redis: RedisDep, settings: SettingsDep,
    limit: Limit = 100, cursor: PageCursor = None,
    account_id: Annotated[uuid.UUID | None, Query(
        description="only this account's (another user's is not found: 404)")] = None,
    source: broker_source.Source = "ordergate",
) -> JSONResponse:
    """List your delivery holdings by symbol: settled `quantity` and `t1_quantity` (bought,
    not settled yet) as of each exchange's last settled trading day, marked to the last
    price. Positions (GET /positions) are what your trades hold now. With source=broker, the
    positions and holdings the broker of `account_id` reports (BrokerPositions: the adapters
    answer both in one list, a delivery position counting both)."""
    async with engine.connect() as conn:
        found = None if account_id is None else await broker_source.owned_account(
            conn, principal.user_id, account_id)
        if source == "ordergate":
            page = await holdings_page(conn, principal.user_id, None, account_id=account_id,
                                       limit=limit, cursor=cursor)
    if source == "broker":
        page = await broker_source.from_broker(redis, settings,
                                               broker_source.broker_account(found), "positions")
    return JSONResponse(page)
