"""Request-scoped dependencies: settings, database, Redis, the caller. All `async def`."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from api import ratelimit
from api.apikeys import keys
from api.apikeys import service as api_keys
from api.auth import generations
from api.errors import AuthCode, email_unverified, forbidden, unauthenticated
from api.market.service import InstrumentCache
from api.orders.rate import OrderRate
from api.security import (
    Principal,
    Scope,
    access_token_expired,
    verify_access_token,
)
from shared.clock import Clock, calendar_from, clock_from
from shared.db.repositories import users
from shared.domain.enums import Role
from shared.domain.sessions import Calendar
from shared.messaging.enqueue import OrderDispatcher
from shared.settings import Settings

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/token", auto_error=False,
    description="An access token from logging in (Swagger's Authorize logs in for you).")
api_key_scheme = HTTPBearer(
    scheme_name="ApiKey", bearerFormat="og_…", auto_error=False,
    description="An API key from POST /api/v1/api-keys, sent as `Authorization: Bearer og_…`."
                " A `read` key may only GET; creating or deleting keys, changing broker"
                " connections or account settings, and lifting a halt take a logged-in"
                " user's access token.")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _app_state(attribute: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency returning one of the process-wide objects the lifespan put on app.state."""

    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, attribute)

    dependency.__name__ = f"get_{attribute}"
    return dependency


async def get_clock(request: Request) -> Clock:
    """The time sessions and expiry go by (CLOCK_OFFSET_SECONDS; tests override it)."""
    return clock_from(request.app.state.settings)


async def current_principal(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)],
    clock: Annotated[Clock, Depends(get_clock)],
    # Read through oauth2_scheme above; declared so that the OpenAPI document offers an API key
    # as the other way in (and Swagger's Authorize takes one).
    _api_key: Annotated[HTTPAuthorizationCredentials | None, Depends(api_key_scheme)] = None,
) -> Principal:
    """The authenticated caller; 401 for a missing, expired, revoked or forged token or API key.

    An API key is also held to its scopes and the routes only a logged-in user may call: 403.
    Each key, and each user's access tokens, has its own request budget (429).
    """
    if token is not None and keys.is_api_key(token):
        by_key = await _key_principal(request, token, clock)
        await ratelimit.enforce_all(request, _budgets(request, f"key:{by_key.key_id}"))
        return by_key
    settings: Settings = request.app.state.settings
    principal = verify_access_token(settings, token) if token else None
    if principal is None:
        if token and access_token_expired(settings, token):
            raise unauthenticated("the access token has expired; refresh it",
                                  AuthCode.TOKEN_EXPIRED)
        raise unauthenticated("a valid bearer access token or API key is required")
    refused = await generations.admit(request, principal,
                                      _budgets(request, f"user:{principal.user_id}"))
    if refused is AuthCode.TOKEN_REVOKED:
        raise unauthenticated("this access token was revoked by a logout everywhere; log in"
                              " again", refused)
    if refused is not None:
        raise unauthenticated("the account of this access token no longer exists")
    return principal


def _budgets(request: Request, caller: str) -> list[tuple[ratelimit.Budget, str]]:
    """The caller's budgets on this route: its own (API), and on a route that places orders
    (PLACEMENT_BUDGET) the orders budget too, counted in the same round trip to Redis."""
    budgets = [(ratelimit.API, caller)]
    if PLACEMENT_BUDGET in getattr(request.scope.get("route"), "dependencies", ()):
        budgets.append((ratelimit.ORDERS, caller))
    return budgets


async def _key_principal(request: Request, token: str, clock: Clock) -> Principal:
    host = request.client.host if request.client else None
    key = await api_keys.authenticate(request.app.state.autocommit_engine, token, host,
                                      clock.now())
    principal = Principal(user_id=key.user_id, key_id=key.id,
                          scopes=frozenset(Scope(scope) for scope in key.scopes))
    needed = Scope.READ if request.method in SAFE_METHODS else Scope.TRADE
    if not principal.may(needed):
        raise forbidden(f"this API key lacks the {needed.value!r} scope",
                        AuthCode.INSUFFICIENT_SCOPE, details={"required_scope": needed.value})
    return principal


