"""Auth routes: register, log in (JSON, OAuth2 form or e-mailed code), rotate and revoke
refresh tokens.

Logins and sign-ups are held to their own budgets per client address, and logins (by password
or by code) also to one per e-mail named (api/ratelimit.py): a refused attempt costs no
password hash. Code requests have the `otp` budget per client address.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from api import ratelimit
from api.audit import Who
from api.auth import otp, service
from api.auth.schemas import (
    LoginRequest,
    OtpLoginRequest,
    OtpRequest,
    OtpRequested,
    RefreshRequest,
    RegisterRequest,
    TokenResponse,
    UserResponse,
    normalise_email,
)
from api.deps import ClockDep, EngineDep, PrincipalDep, RedisDep, SettingsDep, login_only
from api.errors import ApiError, AuthCode, unauthenticated
from shared.domain.audit import Action
from shared.messaging import tasks
from shared.settings import Settings

router = APIRouter(prefix="/auth", tags=["auth"])

_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "the request is invalid; `details.field` names the field"},
}
_METERED: dict[int | str, dict[str, Any]] = {
    429: {"description": "too many attempts (`rate_limited`; `details.budget` names the budget,"
                         " `Retry-After` says when to try again)"},
    503: {"description": "attempts cannot be metered (Redis is down): refused, retry shortly"},
}
_BAD_CREDENTIALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "email or password is incorrect (`invalid_credentials`, the same"
                         " answer for both)"},
    403: {"description": "the password is right but the address is not yet proven"
                         " (`email_unverified`, REQUIRE_EMAIL_VERIFICATION): log in once with a"
                         " mailed code"},
    **_INVALID, **_METERED,
}
_BAD_REFRESH: dict[int | str, dict[str, Any]] = {
    401: {"description": "refresh token unknown, expired or revoked (`invalid_credentials`)"},
    **_INVALID,
}
_email = TypeAdapter(EmailStr)


@router.post(
    "/register", status_code=201, response_model=UserResponse,
    responses={409: {"description": "email or username taken; `details.field` names it"},
               **_INVALID, **_METERED},
    dependencies=[ratelimit.per_ip(ratelimit.REGISTER)],
)
async def register(body: RegisterRequest, engine: EngineDep, redis: RedisDep,
                   settings: SettingsDep) -> UserResponse:
    """Create a user with a funded paper account; the username is unique whatever its case.

    With REQUIRE_EMAIL_VERIFICATION on, the address is mailed a code: the account logs in
    with it once (POST /auth/otp-login), which proves the address, before it may log in with
    its password or place orders (403 `email_unverified` until then).
    """
    new_user = await service.prepare_user(body.email, body.username, body.password)
    async with engine.begin() as conn:
        user = await service.register(conn, settings, new_user)
    if settings.require_email_verification:
        # After the commit: the worker must find the account. A mail that cannot be queued
        # is not a failed sign-up; POST /auth/request-otp mails another code.
        await otp.queue_mail(redis, settings, user.id, tasks.MAIL_FOR_VERIFICATION)
    return UserResponse(id=user.id, email=user.email, username=user.username)


@router.post("/login", response_model=TokenResponse, responses=_BAD_CREDENTIALS,
             dependencies=[ratelimit.per_ip(ratelimit.LOGIN)])
async def login(body: LoginRequest, request: Request, engine: EngineDep, settings: SettingsDep,
                response: Response) -> TokenResponse:
    """Log in with email and password; get an access and a refresh token."""
    return no_store(response, await _login(request, engine, settings, body.email,
                                            body.password))


@router.post("/token", response_model=TokenResponse, responses=_BAD_CREDENTIALS,
             dependencies=[ratelimit.per_ip(ratelimit.LOGIN)])
async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request,
                engine: EngineDep, settings: SettingsDep, response: Response) -> TokenResponse:
    """Log in with an OAuth2 password form (`username` is the email), as Swagger's Authorize."""
    try:
        email = normalise_email(_email.validate_python(form.username))
    except ValidationError:
        # Not an email, so no such user: still spend the hash check and answer the same 401.
        email = None
    return no_store(response, await _login(request, engine, settings, email, form.password))


@router.post("/request-otp", status_code=202, response_model=OtpRequested,
             responses={**_INVALID, **_METERED},
             dependencies=[ratelimit.per_ip(ratelimit.OTP)])
async def request_otp(body: OtpRequest, request: Request, engine: EngineDep, redis: RedisDep,
                      settings: SettingsDep) -> OtpRequested:
    """Mail a 6-digit login code to this address, if an account has it; always the same 202.

    The code works once, for OTP_TTL_SECONDS, and is burnt after OTP_MAX_ATTEMPTS wrong
    tries. An account is mailed a new code at most once per OTP_RESEND_SECONDS (a request
    sooner sends nothing and the code already sent stays good); a new code replaces the old.
    """
    async with engine.begin() as conn:
        await otp.queue_code(conn, redis, settings, body.email, Who.of(request))
    return OtpRequested()


