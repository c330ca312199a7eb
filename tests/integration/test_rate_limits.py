"""Request budgets against real Redis: logins, sign-ups, keys and users, order placement.

Each test runs its own app with the budgets it is about, and calls from addresses of its own,
so that budgets counted by earlier tests (or runs) in the shared Redis never get in the way.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool

from api.main import create_app
from api.ratelimit import API, KEY_PREFIX, ORDERS, Limiter
from scripts import devstack
from shared.settings import Settings
from tests.helpers import PASSWORD, user_id_of

pytestmark = pytest.mark.integration

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
ACCOUNT = "/api/v1/account"


def _default(name: str) -> str:
    """A budget as shipped: these tests prove that the defaults hold, not test-only values."""
    limit: str = Settings.model_fields[f"rate_limit_{name}"].default
    return limit


def _address() -> str:
    octets = uuid.uuid4().bytes[:3]
    return "10." + ".".join(str(octet) for octet in octets)


@asynccontextmanager
async def _app(**budgets: str) -> AsyncIterator[FastAPI]:
    settings = Settings().model_copy(
        update={f"rate_limit_{name}": limit for name, limit in budgets.items()})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def _client_at(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@asynccontextmanager
async def _one_client(**budgets: str) -> AsyncIterator[httpx.AsyncClient]:
    async with _app(**budgets) as app, _client_at(app, _address()) as client:
        yield client


async def _sign_up(client: httpx.AsyncClient) -> str:
    email = f"limits-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post(REGISTER, json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return email


async def _login(client: httpx.AsyncClient, email: str, password: str = PASSWORD
                 ) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


async def _bearer(client: httpx.AsyncClient) -> dict[str, str]:
    response = await _login(client, await _sign_up(client))
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _refused(response: httpx.Response, budget: str) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["details"]["budget"] == budget
    assert error["request_id"] == response.headers["x-request-id"]
    return error


async def test_200_wrong_passwords_are_cut_off_and_then_the_right_one_is_refused_too() -> None:
    async with _one_client(login=_default("login"),
                           login_account=_default("login_account")) as client:
        email = await _sign_up(client)

        answers = [await _login(client, email, "wrong password") for _ in range(200)]
        right = await _login(client, email)

    statuses = [answer.status_code for answer in answers]
    tried = statuses.count(401)
    assert tried == 10  # RATE_LIMIT_LOGIN: 10 a minute from one address
    assert statuses == [401] * tried + [429] * (200 - tried)
    _refused(answers[-1], "login")
    _refused(right, "login")
    assert 1 <= int(right.headers["retry-after"]) <= 60


async def test_the_right_password_works_again_once_the_window_has_passed() -> None:
    async with _one_client(login="3 per 2 seconds") as client:
        email = await _sign_up(client)
        for _ in range(3):
            assert (await _login(client, email, "wrong password")).status_code == 401
        refused = await _login(client, email)
        _refused(refused, "login")

        await asyncio.sleep(int(refused.headers["retry-after"]))  # what the answer asks for
        again = await _login(client, email)

    assert again.status_code == 200, again.text


async def test_one_accounts_password_guessed_from_many_addresses_meets_its_own_budget() -> None:
    async with _app(login_account="3/minute") as app:
        async with _client_at(app, _address()) as first:
            email = await _sign_up(first)
            for _ in range(3):
                assert (await _login(first, email, "wrong password")).status_code == 401
        async with _client_at(app, _address()) as other:
            refused = await _login(other, email)
            elsewhere = await _login(other, await _sign_up(other))

    _refused(refused, "login_account")
    assert elsewhere.status_code == 200  # another account is not locked out


async def test_50_sign_ups_from_one_address_are_cut_off_and_another_address_still_signs_up(
) -> None:
    async with _app(register=_default("register")) as app:
        async with _client_at(app, _address()) as client:
            answers = [await client.post(REGISTER, json={
                "email": f"flood-{uuid.uuid4().hex[:12]}@example.com", "password": PASSWORD})
                for _ in range(50)]
        async with _client_at(app, _address()) as other:
            fresh = await other.post(REGISTER, json={
                "email": f"fresh-{uuid.uuid4().hex[:12]}@example.com", "password": PASSWORD})

    statuses = [answer.status_code for answer in answers]
    assert statuses == [201] * 10 + [429] * 40  # RATE_LIMIT_REGISTER: 10 an hour
    _refused(answers[-1], "register")
    assert fresh.status_code == 201


async def test_one_users_flood_does_not_throttle_another_user_at_the_same_address() -> None:
    async with _one_client(api="5/minute") as client:
        flooder, other = await _bearer(client), await _bearer(client)
        flood = [await client.get(ACCOUNT, headers=flooder) for _ in range(8)]
        theirs = await client.get(ACCOUNT, headers=other)

    assert [answer.status_code for answer in flood] == [200] * 5 + [429] * 3
    _refused(flood[-1], "api")
    assert theirs.status_code == 200, theirs.text


async def test_the_ratelimit_headers_count_down_truly_and_the_429_says_when_to_retry() -> None:
    async with _one_client(api="5/minute") as client:
        auth = await _bearer(client)
        answers = [await client.get(ACCOUNT, headers=auth) for _ in range(6)]

    for used, answer in enumerate(answers[:5], start=1):
        assert answer.status_code == 200
        assert answer.headers["ratelimit-limit"] == "5"
        assert answer.headers["ratelimit-remaining"] == str(5 - used)
        assert 1 <= int(answer.headers["ratelimit-reset"]) <= 60
        assert "retry-after" not in answer.headers
    refused = answers[5]
    error = _refused(refused, "api")
    assert refused.headers["ratelimit-limit"] == "5"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["retry-after"] == refused.headers["ratelimit-reset"]
    assert error["details"] == {"budget": "api", "limit": 5, "window_seconds": 60,
                                "retry_after": int(refused.headers["retry-after"])}


async def test_an_address_past_its_budget_is_refused_before_any_route_runs() -> None:
    async with _app(ip="3/minute") as app, _client_at(app, _address()) as client:
        answers = [await client.get(ACCOUNT) for _ in range(4)]
        health = await client.get("/health")

    assert [answer.status_code for answer in answers] == [401, 401, 401, 429]
    assert answers[0].headers["ratelimit-remaining"] == "2"  # refusals count too
    _refused(answers[3], "ip")
    assert health.status_code == 200  # probes are not metered
    assert "ratelimit-limit" not in health.headers


async def test_order_placement_has_a_budget_of_its_own_and_reads_go_on() -> None:
    async with _one_client(orders="2/minute") as client:
        auth = await _bearer(client)
        placed = [await client.post("/api/v1/orders", json={}, headers=auth) for _ in range(3)]
        batch = await client.post("/api/v1/orders/batch", json={"orders": []}, headers=auth)
        listed = await client.get("/api/v1/orders", headers=auth)

    assert [answer.status_code for answer in placed[:2]] == [422, 422]  # counted, then parsed
    _refused(placed[2], "orders")
    _refused(batch, "orders")
    assert listed.status_code == 200


async def test_a_placement_the_orders_budget_refuses_uses_none_of_the_callers_own_budget(
) -> None:
    """A placement is held to the caller's budget and the orders budget at once, all or none:
    the placements refused for orders leave the caller's own budget for its reads."""
    async with _one_client(api="5/minute", orders="2/minute") as client:
        auth = await _bearer(client)
        placed = [await client.post("/api/v1/orders", json={}, headers=auth) for _ in range(4)]
        reads = [await client.get(ACCOUNT, headers=auth) for _ in range(4)]

    assert [answer.status_code for answer in placed] == [422, 422, 429, 429]
    _refused(placed[3], "orders")
    # 5 - 2 counted placements: three reads, then the caller's own budget is spent.
    assert [answer.status_code for answer in reads] == [200, 200, 200, 429]
    assert [answer.headers["ratelimit-remaining"] for answer in reads[:3]] == ["2", "1", "0"]
    _refused(reads[3], "api")


