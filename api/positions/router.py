"""Position routes that close: square off one symbol or every position with MARKET orders.

Both answer 207 Multi-Status, one result per position (per account holding it): the open
orders of its symbol canceled first, then the closing order or the error that prevented it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request, Response
from fastapi.responses import JSONResponse

from api.audit import Who
from api.deps import EngineDep, PrincipalDep, RedisDep, SettingsDep
from api.orders.cancels import Edges
from api.orders.placer import PlacerDep
from api.positions.closing import Amount, Closer
from api.positions.schemas import ClosedPositions, ClosePosition, ClosePositions
from shared.domain.errors import InvalidOrder, NotFound

router = APIRouter(tags=["positions"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    207: {"description": "one result per position closed"},
    400: {"description": "the body is not JSON (`invalid_json`) or repeats a key "
                         "(`duplicate_key`)"},
    401: {"description": "missing or invalid access token"},
    404: {"description": "no such account of yours, or no open position to close "
                         "(`position_not_found`)"},
    422: {"description": "the body is invalid; `details.field` names the field"},
}


async def _closer(request: Request, principal: PrincipalDep, engine: EngineDep,
                  redis: RedisDep, settings: SettingsDep, placer: PlacerDep) -> Closer:
    return Closer(principal.user_id, Who.of(request, principal),
                  Edges(engine, redis, settings), placer)


CloserDep = Annotated[Closer, Depends(_closer)]


@router.post("/positions/{symbol}/close", status_code=207, response_model=ClosedPositions,
             responses=_RESPONSES)
async def close_position(
    closer: CloserDep, symbol: Annotated[str, Path(min_length=1, max_length=32)],
    body: Annotated[ClosePosition | None, Body()] = None,
) -> Response:
    """Close your position in one symbol (all, a percentage or a quantity) with a MARKET order.

    Its open orders in that account are canceled first. Without `account_id`, every account
    of yours holding the symbol is closed.
    """
    body = body or ClosePosition()
    await closer.require_account(body.account_id)
    symbol = symbol.strip().upper()
    held = await closer.held(body.account_id, symbol)
    if not held:
        raise NotFound(f"you hold no {symbol} position to close", code="position_not_found",
                       details={"field": "symbol", "value": symbol})
    if body.quantity is not None and len(held) > 1:
        raise InvalidOrder(f"{len(held)} of your accounts hold {symbol}: name one with "
                           "account_id to close a quantity", details={"field": "account_id"})
    amount = Amount(body.percentage, body.quantity, body.product)
    items = [await closer.close(row["account_id"], symbol, amount) for row in held]
    return JSONResponse({"items": items}, status_code=207)


@router.post("/positions/close", status_code=207, response_model=ClosedPositions,
             responses=_RESPONSES)
async def close_all_positions(
    closer: CloserDep, body: Annotated[ClosePositions | None, Body()] = None,
) -> Response:
    """Close every open position of yours (or one account's) with MARKET orders.

    Each symbol's open orders in that account are canceled first; no positions, no items.
    """
    body = body or ClosePositions()
    await closer.require_account(body.account_id)
    amount = Amount(body.percentage)
    items = [await closer.close(row["account_id"], row["symbol"], amount)
             for row in await closer.held(body.account_id)]
    return JSONResponse({"items": items}, status_code=207)
