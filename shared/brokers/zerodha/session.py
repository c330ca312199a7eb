"""Kite Connect logins: exchange a request token (or a refresh token) for an access token.

kite.trade/docs/connect/v3/user: POST /session/token with api_key, request_token and
checksum = sha256(api_key + request_token + api_secret). Platforms Zerodha approves also get a
refresh_token, renewed at POST /session/refresh_token with sha256(api_key + refresh_token +
api_secret). Everyone else logs in again each day: tokens expire at 06:00 in India.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from shared.brokers.sessions import LoginForm
from shared.brokers.types import BrokerSession, NotSent, Rejected, SessionExpired, Unknown
from shared.brokers.zerodha import wire
from shared.settings import Settings

_HEADERS = {"X-Kite-Version": "3"}


async def activate(client: httpx.AsyncClient, settings: Settings,
                   form: LoginForm) -> BrokerSession:
    """Exchange the request token of the user's Kite login for a session."""
    if not (form.api_key and form.api_secret and form.request_token):
        raise Rejected("a Kite login needs the app's api_key and api_secret and the "
                       "request_token from the login redirect", broker=wire.BROKER,
                       code="missing_credentials")
    checksum = wire.session_checksum(form.api_key, form.request_token, form.api_secret)
    try:
        data = await _post(client, settings, "/session/token", {
            "api_key": form.api_key, "request_token": form.request_token, "checksum": checksum})
    except SessionExpired as exc:
        # At login, a refused token means wrong credentials, not an expired session.
        raise Rejected(f"Kite refused the login: {exc.message}", broker=wire.BROKER,
                       code=exc.code) from exc
    return _session(data, api_key=form.api_key, api_secret=form.api_secret)


async def refresh(client: httpx.AsyncClient, settings: Settings, current: BrokerSession,
                  form: LoginForm) -> BrokerSession:
    """A new session: from a new request token, else from the held refresh token."""
    api_key = form.api_key or current.api_key
    api_secret = form.api_secret or current.api_secret
    if form.request_token:
        return await activate(client, settings, LoginForm(
            api_key=api_key, api_secret=api_secret, request_token=form.request_token))
    if not current.refresh_token:
        raise SessionExpired("log in to Kite again: Kite sessions end at 06:00 IST and this "
                             "app holds no refresh token", broker=wire.BROKER,
                             code="login_required")
    checksum = wire.session_checksum(api_key, current.refresh_token, api_secret)
    try:
        data = await _post(client, settings, "/session/refresh_token", {
            "api_key": api_key, "refresh_token": current.refresh_token, "checksum": checksum})
    except (Rejected, SessionExpired) as exc:
        raise SessionExpired(f"log in to Kite again: {exc.message}", broker=wire.BROKER,
                             code=exc.code) from exc
    return _session(data, api_key=api_key, api_secret=api_secret,
                    previous_refresh_token=current.refresh_token)


async def _post(client: httpx.AsyncClient, settings: Settings, path: str,
                form: dict[str, str]) -> Any:
    url = settings.zerodha_root_url.rstrip("/") + path
    try:
        response = await client.post(url, data=form, headers=_HEADERS,
                                     timeout=settings.broker_http_timeout_seconds)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise NotSent(f"Kite is unreachable: {type(exc).__name__}", broker=wire.BROKER,
                      code="unreachable") from exc
    except httpx.TransportError as exc:
        # The token may have been spent by a request that got no answer.
        raise Unknown(f"no answer from Kite to {path}: {type(exc).__name__}",
                      broker=wire.BROKER, code="no_answer") from exc
    return wire.unwrap(response.status_code, response.content, changes_state=True,
                       retry_after=response.headers.get("Retry-After"))


def _session(data: Any, *, api_key: str, api_secret: str,
             previous_refresh_token: str = "") -> BrokerSession:
    try:
        return wire.session_from(data, api_key=api_key, api_secret=api_secret,
                                 now=datetime.now(UTC),
                                 previous_refresh_token=previous_refresh_token)
    except (ValueError, TypeError) as exc:
        raise Unknown(f"Kite's login answer is unreadable: {exc}", broker=wire.BROKER,
                      code="unreadable_answer") from exc