async def test_a_placement_the_callers_budget_refuses_uses_none_of_the_orders_budget() -> None:
    async with _app(api="3/minute", orders="3/minute") as app:
        async with _client_at(app, _address()) as client:
            auth = await _bearer(client)
            reads = [await client.get(ACCOUNT, headers=auth) for _ in range(3)]
            refused = await client.post("/api/v1/orders", json={}, headers=auth)
        limiter = app.state.limiter
        caller = f"user:{user_id_of(auth)}"
        orders_left = await limiter.hit(ORDERS, caller)

    assert [answer.status_code for answer in reads] == [200, 200, 200]
    _refused(refused, "api")
    assert orders_left is not None
    assert (orders_left.allowed, orders_left.remaining) == (True, 2)  # only this hit counted


async def test_with_redis_down_logins_and_sign_ups_are_refused_and_reads_go_on(
    auth: dict[str, str],
) -> None:
    async with _one_client(storage_url="redis://127.0.0.1:1/0") as client:
        login = await _login(client, "someone@example.com")
        register = await client.post(REGISTER, json={
            "email": f"down-{uuid.uuid4().hex[:12]}@example.com", "password": PASSWORD})
        account = await client.get(ACCOUNT, headers=auth)

    for answer, budget in ((login, "login"), (register, "register")):
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["details"] == {"budget": budget}
        assert answer.headers["retry-after"] == "1"
    assert account.status_code == 200, account.text
    assert "ratelimit-limit" not in account.headers


