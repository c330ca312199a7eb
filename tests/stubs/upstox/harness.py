"""The contract suite's hands on a running stub Upstox (tests/stubs/harness.BrokerStub)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from decimal import Decimal

from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession, Instrument, WebhookTrigger
from shared.brokers.webhooks import Candidate
from shared.settings import Settings
from tests.stubs.harness import Delivery, verify_delivery
from tests.stubs.server import StubServer, serving
from tests.stubs.upstox.app import create_app, webhook_body
from tests.stubs.upstox.book import Book
from worker.brokers.upstox.adapter import UpstoxAdapter

INFY = Instrument(symbol="INFY", exchange="NSE", currency="INR", isin="INE009A01021",
                  refs={"angelone": {"symboltoken": "1594", "tradingsymbol": "INFY-EQ"}})
API_KEY = "stub-upstox-api-key"
API_SECRET = "stub-upstox-api-secret"


class UpstoxStub:
    """One stub Upstox account, its connection at ordergate and the webhook path token."""

    broker = Broker.UPSTOX
    instrument = INFY

    def __init__(self, book: Book, server: StubServer, settings: Settings) -> None:
        self.book = book
        self.url = server.url
        self.settings = settings
        self._server = server
        self.account_id = uuid.uuid4()
        self.webhook_token = secrets.token_urlsafe(24)

    def reset(self) -> None:
        """A valid session again, no throttling, no stall, no pending rejection."""
        self.book.reset()

    def session(self) -> BrokerSession:
        """The logged-in session of the stub's account."""
        return BrokerSession(api_key=API_KEY, api_secret=API_SECRET,
                             access_token=self.book.token, broker_user_id=self.book.user_id)

    def login_code(self) -> str:
        """An authorization code, as Upstox puts it in the login redirect."""
        return self.book.issue_code()

    def adapter(self, *, timeout: float = 2.0) -> UpstoxAdapter:
        """A real adapter pointed at the stub."""
        return UpstoxAdapter(self.session(), self.settings, timeout=timeout)

    def fill(self, broker_order_id: str, quantity: Decimal, price: Decimal) -> None:
        """Execute part or all of a working order."""
        self.book.fill(broker_order_id, int(quantity), price)

    def reject_next_place(self, reason: str) -> None:
        """Accept the next place for processing, then reject it with `reason` (RMS)."""
        with self.book.lock:
            self.book.reject = reason

    def expire_session(self) -> None:
        """Every access token is now refused with UDAPI100050."""
        with self.book.lock:
            self.book.tokens.clear()

    def throttle(self, requests: int) -> None:
        """Answer the next `requests` requests with 429 UDAPI10005."""
        with self.book.lock:
            self.book.throttled = requests

    def stall_next_place(self, seconds: float) -> None:
        """Record the next order, then answer only after `seconds`."""
        with self.book.lock:
            self.book.stall = seconds

    def orders_tagged(self, tag: str) -> int:
        """How many orders carry this tag."""
        with self.book.lock:
            return sum(1 for o in self.book.orders.values() if o.body.get("tag") == tag)

    def delivery(self, broker_order_id: str) -> Delivery:
        """Upstox's unsigned order update, posted to our URL with the connection's token."""
        return Delivery(body=webhook_body(self.book, broker_order_id),
                        headers={"Content-Type": "application/json"},
                        path_token=self.webhook_token)

    def forge(self, delivery: Delivery) -> Delivery:
        """The same body at a URL whose path token names no connection."""
        return replace(delivery, path_token=secrets.token_urlsafe(24))

    def verify(self, delivery: Delivery) -> WebhookTrigger | None:
        """ordergate's real check of a delivery for this stub's connection."""
        candidate = Candidate(self.account_id, self.session(), self.webhook_token)
        return verify_delivery(Broker.UPSTOX, delivery, candidate, self.settings)

    def outage(self) -> AbstractContextManager[None]:
        """Connections are refused for the duration of the block."""
        return self._server.outage()


@contextmanager
def running() -> Iterator[UpstoxStub]:
    """A stub Upstox serving both hosts at one URL, with Settings pointing at it."""
    redirect_uri = Settings().upstox_redirect_uri
    book = Book(api_key=API_KEY, api_secret=API_SECRET, redirect_uri=redirect_uri,
                instruments={f"NSE_EQ|{INFY.isin}": (INFY.symbol, INFY.exchange)})
    with serving(create_app(book)) as server:
        settings = Settings(upstox_base_url=server.url, upstox_order_url=server.url)
        yield UpstoxStub(book, server, settings)