def login_only(methods: frozenset[str] = WRITE_METHODS) -> Any:
    """A route or router dependency: these methods take a logged-in user, never an API key.

    Where a leaked or runaway bot must not undo its owner's safeguards (mint or revoke keys,
    change broker logins or risk limits, lift the kill switch), whatever its scopes: 403.
    """

    async def require_login(request: Request, principal: PrincipalDep) -> None:
        if principal.key_id is not None and request.method in methods:
            raise forbidden("an API key cannot do this; call it with a logged-in user's access"
                            " token", AuthCode.LOGIN_REQUIRED)

    return Depends(require_login)


async def limit_placement(request: Request, principal: PrincipalDep) -> None:
    """A route dependency of the routes that place orders: the caller's orders budget (counted
    with its own by `current_principal`), and with REQUIRE_EMAIL_VERIFICATION the refusal of
    an account whose address is unproven (403)."""
    if request.app.state.settings.require_email_verification:
        # Read per placement (one primary-key lookup, only with the setting on): sessions
        # and keys from before the setting was turned on must not trade around it.
        async with request.app.state.autocommit_engine.connect() as conn:
            verified = await users.email_verified(conn, principal.user_id)
        if not verified:
            raise email_unverified()


PLACEMENT_BUDGET = Depends(limit_placement)


async def _role(request: Request, principal: Principal) -> Role | None:
    # Read on every call (one primary-key lookup), so that a demotion takes effect at once.
    async with request.app.state.autocommit_engine.connect() as conn:
        return await users.role_of(conn, principal.user_id)


async def is_admin(request: Request, principal: Principal) -> bool:
    """Whether the caller is a logged-in admin. An API key never carries admin rights: a
    leaked bot key must not run the deployment."""
    return principal.key_id is None and await _role(request, principal) is Role.ADMIN


async def require_admin(request: Request, principal: PrincipalDep) -> Principal:
    """The caller of an admin route: 403 `forbidden` for anyone but a logged-in admin (an
    admin's own API key: 403 `login_required`)."""
    if await _role(request, principal) is not Role.ADMIN:
        raise forbidden("this route is for admins only")
    if principal.key_id is not None:
        raise forbidden("admin routes take a logged-in admin's access token, never an API key",
                        AuthCode.LOGIN_REQUIRED)
    return principal


class Operator:
    """The holder of OPERATOR_TOKEN: sees operational detail across all users."""


OPERATOR = Operator()


async def operator_or_principal(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)],
    clock: Annotated[Clock, Depends(get_clock)],
) -> Operator | Principal:
    """The operator (OPERATOR_TOKEN, when configured) or an authenticated user; else 401."""
    configured: str | None = request.app.state.settings.operator_token
    # Constant time: a byte-by-byte compare would let timing reveal the token.
    if token and configured and hmac.compare_digest(token.encode(), configured.encode()):
        return OPERATOR
    return await current_principal(request, token, clock)


async def get_calendar(request: Request) -> Calendar:
    """The trading calendar of the settings (hours, holidays, PAPER_ALWAYS_OPEN)."""
    calendar: Calendar | None = getattr(request.app.state, "calendar", None)
    if calendar is None:  # built once per app, on first use
        calendar = request.app.state.calendar = calendar_from(request.app.state.settings)
    return calendar


async def get_order_rate(request: Request) -> OrderRate:
    """The orders-per-second counter shared by every API process (in Redis)."""
    rate: OrderRate | None = getattr(request.app.state, "order_rate", None)
    if rate is None:  # built once per app, on first use
        rate = request.app.state.order_rate = OrderRate(request.app.state.redis)
    return rate


SettingsDep = Annotated[Settings, Depends(_app_state("settings"))]
EngineDep = Annotated[AsyncEngine, Depends(_app_state("engine"))]
# Single-statement writes: no BEGIN/COMMIT round trips, still atomic.
AutocommitEngineDep = Annotated[AsyncEngine, Depends(_app_state("autocommit_engine"))]
RedisDep = Annotated[Redis, Depends(_app_state("redis"))]
InstrumentsDep = Annotated[InstrumentCache, Depends(_app_state("instruments"))]
DispatcherDep = Annotated[OrderDispatcher, Depends(_app_state("dispatcher"))]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]
OperatorOrPrincipalDep = Annotated[Operator | Principal, Depends(operator_or_principal)]
ClockDep = Annotated[Clock, Depends(get_clock)]
CalendarDep = Annotated[Calendar, Depends(get_calendar)]
OrderRateDep = Annotated[OrderRate, Depends(get_order_rate)]
