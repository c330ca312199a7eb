"""Groww login: exchange the API key and secret (daily approval) or a TOTP for an access token.

POST {groww_base_url}/v1/token/api/access with `Authorization: Bearer <api_key>` and either
{"key_type": "approval", "checksum": sha256(secret + timestamp), "timestamp": <epoch s>} or
{"key_type": "totp", "totp": "<code>"}; the answer is {"token": ...}. Tokens expire daily at
06:00 IST, so a refresh simply runs the approval flow again with the stored key and secret.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import httpx

from shared.brokers.catalog import Broker
from shared.brokers.groww import wire
from shared.brokers.sessions import LoginForm
from shared.brokers.types import (
    BrokerSession,
    NotSent,
    RateLimited,
    Rejected,
    SessionExpired,
)
from shared.settings import Settings

_GROWW = Broker.GROWW


async def activate(client: httpx.AsyncClient, settings: Settings,
                   form: LoginForm) -> BrokerSession:
    """A new session from the form's API key plus its TOTP, or else its API secret."""
    if not form.api_key.strip():
        raise Rejected("groww needs an API key", broker=_GROWW, code="missing_credentials")
    if not form.totp.strip() and not form.api_secret.strip():
        raise Rejected("groww needs an API secret (approval flow) or a TOTP",
                       broker=_GROWW, code="missing_credentials")
    return await _login(client, settings, form.api_key.strip(), form.api_secret.strip(),
                        form.totp)


async def refresh(client: httpx.AsyncClient, settings: Settings, current: BrokerSession,
                  form: LoginForm) -> BrokerSession:
    """A fresh token for `current`: a TOTP if the form brings one, else the stored secret."""
    api_key = form.api_key.strip() or current.api_key
    api_secret = form.api_secret.strip() or current.api_secret
    if not api_key or (not form.totp.strip() and not api_secret):
        raise SessionExpired("this groww connection has no stored secret: log in with a TOTP",
                             broker=_GROWW, code="login_required")
    return await _login(client, settings, api_key, api_secret, form.totp)


async def _login(client: httpx.AsyncClient, settings: Settings, api_key: str, api_secret: str,
                 totp: str) -> BrokerSession:
    body = (wire.totp_body(totp) if totp.strip()
            else wire.approval_body(api_secret, int(time.time())))
    url = settings.groww_base_url.rstrip("/") + "/v1/token/api/access"
    headers = {**wire.headers(api_key), "x-request-id": str(uuid.uuid4())}
    try:
        response = await client.post(url, content=wire.encode(body), headers=headers,
                                     timeout=settings.broker_http_timeout_seconds)
    except httpx.TransportError as exc:
        # Asking for a token twice is harmless, so even an unanswered request is NotSent.
        raise NotSent(f"groww's login did not answer: {type(exc).__name__}",
                      broker=_GROWW, code="unreachable") from exc
    _raise_for_failure(response)
    try:
        token = wire.parse_token(response.content)
    except (ValueError, AttributeError) as exc:
        raise NotSent("groww's login answered without a token", broker=_GROWW,
                      code="malformed") from exc
    return BrokerSession(api_key=api_key, api_secret=api_secret, access_token=token,
                         expires_at=wire.token_expiry(datetime.now(UTC)))


def _raise_for_failure(response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    error = wire.classify(status, response.content, changes_state=False, names_order=False,
                          retry_after=response.headers.get("Retry-After"))
    if isinstance(error, RateLimited | NotSent):
        raise error
    # 400 (bad checksum, TOTP, unapproved key), 401 and 403 all mean the credentials failed.
    raise Rejected(f"groww refused the login: {error.message}", broker=_GROWW,
                   code=error.code, details=error.details)
