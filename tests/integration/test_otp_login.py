"""Login by a code mailed to the account: the API queues the mail, the worker's handler draws,
stores and sends the code to a real SMTP server, and the tests read it from the delivered mail.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from api.deps import get_clock
from api.main import create_app
from shared.clock import Clock
from shared.settings import Settings
from tests.helpers import PASSWORD
from tests.smtp import Inbox, code_in, free_port, parts, smtp_server, take_mail_tasks
from worker.handlers import mail
from worker.runtime import Runtime

pytestmark = pytest.mark.integration

REQUEST = "/api/v1/auth/request-otp"
LOGIN = "/api/v1/auth/otp-login"
ME = "/api/v1/me"


@pytest.fixture(scope="module")
def inbox() -> Iterator[Inbox]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def mailer(app: FastAPI, inbox: Inbox) -> Runtime:
    """The worker's runtime, in this process, mailing to the test SMTP server."""
    settings = Settings(smtp_host="127.0.0.1", smtp_port=inbox.port)
    return Runtime(settings, engine=app.state.engine, redis=app.state.redis)


async def _sign_up(client: httpx.AsyncClient) -> str:
    email = f"otp-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post("/api/v1/auth/register",
                                 json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return email


async def _queued_mails(redis: Redis) -> list[uuid.UUID]:
    """Take the login-code tasks off the queue (no worker runs here); their user ids."""
    return [uuid.UUID(args[0]) for args in await take_mail_tasks(redis)]


async def _request(client: httpx.AsyncClient, email: str) -> httpx.Response:
    response = await client.post(REQUEST, json={"email": email})
    assert response.status_code == 202, response.text
    return response


async def _mail_code(client: httpx.AsyncClient, app: FastAPI, mailer: Runtime, inbox: Inbox,
                     email: str, now: datetime | None = None) -> str | None:
    """Request a code for `email`, run the worker's handler on what the API queued, and
    return the code delivered to `email` by this round, if any."""
    before = len(inbox.to(email))
    await _request(client, email)
    for user_id in await _queued_mails(app.state.redis):
        await mail.send_login_code(mailer, user_id, now)
    delivered = inbox.to(email)[before:]
    assert len(delivered) <= 1
    return code_in(delivered[0]) if delivered else None


async def _login(client: httpx.AsyncClient, email: str, code: str) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "otp": code})


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


@contextmanager
def _clock_ahead(app: FastAPI, seconds: float) -> Iterator[None]:
    def later() -> Clock:
        return Clock(seconds)

    app.dependency_overrides[get_clock] = later
    try:
        yield
    finally:
        app.dependency_overrides.pop(get_clock, None)


