"""Account and position routes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from api.accounts.schemas import AccountOut, PositionOut
from api.deps import EngineDep, PrincipalDep
from shared.db.repositories import accounts
from shared.domain.errors import NotFound
from shared.domain.positions import Position, market_value, unrealized_pnl
from shared.messaging.order_view import json_value

router = APIRouter(tags=["account"])


def _position(row: Mapping[Any, Any]) -> Position:
    return Position(quantity=row["quantity"], avg_price=row["avg_price"],
                    realized_pnl=row["realized_pnl"])


def position_view(row: Mapping[Any, Any]) -> dict[str, Any]:
    """Mark one position row to its last price."""
    pos, mark = _position(row), row["mark"]
    view = {
        "symbol": row["symbol"], "quantity": pos.quantity, "avg_price": pos.avg_price,
        "market_price": mark,
        "market_value": market_value(pos, mark) if mark is not None else None,
        "unrealized_pnl": unrealized_pnl(pos, mark) if mark is not None else None,
        "realized_pnl": pos.realized_pnl,
    }
    return {key: json_value(value) for key, value in view.items()}


def account_view(account: Mapping[Any, Any], rows: Sequence[Mapping[Any, Any]]) -> dict[str, Any]:
    """Sum cash and positions into the account summary (unmarked positions count at cost)."""
    value = unrealized = realized = Decimal(0)
    for row in rows:
        pos = _position(row)
        mark = row["mark"] if row["mark"] is not None else pos.avg_price
        value += market_value(pos, mark)
        unrealized += unrealized_pnl(pos, mark)
        realized += pos.realized_pnl
    cash: Decimal = account["cash"]
    view = {"cash": cash, "buying_power": cash - account["reserved_cash"],
            "equity": cash + value, "realized_pnl": realized, "unrealized_pnl": unrealized,
            "currency": account["currency"]}
    return {key: json_value(v) for key, v in view.items()}


@router.get("/account", response_model=AccountOut,
            responses={401: {"description": "missing or invalid access token"}})
async def get_account(principal: PrincipalDep, engine: EngineDep) -> Response:
    """Return your paper account's cash, buying power, equity and P&L."""
    async with engine.connect() as conn:
        account = await accounts.get_for_user(conn, principal.user_id)
        rows = await accounts.positions_for_user(conn, principal.user_id)
    if account is None:
        raise NotFound("no paper account for this user")
    return JSONResponse(account_view(account, rows))


@router.get("/positions", response_model=list[PositionOut],
            responses={401: {"description": "missing or invalid access token"}})
async def list_positions(principal: PrincipalDep, engine: EngineDep) -> Response:
    """List your positions marked to the last price (flat ones too, for their realized P&L)."""
    async with engine.connect() as conn:
        rows = await accounts.positions_for_user(conn, principal.user_id)
    return JSONResponse([position_view(row) for row in rows])
