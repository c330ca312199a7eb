"""?source=broker on positions, holdings and the account, at the local Groww stub: the API
queues broker.read, the worker's handler (run here on the message the API queued) asks the
broker, and its answer is cached in Redis for every request of the next few seconds."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from shared.brokers.catalog import Broker, queue_for
from shared.messaging import broker_reads, tasks
from tests.helpers import get_ok, register_and_login
from tests.integration.ending import api_fixture  # noqa: F401 - the fixture
from tests.integration.test_order_responses import OpenApi
from tests.stubs.groww.harness import GrowwStub
from worker.handlers.broker_reads import read_account
from worker.runtime import Runtime

pytestmark = pytest.mark.integration

QUEUE = queue_for(Broker.GROWW)


@pytest.fixture(autouse=True)
async def fresh(app: FastAPI, account: uuid.UUID) -> None:
    """No broker answer cached and nothing queued from an earlier test."""
    redis: Redis = app.state.redis
    await redis.delete(QUEUE, *(broker_reads.cache_key(account, kind)
                                for kind in broker_reads.KINDS))


@pytest.fixture
def short_wait(app: FastAPI) -> Iterator[None]:
    original = app.state.settings
    app.state.settings = original.model_copy(update={"broker_read_timeout_seconds": 0.3})
    try:
        yield
    finally:
        app.state.settings = original


async def queued_reads(redis: Redis) -> list[list[str]]:
    """The broker.read messages on Groww's queue, oldest first, taken off it."""
    found = []
    while (raw := await redis.rpop(QUEUE)) is not None:
        assert isinstance(raw, bytes | str)
        envelope = json.loads(raw)
        assert envelope["headers"]["task"] == tasks.BROKER_READ
        args, _, _ = json.loads(base64.b64decode(envelope["body"]))
        found.append([str(arg) for arg in args])
    return found


async def asked(client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime,
                path: str) -> httpx.Response:
    """GET `path` while a worker serves the broker.read it queues (once)."""
    request = asyncio.ensure_future(client.get(path, headers=auth))
    redis: Redis = runtime.redis
    for _ in range(100):
        reads = await queued_reads(redis)
        if reads:
            for args in reads:
                await read_account(runtime, *args)
            break
        await asyncio.sleep(0.02)
    return await request


async def test_the_brokers_positions_and_holdings_come_from_it_then_from_the_cache(
    client: httpx.AsyncClient, auth: dict[str, str], account: uuid.UUID, runtime: Runtime,
    api: OpenApi,
) -> None:
    path = f"/api/v1/positions?source=broker&account_id={account}"

    first = api.check(await asked(client, auth, runtime, path))
    again = await client.get(path, headers=auth)
    holdings = await client.get(f"/api/v1/holdings?source=broker&account_id={account}",
                                headers=auth)

    assert (first["account_id"], first["broker"], first["source"]) == (
        str(account), "groww", "broker")
    itc = [p for p in first["positions"] if p["symbol"] == "ITC"]
    assert [(p["quantity"], p["avg_price"]) for p in itc] == [("8", "410.5")]
    # Within BROKER_READ_CACHE_SECONDS both answer from the cache: nothing more is queued.
    assert again.json() == holdings.json() == first
    assert await queued_reads(runtime.redis) == []


async def test_the_brokers_funds_come_from_it(
    client: httpx.AsyncClient, auth: dict[str, str], account: uuid.UUID, runtime: Runtime,
    api: OpenApi,
) -> None:
    body = api.check(await asked(client, auth, runtime,
                                 f"/api/v1/account?source=broker&account_id={account}"))

    assert body["funds"]["currency"] == "INR"
    assert set(body["funds"]) == {"currency", "available_cash", "used_margin"}


async def test_a_broker_refusal_is_a_502_with_its_code(
    client: httpx.AsyncClient, auth: dict[str, str], account: uuid.UUID, runtime: Runtime,
    groww: GrowwStub,
) -> None:
    groww.expire_session()

    response = await asked(client, auth, runtime,
                           f"/api/v1/positions?source=broker&account_id={account}")

    assert response.status_code == 502, response.text
    error: dict[str, Any] = response.json()["error"]
    assert (error["code"], error["details"]["broker"]) == ("broker_error", "groww")


async def test_a_broker_whose_circuit_is_open_is_not_asked(
    client: httpx.AsyncClient, auth: dict[str, str], account: uuid.UUID, runtime: Runtime,
) -> None:
    for _ in range(runtime.settings.circuit_failure_threshold):
        await runtime.brokers.breaker.record_failure(Broker.GROWW)

    response = await asked(client, auth, runtime,
                           f"/api/v1/account?source=broker&account_id={account}")

    await runtime.brokers.breaker.record_success(Broker.GROWW)  # closed for the next tests
    assert response.status_code == 502, response.text
    assert response.json()["error"]["details"]["broker_code"] == "circuit_open"


@pytest.mark.usefixtures("short_wait")
async def test_no_answer_in_time_is_a_504(
    client: httpx.AsyncClient, auth: dict[str, str], account: uuid.UUID,
) -> None:
    response = await client.get(f"/api/v1/account?source=broker&account_id={account}",
                                headers=auth)

    assert response.status_code == 504, response.text
    assert response.json()["error"]["code"] == "broker_timeout"


async def test_source_broker_needs_one_of_your_broker_connections(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str], account: uuid.UUID,
) -> None:
    paper = (await get_ok(client, auth, "/api/v1/account"))["account_id"]
    intruder = await register_and_login(client)

    cases = [(auth, "/api/v1/positions?source=broker", 422, "account_id"),
             (auth, f"/api/v1/holdings?source=broker&account_id={paper}", 422, "source"),
             (auth, f"/api/v1/account?source=broker&account_id={paper}", 422, "source"),
             (auth, "/api/v1/positions?source=exchange", 422, "source"),
             (intruder, f"/api/v1/positions?source=broker&account_id={account}", 404,
              "account_id"),
             (intruder, f"/api/v1/positions?account_id={account}", 404, "account_id")]
    for who, path, status, field in cases:
        response = await client.get(path, headers=who)
        assert response.status_code == status, (path, response.text)
        assert response.json()["error"]["details"]["field"] == field, path
    assert await queued_reads(app.state.redis) == []  # none was asked

