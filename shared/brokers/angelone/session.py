"""Angel One logins: client code + PIN + TOTP for tokens, and the refresh-token renewal.

smartapi.angelone.in/docs/User: `POST loginByPassword` {clientcode, password (the PIN), totp}
answers jwtToken, refreshToken and feedToken; `POST generateTokens` {refreshToken}, sent with
the current jwt, answers new ones. A session lives up to 28 hours after login.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx

from shared.brokers.angelone import wire
from shared.brokers.sessions import LoginForm
from shared.brokers.types import BrokerSession, NotSent, Rejected, SessionExpired, Unknown
from shared.settings import Settings


async def _post(client: httpx.AsyncClient, url: str, *, headers: dict[str, str],
                body: dict[str, str]) -> Any:
    # A login changes nothing a retry could double, so an unanswered one is simply not sent.
    try:
        response = await client.post(url, headers=headers, content=json.dumps(body))
    except httpx.TransportError as exc:
        raise NotSent(f"Angel One login did not get through: {type(exc).__name__}",
                      broker=wire.BROKER, code="unreachable") from exc
    return wire.data_of(response.status_code, response.text, changes_state=False,
                        retry_after=response.headers.get("Retry-After"))


def _tokens(data: Any) -> tuple[str, str, str]:
    if not isinstance(data, dict) or not data.get("jwtToken") or not data.get("refreshToken"):
        raise Unknown("Angel One answered the login without a jwtToken and refreshToken",
                      broker=wire.BROKER, code="no_tokens")
    return str(data["jwtToken"]), str(data["refreshToken"]), str(data.get("feedToken") or "")


async def activate(client: httpx.AsyncClient, settings: Settings,
                   form: LoginForm) -> BrokerSession:
    """Log in with client code, PIN and TOTP; Rejected for wrong credentials."""
    missing = [name for name, value in (("api_key", form.api_key),
                                        ("client_code", form.client_code),
                                        ("password", form.password), ("totp", form.totp))
               if not value]
    if missing:
        raise Rejected(f"an Angel One login needs {', '.join(missing)}", broker=wire.BROKER,
                       code="missing_credentials", details={"fields": missing})
    url = settings.angelone_base_url.rstrip("/") + wire.LOGIN_PATH
    body = {"clientcode": form.client_code, "password": form.password, "totp": form.totp}
    try:
        data = await _post(client, url, headers=wire.headers(form.api_key), body=body)
    except SessionExpired as exc:
        # Before any token exists, a token complaint means the credentials were refused.
        raise Rejected(exc.message, broker=wire.BROKER, code=exc.code) from exc
    jwt, refresh_token, feed = _tokens(data)
    return BrokerSession(api_key=form.api_key, access_token=jwt, refresh_token=refresh_token,
                         broker_user_id=form.client_code,
                         expires_at=datetime.now(UTC) + wire.SESSION_LIFETIME,
                         extra={"feed_token": feed})


async def refresh(client: httpx.AsyncClient, settings: Settings, current: BrokerSession,
                  form: LoginForm) -> BrokerSession:
    """New tokens from the refresh token; SessionExpired when Angel One refuses it."""
    if not current.refresh_token:
        raise SessionExpired("this Angel One connection has no refresh token: log in again",
                             broker=wire.BROKER, code="no_refresh_token")
    url = settings.angelone_base_url.rstrip("/") + wire.REFRESH_PATH
    sent = wire.headers(current.api_key or form.api_key, current.access_token, current.extra)
    try:
        data = await _post(client, url, headers=sent,
                           body={"refreshToken": current.refresh_token})
    except Rejected as exc:
        raise SessionExpired(f"Angel One refused the refresh token: {exc.message}",
                             broker=wire.BROKER, code=exc.code) from exc
    jwt, refresh_token, feed = _tokens(data)
    return replace(current, access_token=jwt, refresh_token=refresh_token,
                   expires_at=datetime.now(UTC) + wire.SESSION_LIFETIME,
                   extra={**current.extra, "feed_token": feed or
                          current.extra.get("feed_token", "")})