async def test_a_mailed_code_logs_in_once_with_the_login_token_pair(
    client: httpx.AsyncClient, app: FastAPI, mailer: Runtime, inbox: Inbox,
) -> None:
    email = await _sign_up(client)
    code = await _mail_code(client, app, mailer, inbox, email)
    assert code is not None
    (message,) = inbox.to(email)
    assert message["Subject"] == "Your ordergate login code"
    plain, html = parts(message)
    assert code in plain
    assert code in html

    response = await _login(client, email, code)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    me = await client.get(ME, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == email
    refreshed = await client.post("/api/v1/auth/refresh",
                                  json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200

    again = await _login(client, email, code)
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "invalid_credentials"


async def test_an_unknown_address_gets_the_same_202_and_no_mail(
    client: httpx.AsyncClient, app: FastAPI, mailer: Runtime, inbox: Inbox,
) -> None:
    known = await _request(client, await _sign_up(client))
    await _queued_mails(app.state.redis)
    nobody = f"nobody-{uuid.uuid4().hex[:12]}@example.com"
    unknown = await _request(client, nobody)
    assert unknown.json() == known.json()
    assert await _queued_mails(app.state.redis) == []
    assert inbox.to(nobody) == []
    guessed = await _login(client, nobody, "123456")
    assert guessed.status_code == 401
    assert guessed.json()["error"]["code"] == "invalid_credentials"


async def test_five_wrong_codes_burn_it_and_the_right_one_is_then_refused(
    client: httpx.AsyncClient, app: FastAPI, mailer: Runtime, inbox: Inbox,
) -> None:
    email = await _sign_up(client)
    code = await _mail_code(client, app, mailer, inbox, email)
    assert code is not None
    for _ in range(5):
        wrong = await _login(client, email, _wrong(code))
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "invalid_credentials"
    burnt = await _login(client, email, code)
    assert burnt.status_code == 401
    assert burnt.json()["error"]["code"] == "invalid_credentials"


async def test_four_wrong_codes_still_leave_the_right_one_working(
    client: httpx.AsyncClient, app: FastAPI, mailer: Runtime, inbox: Inbox,
) -> None:
    email = await _sign_up(client)
    code = await _mail_code(client, app, mailer, inbox, email)
    assert code is not None
    for _ in range(4):
        assert (await _login(client, email, _wrong(code))).status_code == 401
    assert (await _login(client, email, code)).status_code == 200


async def test_a_code_is_refused_once_its_five_minutes_have_passed(
    client: httpx.AsyncClient, app: FastAPI, mailer: Runtime, inbox: Inbox,
) -> None:
    email = await _sign_up(client)
    code = await _mail_code(client, app, mailer, inbox, email)
    assert code is not None
    with _clock_ahead(app, Settings().otp_ttl_seconds + 1):
        expired = await _login(client, email, code)
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "invalid_credentials"


async def test_a_second_request_within_a_minute_mails_nothing_and_a_later_one_replaces_the_code(
    client: httpx.AsyncClient, app: FastAPI, mailer: Runtime, inbox: Inbox,
) -> None:
    email = await _sign_up(client)
    first = await _mail_code(client, app, mailer, inbox, email)
    assert first is not None
    assert await _mail_code(client, app, mailer, inbox, email) is None
    assert len(inbox.to(email)) == 1

    later = datetime.now(UTC) + timedelta(seconds=Settings().otp_resend_seconds + 1)
    second = await _mail_code(client, app, mailer, inbox, email, now=later)
    assert second is not None
    if second != first:  # one chance in a million that the new code is the old one
        assert (await _login(client, email, first)).status_code == 401
    assert (await _login(client, email, second)).status_code == 200


async def test_a_code_that_could_not_be_delivered_does_not_hold_back_the_next(
    client: httpx.AsyncClient, app: FastAPI, mailer: Runtime, inbox: Inbox,
) -> None:
    email = await _sign_up(client)
    await _request(client, email)
    (user_id,) = await _queued_mails(app.state.redis)
    down = Runtime(Settings(smtp_host="127.0.0.1", smtp_port=free_port()),
                   engine=app.state.engine, redis=app.state.redis)
    with pytest.raises(mail.DELIVERY_ERRORS):
        await mail.send_login_code(down, user_id)
    # The task's retry, right away: not throttled by the code nobody received.
    assert await mail.send_login_code(mailer, user_id) is True
    (message,) = inbox.to(email)
    assert (await _login(client, email, code_in(message))).status_code == 200


async def test_the_code_is_never_logged(
    client: httpx.AsyncClient, app: FastAPI, mailer: Runtime, inbox: Inbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    email = await _sign_up(client)
    with caplog.at_level(logging.DEBUG):
        code = await _mail_code(client, app, mailer, inbox, email)
        assert code is not None
        assert (await _login(client, email, _wrong(code))).status_code == 401
        assert (await _login(client, email, code)).status_code == 200
    # The test SMTP server's own "mail.log" logs the DATA it receives; ordergate's do not.
    ours = "\n".join(record.getMessage() for record in caplog.records
                     if not record.name.startswith("mail.log"))
    assert "login code mailed" in ours
    assert code not in ours
    assert _wrong(code) not in ours


@pytest.fixture
async def metered() -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app holding code requests to 3 a minute, from an address of its own."""
    app = create_app(Settings().model_copy(update={"rate_limit_otp": "3/minute"}))
    address = "10." + ".".join(str(octet) for octet in uuid.uuid4().bytes[:3])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c
        await _queued_mails(app.state.redis)


async def test_code_requests_past_the_otp_budget_get_429(
    metered: httpx.AsyncClient,
) -> None:
    email = await _sign_up(metered)
    for _ in range(3):
        assert (await metered.post(REQUEST, json={"email": email})).status_code == 202
    refused = await metered.post(REQUEST, json={"email": f"other-{email}"})
    assert refused.status_code == 429
    assert refused.json()["error"]["details"]["budget"] == "otp"
    assert int(refused.headers["retry-after"]) >= 1


async def test_a_malformed_code_is_a_422_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGIN, json={"email": "a@example.com", "otp": "12345a"})
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "otp"
