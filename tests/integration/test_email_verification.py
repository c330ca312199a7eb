"""E-mail verification at sign-up (REQUIRE_EMAIL_VERIFICATION): the sign-up mails a code to a
real SMTP server, the account may neither log in with its password nor place an order until a
login with that code proves the address, and the default (off) asks nothing of anyone.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from shared.settings import Settings
from tests.helpers import PASSWORD
from tests.smtp import Inbox, code_in, parts, smtp_server, take_mail_tasks
from worker.handlers import mail
from worker.runtime import Runtime

pytestmark = pytest.mark.integration

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
OTP_LOGIN = "/api/v1/auth/otp-login"
ORDER = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "1",
         "price": "100.00"}


@pytest.fixture(scope="module")
def inbox() -> Iterator[Inbox]:
    with smtp_server() as server:
        yield server


@pytest.fixture
async def verifying() -> AsyncIterator[FastAPI]:
    """An app that requires a proven address, on the same database as the default app."""
    app = create_app(Settings().model_copy(update={"require_email_verification": True}))
    async with app.router.lifespan_context(app):
        yield app
        await take_mail_tasks(app.state.redis)


@pytest.fixture
async def strict(verifying: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=verifying)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def _mailer(app: FastAPI, inbox: Inbox) -> Runtime:
    return Runtime(Settings(smtp_host="127.0.0.1", smtp_port=inbox.port),
                   engine=app.state.engine, redis=app.state.redis)


async def _sign_up(client: httpx.AsyncClient) -> tuple[str, httpx.Response]:
    email = f"verify-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post(REGISTER, json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return email, response


async def _deliver(app: FastAPI, inbox: Inbox) -> None:
    """Run the worker's handler on every mail task the API queued, as a worker would."""
    for user_id, purpose in await take_mail_tasks(app.state.redis):
        await mail.send_login_code(_mailer(app, inbox), uuid.UUID(user_id), purpose=purpose)


async def _actions(engine: AsyncEngine, email: str) -> list[tuple[str, str | None]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT a.action, a.details->>'reason' FROM audit_log a JOIN users u"
            " ON u.id = a.user_id WHERE u.email = :email ORDER BY a.created_at, a.id"),
            {"email": email})).all()
    return [(row[0], row[1]) for row in rows]


def _bearer(response: httpx.Response) -> dict[str, str]:
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_a_sign_up_is_mailed_a_code_and_logs_in_by_password_only_once_it_is_used(
    strict: httpx.AsyncClient, verifying: FastAPI, inbox: Inbox,
) -> None:
    email, _ = await _sign_up(strict)
    await _deliver(verifying, inbox)
    (message,) = inbox.to(email)
    assert message["Subject"] == "Confirm your ordergate address"
    plain, html = parts(message)
    code = code_in(message)
    assert code in plain
    assert code in html

    refused = await strict.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "email_unverified"
    assert "otp-login" in refused.json()["error"]["message"]
    assert "access_token" not in refused.text

    proven = await strict.post(OTP_LOGIN, json={"email": email, "otp": code})
    assert proven.status_code == 200, proven.text
    assert (await strict.post(LOGIN, json={"email": email,
                                           "password": PASSWORD})).status_code == 200
    # The code login's two entries share its transaction's time: compared as a multiset.
    assert sorted(await _actions(verifying.state.engine, email), key=str) == sorted([
        ("auth.login_failed", "email_unverified"), ("auth.email_verified", None),
        ("auth.login", None), ("auth.login", None)], key=str)


async def test_a_wrong_password_of_an_unverified_account_is_the_usual_401(
    strict: httpx.AsyncClient,
) -> None:
    email, _ = await _sign_up(strict)
    wrong = await strict.post(LOGIN, json={"email": email, "password": "not the password"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_credentials"


async def test_an_unverified_account_places_no_order_until_its_address_is_proven(
    client: httpx.AsyncClient, strict: httpx.AsyncClient, verifying: FastAPI, inbox: Inbox,
) -> None:
    # Signed up and logged in while verification was off: the session outlives the switch.
    email, _ = await _sign_up(client)
    session = await client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert session.status_code == 200
    auth = _bearer(session)

    refused = await strict.post("/api/v1/orders", json=ORDER, headers=auth)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "email_unverified"
    assert (await strict.get("/api/v1/orders", headers=auth)).json()["items"] == []

    assert (await strict.post("/api/v1/auth/request-otp", json={"email": email})
            ).status_code == 202
    await _deliver(verifying, inbox)
    (message,) = inbox.to(email)
    assert message["Subject"] == "Your ordergate login code"
    proven = await strict.post(OTP_LOGIN, json={"email": email, "otp": code_in(message)})
    assert proven.status_code == 200
    placed = await strict.post("/api/v1/orders", json=ORDER, headers=auth)
    assert placed.status_code == 202, placed.text


async def test_without_the_setting_a_sign_up_is_mailed_nothing_and_logs_in_at_once(
    client: httpx.AsyncClient, app: FastAPI,
) -> None:
    email, signed_up = await _sign_up(client)
    queued = [args[0] for args in await take_mail_tasks(app.state.redis)]
    assert signed_up.json()["id"] not in queued
    session = await client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert session.status_code == 200
    placed = await client.post("/api/v1/orders", json=ORDER, headers=_bearer(session))
    assert placed.status_code == 202, placed.text
