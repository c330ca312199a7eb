"""Account and position routes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from api.accounts import broker_source, service
from api.accounts.schemas import (
    AccountOut,
    AccountSettingsOut,
    AccountSettingsPatch,
    BrokerFunds,
    BrokerPositions,
    PositionOut,
)
from api.deps import EngineDep, PrincipalDep, RedisDep, SettingsDep
from api.portfolio import history
from api.portfolio.schemas import AccountHistory
from shared.clock import calendar_from, clock_from
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
        "account_id": row["account_id"], "broker": row["broker"], "currency": row["currency"],
        "symbol": row["symbol"], "quantity": pos.quantity, "avg_price": pos.avg_price,
        "market_price": mark,
        "market_value": market_value(pos, mark) if mark is not None else None,
        "unrealized_pnl": unrealized_pnl(pos, mark) if mark is not None else None,
        "realized_pnl": pos.realized_pnl,
    }
    return {key: json_value(value) for key, value in view.items()}


def account_view(account: Mapping[Any, Any], rows: Sequence[Mapping[Any, Any]]) -> dict[str, Any]:
    """Sum one account's cash and positions (unmarked positions count at cost).

    Only that account's rows, so only its currency: amounts in two currencies never add up.
    """
    value = unrealized = realized = Decimal(0)
    for row in rows:
        if row["account_id"] != account["id"]:
            raise ValueError(f"position of account {row['account_id']} is not in {account['id']}")
        pos = _position(row)
        mark = row["mark"] if row["mark"] is not None else pos.avg_price
        value += market_value(pos, mark)
        unrealized += unrealized_pnl(pos, mark)
        realized += pos.realized_pnl
    cash: Decimal = account["cash"]
    view = {"account_id": account["id"], "broker": account["broker"],
            "currency": account["currency"], "cash": cash,
            "buying_power": cash - account["reserved_cash"], "equity": cash + value,
            "realized_pnl": realized, "unrealized_pnl": unrealized}
    return {key: json_value(v) for key, v in view.items()}


@router.get("/account", response_model=AccountOut | BrokerFunds,
            responses={401: {"description": "missing or invalid access token"},
                       404: {"description": "no such account of yours (absent or foreign)"},
                       **broker_source.FROM_BROKER})
async def get_account(
    principal: PrincipalDep, engine: EngineDep, redis: RedisDep, settings: SettingsDep,
    account_id: Annotated[uuid.UUID | None, Query(
        description="one of your accounts (a broker connection's id); default: paper")] = None,
    source: broker_source.Source = "ordergate",
) -> Response:
    """Return one account's cash, buying power, equity and P&L, in its own currency; with
    source=broker, the funds its broker reports (BrokerFunds)."""
    if source == "broker":
        async with engine.connect() as conn:
            found = None if account_id is None else await broker_source.owned_account(
                conn, principal.user_id, account_id)
        return JSONResponse(await broker_source.from_broker(
            redis, settings, broker_source.broker_account(found), "funds"))
    async with engine.connect() as conn:
        if account_id is None:
            account = await accounts.get_for_user(conn, principal.user_id)
        else:
            account = await accounts.get_owned(conn, principal.user_id, account_id)
        rows = [] if account is None else await accounts.positions_for_user(
            conn, principal.user_id, account["id"])
    if account is None:
        raise NotFound(f"account {account_id or 'paper'} not found",
                       details={"field": "account_id"})
    return JSONResponse(account_view(account, rows))


@router.get("/account/history", response_model=AccountHistory,
            responses={401: {"description": "missing or invalid access token"},
                       422: {"description": "`period` is not 1D, 1W, 1M or 1Y"}})
async def get_account_history(
    principal: PrincipalDep, engine: EngineDep, settings: SettingsDep,
    period: Annotated[history.Period, Query(description="how far back: the last day, week, "
                                                        "month (30 days) or year")] = "1M",
) -> JSONResponse:
    """Return the end-of-day snapshots of every account of yours (taken by Celery beat after
    each close of an account's exchange, keyed by its local trading day): market value and
    P&L per account and per currency each day, as a portfolio's history."""
    async with engine.connect() as conn:
        answer = await history.history(conn, principal.user_id, None, period,
                                       calendar_from(settings), clock_from(settings).now())
    return JSONResponse(answer)


@router.get("/positions", response_model=list[PositionOut] | BrokerPositions,
            responses={401: {"description": "missing or invalid access token"},
                       404: {"description": "an `account_id` that is not yours"},
                       **broker_source.FROM_BROKER})
async def list_positions(
    principal: PrincipalDep, engine: EngineDep, redis: RedisDep, settings: SettingsDep,
    account_id: Annotated[uuid.UUID | None, Query(
        description="only this account's; default: every account of yours")] = None,
    source: broker_source.Source = "ordergate",
) -> Response:
    """List your positions in every account (or one), each marked in its account's currency;
    with source=broker, what the broker of `account_id` reports (BrokerPositions).

    Flat ones are listed too, for their realized P&L.
    """
    async with engine.connect() as conn:
        found = None if account_id is None else await broker_source.owned_account(
            conn, principal.user_id, account_id)
        if source == "ordergate":
            rows = await accounts.positions_for_user(conn, principal.user_id, account_id)
    if source == "broker":
        return JSONResponse(await broker_source.from_broker(
            redis, settings, broker_source.broker_account(found), "positions"))
    return JSONResponse([position_view(row) for row in rows])


_SETTINGS_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or invalid access token"},
    404: {"description": "no such account of yours (absent or foreign)"},
    422: {"description": "a setting is invalid; `details.field` names it"},
}
AccountQuery = Annotated[uuid.UUID | None, Query(
    description="one of your accounts (a broker connection's id); default: paper")]


@router.get("/account/settings", response_model=AccountSettingsOut,
            responses=_SETTINGS_RESPONSES)
async def get_account_settings(principal: PrincipalDep, engine: EngineDep,
                               settings: SettingsDep,
                               account_id: AccountQuery = None) -> Response:
    """Return an account's session policy and risk limits (its own, the defaults, in force)."""
    async with engine.connect() as conn:
        view = await service.read_settings(conn, principal.user_id, account_id, settings)
    return JSONResponse(view)


@router.patch("/account/settings", response_model=AccountSettingsOut,
              responses=_SETTINGS_RESPONSES)
async def patch_account_settings(body: AccountSettingsPatch, principal: PrincipalDep,
                                 engine: EngineDep, settings: SettingsDep,
                                 account_id: AccountQuery = None) -> Response:
    """Change an account's session policy or risk limits (null: back to the default)."""
    async with engine.begin() as conn:
        view = await service.change_settings(conn, principal.user_id, account_id, body,
                                             settings)
    return JSONResponse(view)
