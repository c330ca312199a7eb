"""Broker connection routes: link a broker account, list, renew and disconnect it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from api.audit import Who, WhoDep
from api.brokers import service
from api.brokers.schemas import BrokerName, ConnectionOut, ConnectRequest, RefreshRequest
from api.deps import EngineDep, PrincipalDep, SettingsDep
from api.paths import CONNECTION_ID
from shared.brokers.types import SessionExpired
from shared.db.repositories import connections
from shared.domain.audit import Action

router = APIRouter(prefix="/brokers", tags=["brokers"])

_AUTH: dict[int | str, dict[str, Any]] = {401: {"description": "missing or invalid access token"}}
_BROKER: dict[int | str, dict[str, Any]] = {
    422: {"description": "unknown broker, or paper; `details.field` is `broker`"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such connection for this user"}, **_BROKER,
}
_AT_BROKER: dict[int | str, dict[str, Any]] = {
    422: {"description": "invalid request (`details.field` names the field), or the broker "
                         "refused the login (code `broker_login_refused`)"},
    503: {"description": "the broker could not be reached (code `broker_unavailable`); "
                         "retry after `Retry-After` seconds"},
}


@router.post("/{broker}/connections", status_code=201, response_model=ConnectionOut,
             responses={**_AUTH, **_AT_BROKER})
async def connect(broker: BrokerName, body: ConnectRequest, principal: PrincipalDep, who: WhoDep,
                  engine: EngineDep, settings: SettingsDep, response: Response
                  ) -> ConnectionOut:
    """Connect a broker account: the broker checks your login; the session is stored encrypted.

    Connecting the same broker login again updates its existing connection (same id).
    """
    target = service.connectable(broker)
    session = service.with_market_protection(
        await service.activate(settings, target, service.login_form(target, body, check=True)),
        body.market_protection)
    async with engine.begin() as conn:
        row = await service.save_new(conn, service.credential_box(settings),
                                     user_id=principal.user_id, broker=target,
                                     label=body.label, session=session)
        await _audit(conn, who, Action.BROKER_CONNECTED, row)
    response.headers["Location"] = f"/api/v1/brokers/{target.value}/connections/{row['id']}"
    return service.view(row, settings)


@router.get("/connections", response_model=list[ConnectionOut], responses=_AUTH)
async def list_all(principal: PrincipalDep, engine: EngineDep, settings: SettingsDep
                   ) -> list[ConnectionOut]:
    """List your broker connections at every broker."""
    async with engine.connect() as conn:
        rows = await connections.list_for_user(conn, principal.user_id)
    return [service.view(row, settings) for row in rows]


@router.get("/{broker}/connections", response_model=list[ConnectionOut],
            responses={**_AUTH, **_BROKER})
async def list_at_broker(broker: BrokerName, principal: PrincipalDep, engine: EngineDep,
                         settings: SettingsDep) -> list[ConnectionOut]:
    """List your connections at one broker."""
    target = service.connectable(broker)
    async with engine.connect() as conn:
        rows = await connections.list_for_user(conn, principal.user_id, target)
    return [service.view(row, settings) for row in rows]


@router.get(f"/{{broker}}/connections/{CONNECTION_ID}", response_model=ConnectionOut,
            responses={**_AUTH, **_NOT_FOUND})
async def get_connection(broker: BrokerName, connection_id: str, principal: PrincipalDep,
                         engine: EngineDep, settings: SettingsDep) -> ConnectionOut:
    """Return one of your broker connections."""
    target = service.connectable(broker)
    async with engine.connect() as conn:
        row = await service.load(conn, principal.user_id, target, connection_id)
    return service.view(row, settings)


@router.delete(f"/{{broker}}/connections/{CONNECTION_ID}", status_code=204,
               response_class=Response,
               responses={**_AUTH, **_NOT_FOUND,
                          409: {"description": "orders on this connection are still open "
                                               "(code `connection_has_open_orders`)"}})
async def disconnect(broker: BrokerName, connection_id: str, principal: PrincipalDep, who: WhoDep,
                     engine: EngineDep) -> Response:
    """Disconnect a broker account: its stored credentials are erased."""
    target = service.connectable(broker)
    async with engine.begin() as conn:
        row = await service.disconnect(conn, principal.user_id, target, connection_id)
        await _audit(conn, who, Action.BROKER_DISCONNECTED, row)
    return Response(status_code=204)


@router.post(f"/{{broker}}/connections/{CONNECTION_ID}/refresh", response_model=ConnectionOut,
             responses={**_AUTH, **_NOT_FOUND, **_AT_BROKER,
                        409: {"description": "the broker wants a new login "
                                             "(code `connection_expired`)"}})
async def refresh(broker: BrokerName, connection_id: str, principal: PrincipalDep, who: WhoDep,
                  engine: EngineDep, settings: SettingsDep,
                  body: RefreshRequest | None = None) -> ConnectionOut:
    """Renew a connection's broker session, with a new login where the broker needs one."""
    target = service.connectable(broker)
    box = service.credential_box(settings)
    async with engine.connect() as conn:
        row = await service.load(conn, principal.user_id, target, connection_id)
    current = service.stored_session(box, row)
    form = service.login_form(target, body or RefreshRequest(), check=False)
    try:
        session = await service.renew(settings, target, current, form)
    except SessionExpired as exc:
        async with engine.begin() as conn:
            error = await service.mark_expired(conn, row, exc.message)
        raise error from None
    session = service.with_market_protection(
        session, body.market_protection if body else None, current)
    async with engine.begin() as conn:
        saved = await service.save_renewed(conn, box, row, session)
        await _audit(conn, who, Action.BROKER_RENEWED, saved)
    return service.view(saved, settings)


async def _audit(conn: AsyncConnection, who: Who, action: Action, row: RowMapping) -> None:
    await who.record(conn, action, target=("account", row["id"]),
                     details={"broker": row["broker"], "broker_user_id": row["broker_user_id"],
                              "label": row["label"]})