@router.post("/otp-login", response_model=TokenResponse,
             responses={401: {"description": "no account, no code, or a wrong, used, expired"
                                             " or burnt code (`invalid_credentials`, the same"
                                             " for all)"},
                        **_INVALID, **_METERED},
             dependencies=[ratelimit.per_ip(ratelimit.LOGIN)])
async def otp_login(body: OtpLoginRequest, request: Request, engine: EngineDep,
                    settings: SettingsDep, clock: ClockDep, response: Response) -> TokenResponse:
    """Log in with the code mailed by request-otp; get the same token pair as a login."""
    await ratelimit.enforce(request, ratelimit.LOGIN_ACCOUNT, ratelimit.subject_key(body.email))
    async with engine.begin() as conn:
        pair = await otp.login(conn, settings, clock, body.email, body.otp, Who.of(request))
    # Raised after the commit: a wrong try must be counted.
    if pair is None:
        raise unauthenticated(otp.BAD_CODE, AuthCode.INVALID_CREDENTIALS)
    return no_store(response, tokens_of(pair))


@router.post("/refresh", response_model=TokenResponse, responses=_BAD_REFRESH)
async def refresh(body: RefreshRequest, request: Request, engine: EngineDep,
                  settings: SettingsDep, response: Response) -> TokenResponse:
    """Swap a refresh token for a new pair; the old refresh token stops working."""
    async with engine.begin() as conn:
        pair = await service.rotate(conn, settings, body.refresh_token, Who.of(request))
    # Raised after the commit: a reuse's family revocation must persist.
    if pair is None:
        raise unauthenticated(service.BAD_REFRESH_TOKEN, AuthCode.INVALID_CREDENTIALS)
    return no_store(response, tokens_of(pair))


@router.post("/logout", status_code=204, response_class=Response, responses=_INVALID)
async def logout(body: RefreshRequest, engine: EngineDep) -> Response:
    """Revoke this refresh token's session; unknown or already revoked tokens are fine."""
    async with engine.begin() as conn:
        await service.logout(conn, body.refresh_token)
    return Response(status_code=204)


@router.post(
    "/logout-all", status_code=204, response_class=Response,
    responses={401: {"description": "no valid access token"},
               403: {"description": "called with an API key (`login_required`; from outside"
                                    " its allow-list: `ip_not_allowed`)"},
               503: {"description": "Redis cannot take the user's new token generation;"
                                    " nothing changed, retry"}},
    dependencies=[login_only()],
)
async def logout_all(request: Request, principal: PrincipalDep, engine: EngineDep) -> Response:
    """End every session: all refresh tokens revoked, every access token refused at once."""
    async with engine.begin() as conn:
        revoked = await service.revoke_all_sessions(conn, request.app.state.limiter.redis,
                                                    principal.user_id)
        await Who.of(request, principal).record(conn, Action.LOGOUT_ALL,
                                                details={"sessions_ended": revoked})
    return Response(status_code=204)


async def _login(request: Request, engine: AsyncEngine, settings: Settings, email: str | None,
                 password: str) -> TokenResponse:
    who = Who.of(request)
    user = None
    if email is not None:
        # Guessing one account's password from many addresses meets this budget.
        await ratelimit.enforce(request, ratelimit.LOGIN_ACCOUNT, ratelimit.subject_key(email))
        async with engine.connect() as conn:
            user = await service.find_user(conn, email)
    try:
        login = await service.authenticate(user, password)
        # Told only to whoever knows the password: it reveals nothing to a guesser.
        service.require_verified(settings, login.user)
    except ApiError as refused:
        # In a transaction of its own: a refusal changes nothing else. Unknown e-mails too,
        # so that both refusals cost the same.
        details = {"method": "password", "email": email}
        if refused.code == AuthCode.EMAIL_UNVERIFIED:
            details["reason"] = AuthCode.EMAIL_UNVERIFIED.value
        async with engine.begin() as conn:
            await who.record(conn, Action.LOGIN_FAILED, user_id=user.id if user else None,
                             details=details)
        raise
    async with engine.begin() as conn:
        pair = await service.start_session(conn, settings, login)
        await who.as_user(login.user.id).record(conn, Action.LOGIN,
                                                details={"method": "password"})
    return tokens_of(pair)


def tokens_of(pair: service.TokenPair) -> TokenResponse:
    return TokenResponse(access_token=pair.access_token, refresh_token=pair.refresh_token,
                         expires_in=pair.expires_in)


def no_store(response: Response, tokens: TokenResponse) -> TokenResponse:
    """Mark an answer carrying tokens as uncacheable."""
    # RFC 6749 §5.1: responses carrying tokens must not be cached by any intermediary.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return tokens
