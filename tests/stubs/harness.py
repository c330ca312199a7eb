"""What every REST broker stub offers the contract suite (tests/contract/).

A stub keeps its broker's order book in memory and speaks the broker's documented wire format:
request validation, response envelopes, status progressions, error types and 429s. The methods
below are the test's hands on the "exchange side" of the stub; the adapter under test sees only
HTTP.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from shared.brokers import webhooks
from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession, Instrument, WebhookTrigger
from shared.settings import Settings
from worker.brokers.base import BrokerAdapter


@dataclass(frozen=True)
class Delivery:
    """A webhook or postback as the broker (or its relay) would POST it to us."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    # Upstox puts no signature on its webhook: the secret token in our URL path identifies it.
    path_token: str | None = None


def verify_delivery(broker: Broker, delivery: Delivery, candidate: webhooks.Candidate,
                    settings: Settings) -> WebhookTrigger | None:
    """ordergate's real verification of `delivery` for one connection: the trigger, or None."""
    verified = webhooks.authenticate(
        broker, body=delivery.body, headers=delivery.headers, path_token=delivery.path_token,
        candidates=[candidate], secrets=settings.webhook_secrets, now=time.time(),
        tolerance_seconds=settings.webhook_tolerance_seconds)
    return verified.trigger if verified is not None else None


class BrokerStub(Protocol):
    """The exchange-side controls of one running stub broker."""

    broker: Broker
    url: str
    # The instrument the contract suite trades (an NSE equity the stub knows).
    instrument: Instrument

    def reset(self) -> None:
        """Undo every control below (a valid session again, no throttling, no stalls); the
        order book stays."""
        ...

    def session(self) -> BrokerSession:
        """A valid, logged-in session for the stub's one account."""
        ...

    def adapter(self, *, timeout: float = 2.0) -> BrokerAdapter:
        """A real adapter pointed at this stub with `session()`, HTTP timeout `timeout`."""
        ...

    def fill(self, broker_order_id: str, quantity: Decimal, price: Decimal) -> None:
        """Execute `quantity` of a working order at `price` (a partial fill if less than open)."""
        ...

    def reject_next_place(self, reason: str) -> None:
        """The next place is refused as the broker refuses one (e.g. insufficient margin)."""
        ...

    def expire_session(self) -> None:
        """Invalidate the access token: every call now fails as the broker's expiry does."""
        ...

    def throttle(self, requests: int) -> None:
        """Answer the next `requests` requests with the broker's 429."""
        ...

    def stall_next_place(self, seconds: float) -> None:
        """Record the next order, then answer only after `seconds` (the client times out)."""
        ...

    def orders_tagged(self, tag: str) -> int:
        """How many orders the stub holds with this tag / reference id."""
        ...

    def delivery(self, broker_order_id: str) -> Delivery:
        """The postback/webhook the broker would send now about this order, correctly signed."""
        ...

    def forge(self, delivery: Delivery) -> Delivery:
        """The same delivery with a signature the broker's scheme must refuse (wrong secret,
        wrong checksum, wrong path token)."""
        ...

    def verify(self, delivery: Delivery) -> WebhookTrigger | None:
        """Run ordergate's real verification (shared.brokers.webhooks.authenticate) of a
        delivery for the stub's connection: the trigger, or None if refused."""
        ...

    def outage(self) -> AbstractContextManager[None]:
        """The broker is down (connections refused) for the duration of the block."""
        ...
