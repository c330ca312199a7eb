"""Broker-neutral values every adapter speaks, and the errors that classify a broker's answer.

Pure: adapters turn wire formats into these; handlers turn these into domain changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.brokers.catalog import Broker, Product
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce

_S = OrderStatus
_WORKING = frozenset({_S.SUBMITTED, _S.ACCEPTED, _S.PARTIALLY_FILLED})


def canonical_status(mapped: OrderStatus, quantity: Decimal, filled: Decimal) -> OrderStatus:
    """Our status from a broker's mapped status and its quantities.

    Partially filled is derived from quantities, never from a status string: brokers report an
    "open" order with fills, and a cancelled one may have filled in part.
    """
    if mapped in _WORKING and quantity > 0 and filled >= quantity:
        return _S.FILLED
    if mapped in _WORKING and filled > 0:
        return _S.PARTIALLY_FILLED
    return mapped


@dataclass(frozen=True, slots=True)
class BrokerSession:
    """Decrypted credentials of one broker connection. Never logged, never returned."""

    api_key: str = ""
    api_secret: str = ""
    access_token: str = ""
    refresh_token: str = ""
    broker_user_id: str = ""
    expires_at: datetime | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        # Keeps secrets out of tracebacks and logs.
        return f"BrokerSession(broker_user_id={self.broker_user_id!r}, <secrets hidden>)"


@dataclass(frozen=True, slots=True)
class Instrument:
    """What an adapter needs to name a security at its broker."""

    symbol: str
    exchange: str
    currency: str
    isin: str | None = None
    # Broker-specific identifiers, e.g. Angel One's symboltoken: {"angelone": {...}}.
    refs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlaceRequest:
    """An order as sent to a broker; `tag` is our id in the broker's reference field.

    A TRAILING_STOP carries exactly one of `trail_price` (an amount) and `trail_percent`, and
    `trail_stop` when ordergate knows a water mark (where the stop starts); a GTD order
    carries `expire_at` (an aware datetime).
    """

    order_id: str
    tag: str
    instrument: Instrument
    side: Side
    order_type: OrderType
    quantity: Decimal
    time_in_force: TimeInForce
    price: Decimal | None = None
    stop_price: Decimal | None = None
    product: Product | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    trail_stop: Decimal | None = None
    expire_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Modify:
    """New values for a working order; None leaves a field as it is.

    A trail is one of an amount and a percentage: a new `trail_price` replaces a percentage
    trail, a new `trail_percent` an amount. `expire_at` is a GTD order's new expiry.
    """

    quantity: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    order_type: OrderType | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    expire_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """One order as the broker reports it, with our canonical status beside its raw one."""

    broker_order_id: str
    status: OrderStatus
    raw_status: str
    quantity: Decimal
    filled_quantity: Decimal
    tag: str | None = None
    price: Decimal | None = None
    avg_price: Decimal | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class BrokerFill:
    """One execution; `exec_id` is the broker's trade id, unique per account."""

    exec_id: str
    broker_order_id: str
    quantity: Decimal
    price: Decimal
    executed_at: datetime
    commission: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    symbol: str
    exchange: str
    quantity: Decimal
    avg_price: Decimal
    product: str | None = None


@dataclass(frozen=True, slots=True)
class BrokerFunds:
    currency: str
    available_cash: Decimal
    used_margin: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class WebhookTrigger:
    """What a verified webhook tells us: which order to look at (we re-fetch the rest)."""

    broker_order_id: str | None
    tag: str | None = None
    broker_user_id: str | None = None
    raw_status: str | None = None


class BrokerError(Exception):
    """A broker call failed; the subclass says whether it is safe to retry."""

    def __init__(self, message: str, *, broker: Broker | None = None, code: str | None = None,
                 details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.broker = broker
        self.code = code
        self.details = dict(details or {})

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.broker, self.code, self.details))


def _rebuild(cls: type[BrokerError], message: str, broker: Broker | None, code: str | None,
             details: dict[str, Any]) -> BrokerError:
    return cls(message, broker=broker, code=code, details=details)


class Rejected(BrokerError):
    """The broker refused the request for a business reason (margin, symbol, price). Final."""


class NotSent(BrokerError):
    """The request certainly did not take effect (refused connection, documented retryable)."""


class RateLimited(NotSent):
    """The broker answered 429: this account must slow down."""

    @property
    def retry_after(self) -> float:
        """Seconds to wait before this account's next request (1 s when the broker said none)."""
        value = self.details.get("retry_after")
        return float(value) if value is not None else 1.0


class Unknown(BrokerError):
    """The request may or may not have taken effect (timeout, 5xx): look it up before retrying."""


class SessionExpired(BrokerError):
    """The access token is invalid or expired: the connection needs a new login."""


class OrderNotFound(BrokerError):
    """The broker has no order with this id."""
