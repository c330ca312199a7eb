"""Broker connection use cases. Services never commit; the router owns transactions.

A broker is called (login exchange) outside any transaction, so a slow broker never holds a
database connection, and nothing is stored unless the broker accepted the login.
"""

from __future__ import annotations

import functools
import logging
import math
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

import httpx
from pydantic import SecretStr
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from api.brokers.schemas import ConnectionOut, LoginFields
from api.errors import ApiError
from shared.brokers.catalog import REAL_BROKERS, Broker, parse_broker
from shared.brokers.india import MARKET_PROTECTION
from shared.brokers.sessions import LoginForm, session_module
from shared.brokers.types import (
    BrokerError,
    BrokerSession,
    NotSent,
    RateLimited,
    Rejected,
    SessionExpired,
    Unknown,
)
from shared.credentials import CredentialBox, CredentialsError
from shared.db.repositories import connections
from shared.domain.errors import Conflict, DomainError, NotFound
from shared.settings import Settings

log = logging.getLogger(__name__)

# What each broker's login needs: every group must have at least one of its fields.
REQUIRED: Final[Mapping[Broker, tuple[tuple[str, ...], ...]]] = {
    Broker.IBKR: (("client_code",),),
    Broker.ZERODHA: (("api_key",), ("api_secret",), ("request_token",)),
    Broker.UPSTOX: (("api_key",), ("api_secret",), ("code",)),
    Broker.GROWW: (("api_key",), ("totp", "api_secret")),
    Broker.ANGELONE: (("api_key",), ("client_code",), ("password",), ("totp",)),
}
UNAVAILABLE_RETRY_SECONDS: Final = 5


class InvalidConnection(DomainError):
    kind = "invalid"
    default_code = "invalid_request"


class LoginRefused(DomainError):
    kind = "invalid"
    default_code = "broker_login_refused"


@functools.lru_cache(maxsize=4)
def _box(keys: tuple[str, ...]) -> CredentialBox:
    return CredentialBox(keys)


def credential_box(settings: Settings) -> CredentialBox:
    """The credential box of these settings' keys (built once per key set)."""
    return _box(tuple(settings.credentials_key_list))


def connectable(value: str) -> Broker:
    """The real broker named `value`; 422 naming `broker` for unknown names and for paper."""
    broker = parse_broker(value)
    if broker not in REAL_BROKERS:
        known = ", ".join(sorted(b.value for b in REAL_BROKERS))
        raise InvalidConnection(
            f"the paper broker is built in and needs no connection; connect one of: {known}",
            code="not_connectable", details={"field": "broker", "value": value})
    return broker


def connection_id(raw: str) -> uuid.UUID:
    """Parse a connection id from the path; anything that is not a UUID is simply not found."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found(raw) from None


def not_found(raw: object) -> NotFound:
    """The one answer for an absent and a foreign connection alike."""
    return NotFound(f"connection {raw} not found", details={"field": "connection_id"})


def login_form(broker: Broker, fields: LoginFields, *, check: bool) -> LoginForm:
    """The broker-neutral login form; with `check`, 422 naming a field this broker needs."""
    values = {name: _plain(getattr(fields, name)) for name in LoginFields.model_fields}
    for group in REQUIRED[broker] if check else ():
        if not any(values[name] for name in group):
            needed = " or ".join(group)
            raise InvalidConnection(f"a {broker.value} login needs {needed}",
                                    details={"field": group[0], "broker": broker.value})
    return LoginForm(**values)


def _plain(value: SecretStr | str | None) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value or ""


async def activate(settings: Settings, broker: Broker, form: LoginForm) -> BrokerSession:
    """Exchange the user's login for a broker session (422 refused, 503 unreachable)."""
    module = session_module(broker)
    # At login, a broker calling the credentials expired means they are wrong.
    return await _at_broker(settings, broker, (Rejected, SessionExpired),
                            lambda client: module.activate(client, settings, form))


async def renew(settings: Settings, broker: Broker, current: BrokerSession,
                form: LoginForm) -> BrokerSession:
    """Renew a session; SessionExpired passes through (only a new login helps)."""
    module = session_module(broker)
    return await _at_broker(settings, broker, (Rejected,),
                            lambda client: module.refresh(client, settings, current, form))


async def _at_broker(settings: Settings, broker: Broker, refusals: tuple[type[BrokerError], ...],
                     call: Callable[[httpx.AsyncClient], Awaitable[BrokerSession]]
                     ) -> BrokerSession:
    try:
        async with httpx.AsyncClient(timeout=settings.broker_http_timeout_seconds) as client:
            return await call(client)
    except refusals as exc:
        raise LoginRefused(f"{broker.value} refused the login: {exc.message}",
                           details={"broker": broker.value, "broker_code": exc.code}) from None
    except (NotSent, Unknown) as exc:
        wait = math.ceil(exc.retry_after) if isinstance(exc, RateLimited) else (
            UNAVAILABLE_RETRY_SECONDS)
        raise ApiError(503, f"{broker.value} could not complete the login now ({exc.message}); "
                       "try again shortly", code="broker_unavailable",
                       details={"broker": broker.value},
                       headers={"Retry-After": str(max(wait, 1))}) from None


