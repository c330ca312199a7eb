"""Upstox login: exchange the OAuth authorization code for an access token (get-token page).

    POST {upstox_base_url}/v2/login/authorization/token   (application/x-www-form-urlencoded)
    code, client_id=api_key, client_secret=api_secret, redirect_uri, grant_type=authorization_code

The token lasts until the next 03:30 IST. Upstox issues no refresh token for this flow and a
code is good for one exchange only, so a refresh is a new login with a new code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import httpx

from shared.brokers.sessions import LoginForm
from shared.brokers.types import (
    BrokerError,
    BrokerSession,
    NotSent,
    Rejected,
    SessionExpired,
    Unknown,
)
from shared.brokers.upstox import wire
from shared.settings import Settings

TOKEN_PATH: Final = "/v2/login/authorization/token"


async def activate(client: httpx.AsyncClient, settings: Settings,
                   form: LoginForm) -> BrokerSession:
    """Exchange the code of the user's Upstox login for a session valid until 03:30 IST."""
    missing = [name for name, value in (("api key", form.api_key), ("api secret",
               form.api_secret), ("authorization code", form.code)) if not value]
    if missing:
        raise Rejected(f"an Upstox login needs the {', '.join(missing)}", broker=wire.BROKER,
                       code="missing_credentials", details={"missing": missing})
    fields = {"code": form.code, "client_id": form.api_key, "client_secret": form.api_secret,
              "redirect_uri": settings.upstox_redirect_uri, "grant_type": "authorization_code"}
    response = await _post(client, settings.upstox_base_url.rstrip("/") + TOKEN_PATH, fields)
    if response.status_code != 200:
        raise _login_error(wire.error_from(response.status_code, response.content,
                                           changes_state=True,
                                           retry_after=response.headers.get("Retry-After")))
    try:
        answer = wire.loads(response.content)
        return _session(answer, form)
    except (ValueError, KeyError, TypeError) as exc:
        raise Unknown(f"upstox answered the token request with a body we cannot read: {exc}",
                      broker=wire.BROKER, code="unreadable") from exc


async def refresh(client: httpx.AsyncClient, settings: Settings, current: BrokerSession,
                  form: LoginForm) -> BrokerSession:
    """A new session from a new authorization code: Upstox has no refresh token."""
    if not form.code:
        raise SessionExpired(
            "Upstox issues no refresh token: sign in to Upstox again and bring the new "
            "authorization code from the login redirect", broker=wire.BROKER,
            code="login_required")
    renewed = LoginForm(api_key=form.api_key or current.api_key,
                        api_secret=form.api_secret or current.api_secret, code=form.code)
    return await activate(client, settings, renewed)


async def _post(client: httpx.AsyncClient, url: str, fields: dict[str, str]) -> httpx.Response:
    try:
        return await client.post(url, data=fields, headers={"Accept": "application/json"})
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise NotSent(f"upstox is unreachable: {type(exc).__name__}", broker=wire.BROKER,
                      code="unreachable") from exc
    except httpx.TransportError as exc:
        # The code is spent whether or not the answer arrived: only a new login helps.
        raise Unknown(f"no answer from upstox to the token request: {type(exc).__name__}",
                      broker=wire.BROKER, code="no_answer") from exc


def _login_error(error: BrokerError) -> BrokerError:
    if isinstance(error, NotSent | Unknown):
        return error
    # A refused code or secret is a bad login, not an expired session.
    return Rejected(f"Upstox refused the login: {error.message}", broker=wire.BROKER,
                    code=error.code, details=error.details)


def _session(answer: Any, form: LoginForm) -> BrokerSession:
    token = answer["access_token"]
    if not isinstance(token, str) or not token:
        raise ValueError("the answer carries no access_token")
    return BrokerSession(api_key=form.api_key, api_secret=form.api_secret, access_token=token,
                         broker_user_id=str(answer.get("user_id") or ""),
                         expires_at=wire.token_expiry(datetime.now(UTC)))
