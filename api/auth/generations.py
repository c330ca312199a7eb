"""Whether an access token is still honoured, mostly without a round trip to PostgreSQL.

An access token carries its user's token generation, which a logout everywhere or a password
change moves on (api/security.py). Reading the generation from PostgreSQL on every request
cost a round trip and about an eighth of a placement's CPU in the API (py-spy under `make
bench`). So each user's generation is mirrored in Redis, in the rate limiter's, which every
request with a token calls anyway: one script counts the request's budgets and reads the
mirror. PostgreSQL stays the truth:

- a request whose token matches the mirror is honoured; any other (no mirror, another value,
  Redis down) reads PostgreSQL, and a good read is mirrored again;
- moving a generation on raises the mirror *before* its transaction commits, and fails the
  change with 503 if it cannot, so a mirror is never behind a committed generation; a change
  that then fails to commit leaves the mirror ahead, which costs reads, never a wrong answer;
- the mirror only ever rises (a late read cannot lower it) and lasts MIRROR_SECONDS, which
  bounds what a Redis restored from an older snapshot could honour.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Final

from fastapi import Request
from redis.asyncio import Redis
from redis.exceptions import RedisError

from api import ratelimit
from api.errors import ApiError, AuthCode
from api.security import Principal, refusal

log = logging.getLogger(__name__)

KEY_PREFIX: Final = "ordergate:token-generation"
MIRROR_SECONDS: Final = 60

# KEYS[1] the mirror; ARGV the generation, its lifetime. Raise only: a read that lost a race
# with a logout everywhere must not put the older generation back.
_RAISE = """
local current = tonumber(redis.call('get', KEYS[1]))
if not current or current < tonumber(ARGV[1]) then
  redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return 1
"""


def mirror_key(user_id: uuid.UUID) -> str:
    """The Redis key of a user's mirrored token generation."""
    return f"{KEY_PREFIX}:{user_id}"


async def admit(request: Request, principal: Principal,
                budgets: Sequence[tuple[ratelimit.Budget, str]]) -> AuthCode | None:
    """Count a verified access token's request against its budgets (429 when one is spent) and
    say why the token is no longer honoured, or None; one round trip when the mirror agrees.

    A refused token's request counts against no budget of its user's.
    """
    limiter: ratelimit.Limiter = request.app.state.limiter
    expected = str(principal.token_generation)
    counted = await limiter.hit_all_unless(budgets, (mirror_key(principal.user_id), expected))
    if counted.guard != expected:
        refused = await refusal(request.app.state.autocommit_engine, principal)
        if refused is not None:
            return refused
        await _remember(limiter.redis, principal.user_id, expected)
        if not counted.counted:  # the mirror was ahead of PostgreSQL (a change that failed)
            counted = await limiter.hit_all_unless(budgets, None)
    ratelimit.record(request, counted.verdicts)
    return None


async def raise_mirror(redis: Redis, user_id: uuid.UUID, generation: int) -> None:
    """Mirror a user's new generation before it commits; 503 (nothing changes) if Redis
    cannot take it, since a mirror behind PostgreSQL would honour revoked tokens."""
    try:
        await _raise(redis, user_id, generation)
    except (RedisError, OSError) as exc:
        log.warning("could not mirror the token generation of user %s: %s", user_id, exc)
        raise ApiError(503, "sessions cannot be ended right now; retry shortly",
                       code="unavailable", headers={"Retry-After": "1"}) from None


async def _remember(redis: Redis, user_id: uuid.UUID, generation: str) -> None:
    try:
        await _raise(redis, user_id, generation)
    except (RedisError, OSError) as exc:  # the next request reads PostgreSQL again
        log.debug("token generation of user %s not mirrored: %s", user_id, exc)


async def _raise(redis: Redis, user_id: uuid.UUID, generation: int | str) -> None:
    await redis.eval(_RAISE, 1, mirror_key(user_id), generation, MIRROR_SECONDS)
