"""Groww login against the stub (approval flow, TOTP, refresh, bad credentials), and Groww's
broker-side idempotency on order_reference_id."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from shared.brokers.groww import session as groww_session
from shared.brokers.india import IST
from shared.brokers.sessions import LoginForm
from shared.brokers.types import (
    BrokerSession,
    NotSent,
    PlaceRequest,
    RateLimited,
    Rejected,
    SessionExpired,
)
from shared.domain.enums import OrderType, Side, TimeInForce
from tests.stubs.groww import harness
from tests.stubs.groww.app import API_KEY, API_SECRET, TOTP
from worker.brokers.groww.adapter import GrowwAdapter

APPROVAL = LoginForm(api_key=API_KEY, api_secret=API_SECRET)


@pytest.fixture(scope="module")
def running_groww() -> Iterator[harness.GrowwStub]:
    with harness.running() as stub:
        yield stub


@pytest.fixture
def stub(running_groww: harness.GrowwStub) -> harness.GrowwStub:
    running_groww.reset()
    return running_groww


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


async def _works(stub: harness.GrowwStub, session: BrokerSession) -> bool:
    adapter = GrowwAdapter(session, stub.settings)
    try:
        return (await adapter.funds()).currency == "INR"
    finally:
        await adapter.aclose()


async def test_the_approval_flow_gives_a_working_token_until_six_in_the_morning(
        stub: harness.GrowwStub, client: httpx.AsyncClient) -> None:
    session = await groww_session.activate(client, stub.settings, APPROVAL)
    assert session.access_token
    assert (session.api_key, session.api_secret) == (API_KEY, API_SECRET)
    assert await _works(stub, session)
    assert session.expires_at is not None
    local = session.expires_at.astimezone(IST)
    assert (local.hour, local.minute) == (6, 0)
    assert timedelta(0) < session.expires_at - datetime.now(UTC) <= timedelta(days=1)


async def test_a_totp_logs_in_without_the_secret(stub: harness.GrowwStub,
                                                 client: httpx.AsyncClient) -> None:
    session = await groww_session.activate(client, stub.settings,
                                           LoginForm(api_key=API_KEY, totp=TOTP))
    assert await _works(stub, session)


async def test_refresh_runs_the_approval_again_with_the_stored_secret(
        stub: harness.GrowwStub, client: httpx.AsyncClient) -> None:
    first = await groww_session.activate(client, stub.settings, APPROVAL)
    second = await groww_session.refresh(client, stub.settings, first, LoginForm())
    assert second.access_token != first.access_token
    assert await _works(stub, second)


async def test_refresh_without_a_stored_secret_needs_a_new_login(
        stub: harness.GrowwStub, client: httpx.AsyncClient) -> None:
    current = BrokerSession(api_key=API_KEY, access_token="old")
    with pytest.raises(SessionExpired):
        await groww_session.refresh(client, stub.settings, current, LoginForm())


@pytest.mark.parametrize("form", [
    LoginForm(api_key=API_KEY, api_secret="not-the-secret"),
    LoginForm(api_key="not-the-key", api_secret=API_SECRET),
    LoginForm(api_key=API_KEY, totp="000000"),
    LoginForm(api_key=API_KEY),
    LoginForm(api_secret=API_SECRET),
])
async def test_bad_or_missing_credentials_are_rejected(
        stub: harness.GrowwStub, client: httpx.AsyncClient, form: LoginForm) -> None:
    with pytest.raises(Rejected):
        await groww_session.activate(client, stub.settings, form)


async def test_a_throttled_login_is_rate_limited(stub: harness.GrowwStub,
                                                 client: httpx.AsyncClient) -> None:
    stub.throttle(1)
    with pytest.raises(RateLimited):
        await groww_session.activate(client, stub.settings, APPROVAL)


async def test_a_login_while_groww_is_down_is_not_sent(stub: harness.GrowwStub,
                                                       client: httpx.AsyncClient) -> None:
    with stub.outage(), pytest.raises(NotSent):
        await groww_session.activate(client, stub.settings, APPROVAL)


async def test_placing_a_used_reference_again_returns_the_existing_order(
        stub: harness.GrowwStub) -> None:
    tag = "og" + uuid.uuid4().hex[:18]
    request = PlaceRequest(order_id=str(uuid.uuid4()), tag=tag, instrument=stub.instrument,
                           side=Side.BUY, order_type=OrderType.LIMIT, quantity=Decimal(5),
                           time_in_force=TimeInForce.DAY, price=Decimal("101.10"))
    adapter = stub.adapter()
    try:
        first = await adapter.place(request)
        again = await adapter.place(request)
    finally:
        await adapter.aclose()
    assert again.broker_order_id == first.broker_order_id
    assert (again.tag, again.quantity, again.price) == (tag, Decimal(5), Decimal("101.10"))
    assert stub.orders_tagged(tag) == 1
