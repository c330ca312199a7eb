"""Upstox login against the stub: the authorization code for an access token, and no refresh."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.brokers.india import IST
from shared.brokers.sessions import LoginForm, session_module
from shared.brokers.types import NotSent, Rejected, SessionExpired
from shared.brokers.upstox import session as upstox_session
from tests.stubs.upstox.harness import API_KEY, API_SECRET, UpstoxStub, running
from worker.brokers.upstox.adapter import UpstoxAdapter


@pytest.fixture(scope="module")
def upstox() -> Iterator[UpstoxStub]:
    with running() as stub:
        yield stub


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2.0) as http:
        yield http


def _form(upstox: UpstoxStub, **changes: str) -> LoginForm:
    fields = {"api_key": API_KEY, "api_secret": API_SECRET, "code": upstox.login_code()}
    fields.update(changes)
    return LoginForm(**fields)


async def test_activate_exchanges_the_code_for_a_working_session(
        upstox: UpstoxStub, client: httpx.AsyncClient) -> None:
    module = session_module(upstox.broker)
    session = await module.activate(client, upstox.settings, _form(upstox))
    assert session.broker_user_id == upstox.book.user_id
    assert session.expires_at is not None
    local = session.expires_at.astimezone(IST)
    assert (local.hour, local.minute) == (3, 30)
    assert timedelta(0) < session.expires_at - datetime.now(UTC) <= timedelta(days=1)
    adapter = UpstoxAdapter(session, upstox.settings, timeout=2.0)
    try:
        assert (await adapter.funds()).currency == "INR"
    finally:
        await adapter.aclose()


async def test_a_code_is_good_for_one_login_only(upstox: UpstoxStub,
                                                 client: httpx.AsyncClient) -> None:
    form = _form(upstox)
    await upstox_session.activate(client, upstox.settings, form)
    with pytest.raises(Rejected, match="Invalid Credentials"):
        await upstox_session.activate(client, upstox.settings, form)


async def test_a_wrong_api_secret_is_a_refused_login(upstox: UpstoxStub,
                                                     client: httpx.AsyncClient) -> None:
    with pytest.raises(Rejected) as refused:
        await upstox_session.activate(client, upstox.settings, _form(upstox, api_secret="no"))
    assert refused.value.code == "UDAPI100016"


async def test_a_redirect_uri_upstox_does_not_know_is_refused(
        upstox: UpstoxStub, client: httpx.AsyncClient) -> None:
    elsewhere = upstox.settings.model_copy(
        update={"upstox_redirect_uri": "https://example.invalid/callback"})
    with pytest.raises(Rejected, match="redirect_uri"):
        await upstox_session.activate(client, elsewhere, _form(upstox))


async def test_a_login_without_a_code_is_refused_before_asking(
        upstox: UpstoxStub, client: httpx.AsyncClient) -> None:
    with pytest.raises(Rejected, match="authorization code"):
        await upstox_session.activate(client, upstox.settings, _form(upstox, code=""))


async def test_refresh_without_a_new_code_asks_for_a_new_login(
        upstox: UpstoxStub, client: httpx.AsyncClient) -> None:
    with pytest.raises(SessionExpired, match="sign in to Upstox again"):
        await upstox_session.refresh(client, upstox.settings, upstox.session(), LoginForm())


async def test_refresh_with_a_new_code_keeps_the_connections_keys(
        upstox: UpstoxStub, client: httpx.AsyncClient) -> None:
    current = upstox.session()
    renewed = await upstox_session.refresh(client, upstox.settings, current,
                                           LoginForm(code=upstox.login_code()))
    assert renewed.access_token
    assert renewed.access_token != current.access_token
    assert (renewed.api_key, renewed.api_secret) == (API_KEY, API_SECRET)


async def test_an_unreachable_upstox_has_certainly_not_logged_in(
        upstox: UpstoxStub, client: httpx.AsyncClient) -> None:
    form = _form(upstox)
    with upstox.outage(), pytest.raises(NotSent):
        await upstox_session.activate(client, upstox.settings, form)
