"""The webhook door: only verified deliveries are stored, each once; the rest get a 401."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from shared.brokers import signing
from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession
from shared.settings import Settings
from tests.helpers import connect_broker

pytestmark = pytest.mark.integration
OLD, NEW = "the-old-webhook-secret-0001", "the-new-webhook-secret-0002"


@pytest.fixture(scope="module")
async def rotating_app() -> AsyncIterator[FastAPI]:
    """An API that signs with NEW and still accepts OLD, as during a rotation."""
    application = create_app(Settings(broker_webhook_secret=NEW,
                                      broker_webhook_additional_secrets=OLD,
                                      webhook_max_body_bytes=2048))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def hooks(rotating_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=rotating_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def _groww_update(order_id: str) -> bytes:
    return json.dumps({"groww_order_id": order_id, "order_status": "EXECUTED",
                       "order_reference_id": "og0123456789abcdef01"}).encode()


async def _stored(engine: AsyncEngine, broker_order_id: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(
            "SELECT count(*) FROM webhook_events WHERE broker_order_id = :b"),
            {"b": broker_order_id})).scalar_one())


def _signed(secret: str, body: bytes, *, at: int | None = None,
            delivery_id: str | None = None) -> dict[str, str]:
    return signing.signed_headers(secret, int(time.time()) if at is None else at, body,
                                  delivery_id or f"delivery-{uuid.uuid4()}")


async def _post(client: httpx.AsyncClient, body: bytes, headers: dict[str, str],
                path: str = "/api/v1/webhooks/groww") -> httpx.Response:
    return await client.post(path, content=body, headers=headers)


@pytest.mark.parametrize("secret", [NEW, OLD])
async def test_a_delivery_signed_with_a_current_or_rotating_secret_is_stored_once(
        hooks: httpx.AsyncClient, engine: AsyncEngine, secret: str) -> None:
    order_id = f"GMK{time.time_ns()}"
    body = _groww_update(order_id)
    first = await _post(hooks, body, _signed(secret, body, delivery_id=f"d-{order_id}"))
    later = int(time.time()) + 5  # a redelivery, freshly signed
    again = await _post(hooks, body, _signed(secret, body, at=later, delivery_id=f"d-{order_id}"))
    assert (first.status_code, first.json()["status"]) == (202, "queued")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert await _stored(engine, order_id) == 1


async def test_a_captured_delivery_replayed_under_a_fresh_delivery_id_is_refused(
        hooks: httpx.AsyncClient, engine: AsyncEngine) -> None:
    order_id = f"GMK{time.time_ns()}"
    body = _groww_update(order_id)
    captured = _signed(NEW, body, delivery_id=f"relay-{order_id}")
    assert (await _post(hooks, body, captured)).status_code == 202

    replays = [await _post(hooks, body, {**captured, signing.DELIVERY_ID_HEADER: fresh})
               for fresh in (f"relay-{order_id}-2", f"re-{order_id}", "x" * 128)]

    assert [r.status_code for r in replays] == [401, 401, 401]
    assert {r.json()["error"]["code"] for r in replays} == {"invalid_signature"}
    assert await _stored(engine, order_id) == 1


async def test_a_delivery_signed_in_the_retired_format_gets_its_own_401_code(
        hooks: httpx.AsyncClient, engine: AsyncEngine) -> None:
    order_id = f"GMK{time.time_ns()}"
    body = _groww_update(order_id)
    stamp = int(time.time())
    # Version 1: hex HMAC-SHA256 of "<timestamp>." + body, valid in every other respect.
    v1 = hmac.new(NEW.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {signing.SIGNATURE_HEADER: v1, signing.ALGORITHM_HEADER: "HMAC-SHA256",
               signing.TIMESTAMP_HEADER: str(stamp), signing.DELIVERY_ID_HEADER: "d-1"}

    response = await _post(hooks, body, headers)

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "signature_version_unsupported"
    assert "v2" in error["message"]
    assert await _stored(engine, order_id) == 0


def _stale(body: bytes) -> dict[str, str]:
    return _signed(NEW, body, at=int(time.time()) - 301)


def _future(body: bytes) -> dict[str, str]:
    return _signed(NEW, body, at=int(time.time()) + 301)


def _wrong_secret(body: bytes) -> dict[str, str]:
    return _signed("a-secret-we-never-had-0000", body)


def _other_body(body: bytes) -> dict[str, str]:
    return _signed(NEW, body + b" ")


def _unsigned(body: bytes) -> dict[str, str]:
    return {}


def _wrong_algorithm(body: bytes) -> dict[str, str]:
    return {**_signed(NEW, body), signing.ALGORITHM_HEADER: "HMAC-SHA1"}


def _without_delivery_id(body: bytes) -> dict[str, str]:
    signed = _signed(NEW, body, delivery_id="d-1")
    del signed[signing.DELIVERY_ID_HEADER]
    return signed


def _overlong_delivery_id(body: bytes) -> dict[str, str]:
    return _signed(NEW, body, delivery_id="x" * 129)


@pytest.mark.parametrize("sign", [_stale, _future, _wrong_secret, _other_body, _unsigned,
                                  _wrong_algorithm, _without_delivery_id,
                                  _overlong_delivery_id])
async def test_an_unsigned_bad_or_stale_delivery_is_refused_and_nothing_is_stored(
        hooks: httpx.AsyncClient, engine: AsyncEngine,
        sign: Callable[[bytes], dict[str, str]]) -> None:
    order_id = f"GMK{time.time_ns()}"
    body = _groww_update(order_id)
    response = await _post(hooks, body, sign(body))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert "Traceback" not in response.text
    assert await _stored(engine, order_id) == 0


async def test_an_oversized_delivery_is_refused_before_it_is_read(
        hooks: httpx.AsyncClient) -> None:
    body = b"{" + b" " * 4096 + b"}"
    response = await _post(hooks, body, _signed(NEW, body))
    assert response.status_code == 413


async def test_paper_and_unknown_brokers_have_no_webhook(hooks: httpx.AsyncClient) -> None:
    for broker in ("paper", "nasdaq-direct"):
        response = await _post(hooks, b"{}", {}, f"/api/v1/webhooks/{broker}")
        assert response.status_code == 404


async def test_an_upstox_webhook_needs_its_connections_secret_path(
        hooks: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str]) -> None:
    account = await connect_broker(engine, auth, Broker.UPSTOX,
                                   BrokerSession(access_token="t", broker_user_id="UP42"),
                                   Settings())
    async with engine.connect() as conn:
        token = (await conn.execute(text("SELECT webhook_token FROM accounts WHERE id = :id"),
                                    {"id": account})).scalar_one()
    order_id = f"UPX{time.time_ns()}"
    body = json.dumps({"update_type": "order", "user_id": "UP42", "order_id": order_id,
                       "status": "complete", "tag": "og0123456789abcdef01"}).encode()
    wrong = await _post(hooks, body, {}, "/api/v1/webhooks/upstox/not-the-token")
    bare = await _post(hooks, body, {}, "/api/v1/webhooks/upstox")
    right = await _post(hooks, body, {}, f"/api/v1/webhooks/upstox/{token}")
    assert (wrong.status_code, bare.status_code, right.status_code) == (401, 401, 202)
    assert await _stored(engine, order_id) == 1
