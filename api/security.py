"""Access tokens: HS256 JWTs (python-jose) with the algorithm, issuer, audience and type pinned."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from jose import JWTError, jwt

from shared.settings import Settings

ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user id from a verified access token."""

    user_id: uuid.UUID


def issue_access_token(settings: Settings, user_id: uuid.UUID) -> str:
    """Sign a short-lived access token for this user."""
    now = int(time.time())
    claims = {
        "sub": str(user_id), "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
        "iat": now, "nbf": now, "exp": now + settings.access_token_ttl_seconds,
        "jti": uuid.uuid4().hex, "typ": ACCESS_TOKEN_TYPE,
    }
    return str(jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM))


def verify_access_token(settings: Settings, token: str) -> Principal | None:
    """Return the principal of a valid access token, or None for anything else."""
    try:
        claims = jwt.decode(
            token, settings.jwt_secret, algorithms=[ALGORITHM],
            audience=settings.jwt_audience, issuer=settings.jwt_issuer,
            options={"require_exp": True, "require_sub": True, "require_iat": True},
        )
        if claims.get("typ") != ACCESS_TOKEN_TYPE:
            return None
        return Principal(user_id=uuid.UUID(claims["sub"]))
    except (JWTError, ValueError, KeyError):
        return None
