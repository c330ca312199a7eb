"""The kill switch of an account: halt (no new orders, everything open canceled), and lift.

The halt is committed before the cancels start, so an order racing the switch is either
refused by it or already open and canceled by the sweep that follows.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from api.audit import WhoDep
from api.deps import EngineDep, PrincipalDep, RedisDep, SettingsDep
from api.orders.bulk_schemas import CancelResult
from api.orders.cancels import Edges, cancel_each, cancel_item
from shared.db.repositories import halts, orders
from shared.domain.audit import Action
from shared.domain.errors import NotFound
from shared.messaging.order_view import json_value

router = APIRouter(tags=["account"])

AccountQuery = Annotated[uuid.UUID | None, Query(
    description="one of your accounts (a broker connection's id); default: paper")]
_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or invalid access token"},
    404: {"description": "no such account of yours (absent or foreign)"},
    422: {"description": "a query parameter is invalid; `details.field` names it"},
}


class HaltOut(BaseModel):
    """An account's kill switch: halted since `halted_at` (null: trading)."""

    account_id: uuid.UUID
    broker: str
    halted_at: datetime | None = Field(description="when the halt began; null: not halted")
    canceled: list[CancelResult] = Field(
        description="the orders this request canceled (only POST: the halt)")


def _view(row: Mapping[Any, Any], canceled: list[dict[str, Any]]) -> dict[str, Any]:
    return {"account_id": str(row["id"]), "broker": row["broker"],
            "halted_at": json_value(row["halted_at"]), "canceled": canceled}


async def _owned(conn: AsyncConnection, user_id: uuid.UUID,
                 account_id: uuid.UUID | None) -> Mapping[Any, Any]:
    row = await halts.state(conn, user_id, account_id)
    if row is None:
        raise NotFound(f"account {account_id or 'paper'} not found",
                       details={"field": "account_id"})
    return row


@router.post("/account/halt", response_model=HaltOut, responses=_RESPONSES)
async def halt_account(request: Request, principal: PrincipalDep, who: WhoDep,
                       engine: EngineDep, redis: RedisDep, settings: SettingsDep,
                       account_id: AccountQuery = None) -> Response:
    """Halt an account: refuse its new orders and cancel everything open in it."""
    async with engine.begin() as conn:
        account = await _owned(conn, principal.user_id, account_id)
        halted = await halts.set_halted(conn, principal.user_id, account["id"], halted=True)
        await who.record(conn, Action.ACCOUNT_HALTED, target=("account", halted["id"]),
                         details={"broker": halted["broker"]})
    async with engine.connect() as conn:
        open_ids = await orders.open_for_user(conn, principal.user_id, account_id=halted["id"])
    done = await cancel_each(Edges(engine, redis, settings), who, open_ids, via="halt")
    request_id = getattr(request.state, "request_id", None)
    return JSONResponse(_view(halted, [cancel_item(item, request_id) for item in done]))


@router.delete("/account/halt", response_model=HaltOut, responses=_RESPONSES)
async def lift_halt(principal: PrincipalDep, who: WhoDep, engine: EngineDep,
                    account_id: AccountQuery = None) -> Response:
    """Lift an account's halt: new orders are accepted again (canceled ones stay canceled)."""
    async with engine.begin() as conn:
        account = await _owned(conn, principal.user_id, account_id)
        lifted = await halts.set_halted(conn, principal.user_id, account["id"], halted=False)
        await who.record(conn, Action.ACCOUNT_HALT_LIFTED, target=("account", lifted["id"]),
                         details={"broker": lifted["broker"]})
    return JSONResponse(_view(lifted, []))


@router.get("/account/halt", response_model=HaltOut, responses=_RESPONSES)
async def halt_state(principal: PrincipalDep, engine: EngineDep,
                     account_id: AccountQuery = None) -> Response:
    """Tell whether an account is halted, and since when."""
    async with engine.connect() as conn:
        account = await _owned(conn, principal.user_id, account_id)
    return JSONResponse(_view(account, []))