def with_market_protection(session: BrokerSession, chosen: Decimal | None,
                           current: BrokerSession | None = None) -> BrokerSession:
    """The session carrying the connection's market protection: `chosen`, else the stored one."""
    value = format(chosen, "f") if chosen is not None else (
        current.extra.get(MARKET_PROTECTION) if current is not None else None)
    if value is None:
        return session
    return replace(session, extra={**session.extra, MARKET_PROTECTION: value})


async def save_new(conn: AsyncConnection, box: CredentialBox, *, user_id: uuid.UUID,
                   broker: Broker, label: str | None, session: BrokerSession) -> RowMapping:
    """Store a fresh session: a new connection, or the same broker login's existing one."""
    row = await connections.upsert(conn, user_id=user_id, broker=broker,
                                   broker_user_id=session.broker_user_id, label=label)
    return await _store(conn, box, row, session)


async def load(conn: AsyncConnection, user_id: uuid.UUID, broker: Broker, raw_id: str, *,
               lock: bool = False) -> RowMapping:
    """One of the caller's live connections; 404 for absent and foreign alike."""
    row = await connections.get_for_user(conn, user_id, broker, connection_id(raw_id),
                                         lock=lock)
    if row is None:
        raise not_found(raw_id)
    return row


def stored_session(box: CredentialBox, row: RowMapping) -> BrokerSession:
    """Decrypt a connection's session; 409 asking for a new login if that is impossible."""
    try:
        if row["credentials"] is None:
            raise CredentialsError(f"account {row['id']} holds no credentials")
        return box.open(row["credentials"], user_id=row["user_id"], broker=row["broker"],
                        account_id=row["id"])
    except CredentialsError as exc:
        log.warning("connection %s: %s", row["id"], exc)
        raise expired(row, "the stored credentials cannot be used") from None


async def mark_expired(conn: AsyncConnection, row: RowMapping, reason: str) -> Conflict:
    """Record that the broker wants a new login; return the 409 to raise after commit."""
    await connections.mark_status(conn, row["id"], status="expired", last_error=reason)
    return expired(row, reason)


def expired(row: RowMapping, reason: str) -> Conflict:
    """The 409 that tells the user only a new login helps."""
    return Conflict(f"log in again: {reason}", code="connection_expired",
                    details={"connection_id": str(row["id"]), "broker": row["broker"]})


async def save_renewed(conn: AsyncConnection, box: CredentialBox, row: RowMapping,
                       session: BrokerSession) -> RowMapping:
    """Store a renewed session of the same broker login; 422 if another login was used."""
    known = row["broker_user_id"]
    if known and session.broker_user_id and session.broker_user_id != known:
        raise LoginRefused(
            f"this connection is {row['broker']} login {known}, but the login given is "
            f"{session.broker_user_id}; connect that one as a new connection",
            code="broker_login_mismatch", details={"broker": row["broker"]})
    return await _store(conn, box, row, session)


async def _store(conn: AsyncConnection, box: CredentialBox, row: RowMapping,
                 session: BrokerSession) -> RowMapping:
    sealed = box.seal(session, user_id=row["user_id"], broker=row["broker"],
                      account_id=row["id"])
    saved = await connections.save_credentials(
        conn, row["id"], credentials=sealed, status="active",
        token_expires_at=session.expires_at, last_error=None)
    if saved is None:  # revoked while the broker was being asked
        raise not_found(row["id"])
    log.info("broker connection %s (%s) of user %s saved", row["id"], row["broker"],
             row["user_id"])
    return saved


async def disconnect(conn: AsyncConnection, user_id: uuid.UUID, broker: Broker,
                     raw_id: str) -> RowMapping:
    """Revoke a connection and wipe its credentials; 409 while orders on it are open.

    Returns the connection as it was."""
    row = await load(conn, user_id, broker, raw_id, lock=True)
    open_orders = await connections.count_open_orders(conn, row["id"])
    if open_orders:
        raise Conflict(
            f"connection {row['id']} has {open_orders} open order(s); cancel them or wait "
            "until they are final before disconnecting", code="connection_has_open_orders",
            details={"connection_id": str(row["id"]), "open_orders": open_orders})
    await connections.revoke(conn, row["id"])
    log.info("broker connection %s (%s) of user %s revoked", row["id"], row["broker"], user_id)
    return row


def view(row: RowMapping, settings: Settings, now: datetime | None = None) -> ConnectionOut:
    """Shape a connection row for its owner: no credentials, the webhook URL to configure."""
    now = now or datetime.now(UTC)
    expires = row["token_expires_at"]
    lapsed = expires is not None and expires <= now
    return ConnectionOut(
        id=row["id"], broker=row["broker"], label=row["label"],
        broker_user_id=row["broker_user_id"],
        status="expired" if row["status"] == "expired" or lapsed else "active",
        token_expires_at=expires, last_error=row["last_error"], currency=row["currency"],
        webhook_url=webhook_url(settings, Broker(row["broker"]), row["webhook_token"]),
        created_at=row["created_at"], updated_at=row["updated_at"])


def webhook_url(settings: Settings, broker: Broker, webhook_token: str | None) -> str:
    """Where this connection's broker should post order updates."""
    url = f"{settings.public_base_url.rstrip('/')}/api/v1/webhooks/{broker.value}"
    # Upstox signs nothing: the unguessable token in the path is what names the connection.
    return f"{url}/{webhook_token}" if broker is Broker.UPSTOX and webhook_token else url
