"""Angel One login and token refresh against the stub SmartAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.brokers.angelone import session as angelone
from shared.brokers.sessions import LoginForm
from shared.brokers.types import BrokerSession, NotSent, Rejected, SessionExpired
from shared.settings import Settings
from tests.stubs.angelone import harness
from worker.brokers.angelone.adapter import build

FORM = LoginForm(api_key=harness.API_KEY, client_code=harness.CLIENT_CODE,
                 password=harness.PIN, totp=harness.TOTP)


@pytest.fixture(scope="module")
def stub() -> Iterator[harness.AngelOneStub]:
    with harness.running() as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2.0) as http:
        yield http


async def _works(session: BrokerSession, settings: Settings) -> bool:
    adapter = build(session, settings)
    try:
        await adapter.funds()
    except SessionExpired:
        return False
    finally:
        await adapter.aclose()
    return True


async def test_a_login_gives_a_working_session_for_the_client(
        stub: harness.AngelOneStub, client: httpx.AsyncClient) -> None:
    session = await angelone.activate(client, stub.settings, FORM)
    assert session.broker_user_id == harness.CLIENT_CODE
    assert session.api_key == harness.API_KEY
    assert session.refresh_token
    assert session.extra["feed_token"]
    assert session.expires_at is not None
    lifetime = session.expires_at - datetime.now(UTC)
    assert timedelta(hours=27) < lifetime <= timedelta(hours=28)
    assert await _works(session, stub.settings)


@pytest.mark.parametrize(("change", "reason"), [
    ({"totp": "000000"}, "Invalid totp"),
    ({"password": "0000"}, "PASSWORD IS INVALID"),
    ({"api_key": "someone-elses-key"}, "Invalid API Key"),
])
async def test_wrong_credentials_are_rejected_with_the_brokers_reason(
        stub: harness.AngelOneStub, client: httpx.AsyncClient, change: dict[str, str],
        reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        await angelone.activate(client, stub.settings, replace(FORM, **change))


async def test_a_login_missing_its_totp_is_refused_naming_the_field(
        stub: harness.AngelOneStub, client: httpx.AsyncClient) -> None:
    with pytest.raises(Rejected, match="needs totp"):
        await angelone.activate(client, stub.settings, replace(FORM, totp=""))


async def test_a_refresh_gives_new_tokens_that_work(stub: harness.AngelOneStub,
                                                    client: httpx.AsyncClient) -> None:
    first = await angelone.activate(client, stub.settings, FORM)
    renewed = await angelone.refresh(client, stub.settings, first, FORM)
    assert renewed.access_token != first.access_token
    assert renewed.refresh_token != first.refresh_token
    assert renewed.broker_user_id == harness.CLIENT_CODE
    assert await _works(renewed, stub.settings)


async def test_a_refused_refresh_token_means_a_new_login(stub: harness.AngelOneStub,
                                                         client: httpx.AsyncClient) -> None:
    current = replace(stub.session(), refresh_token="revoked-refresh-token")
    with pytest.raises(SessionExpired, match="Invalid Refresh Token"):
        await angelone.refresh(client, stub.settings, current, FORM)


async def test_a_login_while_angel_one_is_down_is_not_sent(stub: harness.AngelOneStub,
                                                           client: httpx.AsyncClient) -> None:
    with stub.outage(), pytest.raises(NotSent):
        await angelone.activate(client, stub.settings, FORM)
