"""The token generations mirrored in Redis (api/auth/generations.py), against real Redis and
PostgreSQL: a request whose token matches the mirror skips the database, and nothing the mirror
can get wrong (ahead of the database, missing, unreachable) honours a revoked token, refuses a
good one or counts a request twice."""

from __future__ import annotations

import uuid

import httpx
import pytest
from redis.asyncio import Redis

from api.auth.generations import mirror_key
from tests.helpers import PASSWORD, user_id_of
from tests.integration.test_rate_limits import _address, _app, _client_at

pytestmark = pytest.mark.integration

ACCOUNT = "/api/v1/account"
BUDGET = "50/minute"  # the user's api budget: the tightest, so RateLimit-Remaining shows it


async def _session(client: httpx.AsyncClient, email: str | None = None
                   ) -> tuple[dict[str, str], dict[str, str]]:
    """A login, of a new user unless `email` names one: its tokens, and the bearer header of
    the access token."""
    if email is None:
        email = f"mirror-{uuid.uuid4().hex[:12]}@example.com"
        assert (await client.post("/api/v1/auth/register", json={
            "email": email, "password": PASSWORD})).status_code == 201
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    tokens: dict[str, str] = login.json()
    return tokens, {"Authorization": f"Bearer {tokens['access_token']}"}


async def _remaining(client: httpx.AsyncClient, auth: dict[str, str]) -> int:
    answer = await client.get(ACCOUNT, headers=auth)
    assert answer.status_code == 200, answer.text
    return int(answer.headers["ratelimit-remaining"])


async def test_a_logout_everywhere_in_one_process_refuses_the_token_in_another_at_once(
    redis_url: str,
) -> None:
    async with _app(api=BUDGET) as first, _app(api=BUDGET) as second, \
            _client_at(first, _address()) as here, _client_at(second, _address()) as there:
        _, auth = await _session(here)
        await _remaining(there, auth)  # the other process has seen the token: it is mirrored
        redis = Redis.from_url(redis_url)
        try:
            assert await redis.get(mirror_key(user_id_of(auth))) == b"0"
        finally:
            await redis.aclose()

        assert (await here.post("/api/v1/auth/logout-all", headers=auth)).status_code == 204

        refused = await there.get(ACCOUNT, headers=auth)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "token_revoked"


async def test_a_mirror_ahead_of_the_database_honours_the_token_and_counts_it_once(
    redis_url: str,
) -> None:
    # What a logout everywhere that raised the mirror and then failed to commit leaves.
    async with _app(api=BUDGET) as app, _client_at(app, _address()) as client:
        _, auth = await _session(client)
        before = await _remaining(client, auth)
        redis = Redis.from_url(redis_url)
        try:
            await redis.set(mirror_key(user_id_of(auth)), "7", ex=60)
            after = await _remaining(client, auth)
            mirrored = await redis.get(mirror_key(user_id_of(auth)))
        finally:
            await redis.aclose()

    assert after == before - 1  # counted once, though the script was run twice
    assert mirrored == b"7"  # only ever raised: a read never lowers it


async def test_a_revoked_token_spends_none_of_its_users_budget() -> None:
    async with _app(api=BUDGET) as app, _client_at(app, _address()) as client:
        email = f"mirror-{uuid.uuid4().hex[:12]}@example.com"
        assert (await client.post("/api/v1/auth/register", json={
            "email": email, "password": PASSWORD})).status_code == 201
        _, old = await _session(client, email)
        await _remaining(client, old)
        assert (await client.post("/api/v1/auth/logout-all", headers=old)).status_code == 204
        _, new = await _session(client, email)
        before = await _remaining(client, new)

        for _ in range(5):
            assert (await client.get(ACCOUNT, headers=old)).status_code == 401

        assert await _remaining(client, new) == before - 1


async def test_logout_everywhere_is_503_and_ends_nothing_when_the_mirror_is_unreachable(
) -> None:
    # The budgets' Redis (RATE_LIMIT_STORAGE_URL) down: requests go on, as budgets fail open
    # and every token is checked in PostgreSQL, but no generation may move unmirrored.
    async with _app() as healthy, _client_at(healthy, _address()) as client:
        tokens, auth = await _session(client)
    async with _app(storage_url="redis://127.0.0.1:9/0") as app, \
            _client_at(app, _address()) as client:
        assert (await client.get(ACCOUNT, headers=auth)).status_code == 200

        refused = await client.post("/api/v1/auth/logout-all", headers=auth)

        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "unavailable"
        assert refused.headers["retry-after"] == "1"
        assert (await client.get(ACCOUNT, headers=auth)).status_code == 200
        rotated = await client.post("/api/v1/auth/refresh",
                                    json={"refresh_token": tokens["refresh_token"]})
        assert rotated.status_code == 200, rotated.text
