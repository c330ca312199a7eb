"""Access tokens: HS256 JWTs (python-jose) with the algorithm, issuer, audience and type pinned.

The caller behind a token, `Principal`, is either a logged-in user (an access token) or an
API key (api/apikeys), which carries its scopes.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from enum import StrEnum

from jose import ExpiredSignatureError, JWTError, jwt
from sqlalchemy.ext.asyncio import AsyncEngine

from api.errors import AuthCode
from shared.db.repositories import users
from shared.settings import Settings

ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"


class Scope(StrEnum):
    """What an API key may do: `read` the GET routes, `trade` also change orders and positions."""

    READ = "read"
    TRADE = "trade"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user of a verified access token, or of an API key (`key_id` set).

    `token_generation` is the one an access token was issued in (None for an API key): the
    token is honoured only while it is still the user's (see api/deps.py).
    """

    user_id: uuid.UUID
    key_id: uuid.UUID | None = None
    scopes: frozenset[Scope] = frozenset(Scope)
    token_generation: int | None = None

    def may(self, scope: Scope) -> bool:
        """Whether this caller holds `scope`; `trade` includes `read`."""
        return scope in self.scopes or Scope.TRADE in self.scopes


def issue_access_token(settings: Settings, user_id: uuid.UUID, generation: int = 0) -> str:
    """Sign a short-lived access token for this user, in its current token generation."""
    now = int(time.time())
    claims = {
        "sub": str(user_id), "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
        "iat": now, "nbf": now, "exp": now + settings.access_token_ttl_seconds,
        "jti": uuid.uuid4().hex, "typ": ACCESS_TOKEN_TYPE, "gen": generation,
    }
    return str(jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM))


# A client sends the same token with every request until it expires; verifying the signature
# once per process is enough. Bounded, and entries die with their token's `exp`. Revocation
# is not cached: the caller compares the token's generation with the user's on every request.
_MAX_CACHED = 10_000
_verified: dict[tuple[str, str, str], tuple[Principal, float]] = {}


def verify_access_token(settings: Settings, token: str) -> Principal | None:
    """Return the principal of a valid access token, or None for anything else."""
    key = (settings.jwt_secret, settings.jwt_audience, token)
    cached = _verified.get(key)
    if cached is not None and cached[1] > time.time():
        return cached[0]
    principal, expires = _decode(settings, token)
    if principal is not None:
        if len(_verified) >= _MAX_CACHED:
            _verified.clear()
        _verified[key] = (principal, expires)
    return principal


async def still_current(engine: AsyncEngine, principal: Principal) -> bool:
    """Whether a verified access token survived every logout everywhere since its issue."""
    return await refusal(engine, principal) is None


async def refusal(engine: AsyncEngine, principal: Principal) -> AuthCode | None:
    """Why a verified access token is no longer honoured, or None: `token_revoked` after a
    logout everywhere or a password change, `unauthenticated` once its user is gone.

    Read on every call (one primary-key lookup, ~0.5 ms) rather than cached, so that a logout
    everywhere ends the user's access tokens in every process at once. API keys: never.
    """
    if principal.key_id is not None:
        return None
    async with engine.connect() as conn:
        generation = await users.token_generation(conn, principal.user_id)
    if generation is None:
        return AuthCode.UNAUTHENTICATED
    return None if generation == principal.token_generation else AuthCode.TOKEN_REVOKED


def access_token_expired(settings: Settings, token: str) -> bool:
    """Whether a token that failed verification is one of ours that has only expired.

    Asked on refusals only, so that the client learns to refresh rather than log in.
    """
    try:
        jwt.decode(token, settings.jwt_secret, algorithms=[ALGORITHM],
                   audience=settings.jwt_audience, issuer=settings.jwt_issuer)
    except ExpiredSignatureError:
        return True  # raised only for a token signed with our key
    except JWTError:
        return False
    return False


def _decode(settings: Settings, token: str) -> tuple[Principal | None, float]:
    try:
        claims = jwt.decode(
            token, settings.jwt_secret, algorithms=[ALGORITHM],
            audience=settings.jwt_audience, issuer=settings.jwt_issuer,
            options={"require_exp": True, "require_sub": True, "require_iat": True},
        )
        generation = claims.get("gen", 0)  # tokens issued before generations existed: 0
        if claims.get("typ") != ACCESS_TOKEN_TYPE or not isinstance(generation, int):
            return None, 0.0
        principal = Principal(user_id=uuid.UUID(claims["sub"]), token_generation=generation)
        return principal, float(claims["exp"])
    except (JWTError, ValueError, KeyError):
        return None, 0.0