async def test_a_budget_is_counted_as_the_limits_library_counts_it() -> None:
    """One round trip per check, and still limits' moving window: the library's own reader
    sees what the API counted, and the API sees what the library counted."""
    settings = Settings().model_copy(update={"rate_limit_api": "5/minute"})
    limiter = Limiter(settings)
    url = settings.rate_limit_storage_url or settings.redis_url
    pool: Any = ConnectionPool.from_url(url)  # closed below; limits types it loosely
    library = MovingWindowRateLimiter(RedisStorage(f"async+{url}", implementation="redispy",
                                                   key_prefix=KEY_PREFIX,
                                                   connection_pool=pool))
    item, ours, theirs = parse("5/minute"), uuid.uuid4().hex, uuid.uuid4().hex
    try:
        verdicts = [await limiter.hit(API, ours) for _ in range(6)]
        assert [(v.allowed, v.remaining) for v in verdicts if v is not None] == [
            (True, 4), (True, 3), (True, 2), (True, 1), (True, 0), (False, 0)]
        assert all(1 <= v.reset_seconds <= 60 for v in verdicts if v is not None)
        assert (await library.get_window_stats(item, "api", ours)).remaining == 0
        assert not await library.test(item, "api", ours)

        assert await library.hit(item, "api", theirs)
        assert await library.hit(item, "api", theirs)
        after = await limiter.hit(API, theirs)
        assert after is not None
        assert (after.allowed, after.remaining) == (True, 2)
    finally:
        await limiter.aclose()
        await pool.disconnect()


async def test_a_redis_that_never_saw_the_scripts_counts_from_the_first_request(
    tmp_path: Path,
) -> None:
    """The checks run the library's scripts by their digest; a fresh (or restarted) Redis has
    none loaded, so the first check loads them and is still counted exactly once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(devstack.redis_server_binary()), "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    limiter = Limiter(Settings().model_copy(update={
        "rate_limit_storage_url": f"redis://127.0.0.1:{port}/0", "rate_limit_api": "3/minute"}))
    try:
        first = None
        for _ in range(100):  # until the server listens: fail-open budgets answer None
            first = await limiter.hit(API, "fresh")
            if first is not None:
                break
            await asyncio.sleep(0.05)
        later = [await limiter.hit(API, "fresh") for _ in range(3)]
        assert first is not None
        assert [(v.allowed, v.remaining) for v in [first, *later] if v is not None] == [
            (True, 2), (True, 1), (True, 0), (False, 0)]
    finally:
        await limiter.aclose()
        server.terminate()
        server.wait(10)
