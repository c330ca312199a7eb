"""/me routes: your account, changing its username and name, changing its password, and its
audit log.

An API key may read the account but never change it, least of all its password (403
`login_required`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from api import audit, ratelimit
from api.audit import ActionQuery, AuditPage, SinceQuery, UntilQuery, WhoDep
from api.auth import profile
from api.auth.router import no_store, tokens_of
from api.auth.schemas import Me, MeUpdate, PasswordChange, TokenResponse
from api.deps import EngineDep, PrincipalDep, SettingsDep, login_only
from api.pages import Limit, PageCursor
from api.responses import LOGIN_ONLY, MALFORMED_BODY, READ, Responses
from shared.db.repositories.audit import Filters

router = APIRouter(prefix="/me", tags=["me"])

_WRITE: Responses = {
    **LOGIN_ONLY, **MALFORMED_BODY,
    422: {"description": "a missing, unknown or invalid field; `details.field` names it"},
}


@router.get("", response_model=Me, responses=READ)
async def get_me(principal: PrincipalDep, engine: EngineDep) -> Me:
    """Return your account: id, e-mail, username, full name, when you signed up."""
    async with engine.connect() as conn:
        return await profile.get_me(conn, principal.user_id)


@router.patch("", response_model=Me, dependencies=[login_only()], responses={
    **_WRITE,
    409: {"description": "the username belongs to another user, whatever its case"
                         " (`username_taken`)"}})
async def patch_me(body: MeUpdate, principal: PrincipalDep, engine: EngineDep) -> Me:
    """Change your username or full name; an absent field is kept, null clears it."""
    async with engine.begin() as conn:
        return await profile.update_me(conn, principal.user_id,
                                       body.model_dump(include=body.model_fields_set))


@router.post("/password", response_model=TokenResponse, dependencies=[login_only()],
             responses={
                 **_WRITE,
                 403: {"description": "the current password is wrong (`invalid_credentials`,"
                                      " `details.field`: current_password), or called with an"
                                      " API key (`login_required`; from outside its"
                                      " allow-list: `ip_not_allowed`)"},
                 409: {"description": "the password changed during this request; try again"},
                 429: {"description": "too many password checks for this account"
                                      " (`rate_limited`, the `login_account` budget)"},
                 503: {"description": "password checks cannot be metered, or sessions ended"
                                      " (Redis is down)"}})
async def change_password(body: PasswordChange, request: Request, principal: PrincipalDep,
                          who: WhoDep, engine: EngineDep, settings: SettingsDep,
                          response: Response) -> TokenResponse:
    """Change your password: every session ends (this one too) and a new token pair comes back.
    """
    user = await profile.current_user(engine, principal.user_id)
    # A stolen access token must not make this a password-guessing oracle.
    await ratelimit.enforce(request, ratelimit.LOGIN_ACCOUNT, ratelimit.subject_key(user.email))
    pair = await profile.change_password(engine, settings, request.app.state.limiter.redis,
                                         user, body, who)
    return no_store(response, tokens_of(pair))


@router.get("/audit", response_model=AuditPage, responses={
    **READ, 422: {"description": "invalid `limit`, `cursor` or filter (`details.field`)"}})
async def read_my_audit(principal: PrincipalDep, engine: EngineDep, limit: Limit = 100,
                        cursor: PageCursor = None, action: ActionQuery = None,
                        since: SinceQuery = None, until: UntilQuery = None) -> Response:
    """Read the audit log of your account, newest first: logins, keys, cancels, admin actions.
    """
    filters = Filters(user_id=principal.user_id, action=action, since=since, until=until)
    async with engine.connect() as conn:
        return JSONResponse(await audit.page(conn, filters, limit, cursor))
