"""Admin routes: find users and read their accounts, change a user's role and a paper
account's cash, pause and resume a broker's dispatch, read the audit log.

Only a logged-in admin may call them (api.deps.require_admin): a user gets 403 `forbidden`,
an API key, even an admin's, 403 (`login_required` for an admin's own key).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from api import audit
from api.admin import service
from api.admin.schemas import (
    AdjustCash,
    AdminUserDetail,
    AdminUserPage,
    CashEntry,
    DispatchState,
    PauseDispatch,
    RoleChange,
    RoleChanged,
)
from api.audit import ActionQuery, AuditPage, SinceQuery, UntilQuery, Who
from api.deps import AdminDep, EngineDep, require_admin
from api.market import news
from api.pages import Limit, PageCursor
from api.paths import USER_ID
from api.responses import ADMIN, MALFORMED_BODY, Responses
from shared.brokers.catalog import Broker
from shared.db.repositories.audit import Filters
from shared.domain.enums import Role

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])

_NOT_FOUND: Responses = {404: {"description": "no user has this id"}}
_PAGE: Responses = {422: {"description": "invalid `limit`, `cursor` or filter (`details.field`)"}}


@router.get("/users", response_model=AdminUserPage, responses={**ADMIN, **_PAGE})
async def list_users(
    engine: EngineDep, limit: Limit = 100, cursor: PageCursor = None,
    q: Annotated[str | None, Query(
        min_length=1, max_length=320,
        description="only users whose e-mail or username starts with this, in any case")] = None,
    role: Annotated[Role | None, Query(description="only users with this role")] = None,
) -> Response:
    """List users, newest first, optionally by e-mail or username prefix and role."""
    async with engine.connect() as conn:
        page = await service.list_users(conn, prefix=q, role=role, limit=limit, cursor=cursor)
    return JSONResponse(page)


@router.get(f"/users/{USER_ID}", response_model=AdminUserDetail,
            responses={**ADMIN, **_NOT_FOUND})
async def get_user(user_id: str, engine: EngineDep) -> Response:
    """Return one user with every account it holds, cash and reservations included."""
    async with engine.connect() as conn:
        return JSONResponse(await service.user_detail(conn, user_id))


@router.put(f"/users/{USER_ID}/role", response_model=RoleChanged,
            responses={**ADMIN, **_NOT_FOUND, **MALFORMED_BODY,
                       409: {"description": "the only admin cannot become a user"
                                            " (`last_admin`)"},
                       422: {"description": "an unknown role or field (`details.field`)"}})
async def change_role(user_id: str, body: RoleChange, request: Request, admin: AdminDep,
                      engine: EngineDep) -> Response:
    """Make a user an admin, or an admin a user again; audited as `admin.role_changed`."""
    async with engine.begin() as conn:
        changed = await service.change_role(conn, Who.of(request, admin), user_id, body.role)
    return JSONResponse(changed)


@router.post(f"/users/{USER_ID}/cash", status_code=201, response_model=CashEntry,
             responses={**ADMIN, **_NOT_FOUND, **MALFORMED_BODY,
                        422: {"description": "an invalid amount, reason or account"
                                             " (`details.field`); a withdrawal below what open"
                                             " orders reserve (`insufficient_buying_power`, with"
                                             " the figures); a broker connection"
                                             " (`not_a_paper_account`); the Idempotency-Key"
                                             " used with another body"
                                             " (`idempotency_key_reused`)"}})
async def adjust_cash(
    user_id: str, body: AdjustCash, request: Request, admin: AdminDep, engine: EngineDep,
    idempotency_key: Annotated[str, Header(
        alias="Idempotency-Key", min_length=1, max_length=255,
        description="required: a retry with the same key and body books nothing more")],
) -> Response:
    """Deposit (+) or withdraw (-) a user's paper cash.

    Booked in the cash journal and audited as `admin.cash_adjusted`; a withdrawal never takes
    what the account's open orders reserve.
    """
    async with engine.begin() as conn:
        entry, replayed = await service.adjust_cash(conn, Who.of(request, admin), user_id, body,
                                                    idempotency_key)
    return JSONResponse(entry, status_code=201,
                        headers={"Idempotent-Replayed": "true"} if replayed else None)


BrokerPath = Annotated[Broker, Path(description="any broker, the built-in paper one included")]
_BROKER: Responses = {422: {"description": "an unknown broker, or an invalid reason"
                                           " (`details.field`)"}}


@router.post("/brokers/{broker}/pause", response_model=DispatchState,
             responses={**ADMIN, **MALFORMED_BODY, **_BROKER})
async def pause_dispatch(broker: BrokerPath, request: Request, admin: AdminDep,
                         engine: EngineDep, body: PauseDispatch | None = None) -> Response:
    """Pause a broker's dispatch: its new orders are accepted and wait, none is lost.

    Orders already at the broker go on (cancels, modifies, fills); a placement that started
    before the pause completes. Audited as `admin.dispatch_paused`; pausing again changes
    nothing.
    """
    async with engine.begin() as conn:
        state = await service.pause_dispatch(conn, Who.of(request, admin), broker,
                                             body.reason if body else None)
    return JSONResponse(state)


@router.delete("/brokers/{broker}/pause", response_model=DispatchState,
               responses={**ADMIN, **_BROKER})
async def resume_dispatch(broker: BrokerPath, request: Request, admin: AdminDep,
                          engine: EngineDep) -> Response:
    """Resume a broker's dispatch: the orders it held are placed by the sweeper's next run.

    Audited as `admin.dispatch_resumed`, with how many orders it released.
    """
    async with engine.begin() as conn:
        state = await service.resume_dispatch(conn, Who.of(request, admin), broker)
    return JSONResponse(state)


@router.get("/audit", response_model=AuditPage, responses={**ADMIN, **_PAGE})
async def read_audit(
    engine: EngineDep, limit: Limit = 100, cursor: PageCursor = None,
    user_id: Annotated[uuid.UUID | None, Query(
        description="only entries about this user's account")] = None,
    action: ActionQuery = None, since: SinceQuery = None, until: UntilQuery = None,
) -> Response:
    """Read the audit log of every user, newest first, by user, action and time."""
    filters = Filters(user_id=user_id, action=action, since=since, until=until)
    async with engine.connect() as conn:
        return JSONResponse(await audit.page(conn, filters, limit, cursor))


# The news an admin posts lives with the market's (api.market.news); its route is an admin one.
router.include_router(news.admin_router)
