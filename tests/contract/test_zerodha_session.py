"""Kite Connect logins against the local Kite: request token, refresh token, refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from shared.brokers.india import IST
from shared.brokers.sessions import LoginForm
from shared.brokers.types import BrokerSession, NotSent, Rejected, SessionExpired
from shared.brokers.zerodha import session as kite_session
from tests.stubs.zerodha.harness import StubKite, running
from worker.brokers.zerodha.adapter import ZerodhaAdapter

API_KEY = "sessionkey"
API_SECRET = "sessionsecret0123456789"
USER_ID = "ZX9876"


@pytest.fixture(scope="module")
def kite() -> Iterator[StubKite]:
    with running(api_key=API_KEY, api_secret=API_SECRET, user_id=USER_ID) as stub:
        yield stub


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def _form(token: str, secret: str = API_SECRET) -> LoginForm:
    return LoginForm(api_key=API_KEY, api_secret=secret, request_token=token)


async def _can_trade(kite: StubKite, session: BrokerSession) -> bool:
    adapter = ZerodhaAdapter(session, kite.settings(), timeout=2.0)
    try:
        funds = await adapter.funds()
    finally:
        await adapter.aclose()
    return funds.available_cash > Decimal(0)


async def test_a_request_token_logs_in_until_six_in_the_morning(
        kite: StubKite, client: httpx.AsyncClient) -> None:
    session = await kite_session.activate(client, kite.settings(),
                                          _form(kite.issue_request_token()))
    assert session.broker_user_id == USER_ID
    assert (session.api_key, session.api_secret) == (API_KEY, API_SECRET)
    assert session.access_token
    assert session.access_token != kite.session().access_token
    assert session.expires_at is not None
    local = session.expires_at.astimezone(IST)
    assert (local.hour, local.minute) == (6, 0)
    assert timedelta(0) < session.expires_at - datetime.now(UTC) <= timedelta(days=1)
    assert await _can_trade(kite, session)


async def test_a_request_token_works_once(kite: StubKite, client: httpx.AsyncClient) -> None:
    token = kite.issue_request_token()
    await kite_session.activate(client, kite.settings(), _form(token))
    with pytest.raises(Rejected, match="Kite refused the login"):
        await kite_session.activate(client, kite.settings(), _form(token))


async def test_a_wrong_api_secret_is_refused(kite: StubKite,
                                             client: httpx.AsyncClient) -> None:
    with pytest.raises(Rejected, match="checksum"):
        await kite_session.activate(client, kite.settings(),
                                    _form(kite.issue_request_token(), secret="not-the-secret"))


async def test_a_login_without_a_request_token_is_refused(kite: StubKite,
                                                          client: httpx.AsyncClient) -> None:
    with pytest.raises(Rejected, match="request_token"):
        await kite_session.activate(client, kite.settings(), _form(""))


async def test_a_login_while_kite_is_down_was_not_sent(kite: StubKite,
                                                       client: httpx.AsyncClient) -> None:
    token = kite.issue_request_token()
    with kite.outage(), pytest.raises(NotSent):
        await kite_session.activate(client, kite.settings(), _form(token))
    assert await kite_session.activate(client, kite.settings(), _form(token))


async def test_a_new_request_token_refreshes_the_session(kite: StubKite,
                                                         client: httpx.AsyncClient) -> None:
    kite.expire_session()
    try:
        renewed = await kite_session.refresh(
            client, kite.settings(), kite.session(),
            LoginForm(request_token=kite.issue_request_token()))
        assert renewed.access_token != kite.session().access_token
        assert await _can_trade(kite, renewed)
    finally:
        kite.reset()


async def test_a_held_refresh_token_renews_the_session(kite: StubKite,
                                                       client: httpx.AsyncClient) -> None:
    first = await kite_session.activate(client, kite.settings(),
                                        _form(kite.issue_request_token()))
    assert first.refresh_token in kite.refresh_tokens()
    renewed = await kite_session.refresh(client, kite.settings(), first, LoginForm())
    assert renewed.access_token not in ("", first.access_token)
    assert renewed.refresh_token == first.refresh_token
    assert renewed.broker_user_id == USER_ID
    assert await _can_trade(kite, renewed)


async def test_a_revoked_refresh_token_needs_a_new_login(kite: StubKite,
                                                         client: httpx.AsyncClient) -> None:
    first = await kite_session.activate(client, kite.settings(),
                                        _form(kite.issue_request_token()))
    kite.revoke_refresh_tokens()
    with pytest.raises(SessionExpired, match="log in to Kite again"):
        await kite_session.refresh(client, kite.settings(), first, LoginForm())


async def test_without_a_refresh_token_only_a_new_login_helps(
        kite: StubKite, client: httpx.AsyncClient) -> None:
    with pytest.raises(SessionExpired, match="log in to Kite again"):
        await kite_session.refresh(client, kite.settings(), kite.session(), LoginForm())
