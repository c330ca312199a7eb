"""The Angel One stub as the contract suite drives it (tests.stubs.harness.BrokerStub)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from decimal import Decimal

from shared.brokers import signing, webhooks
from shared.brokers.angelone import wire
from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession, Instrument, WebhookTrigger
from shared.settings import Settings
from tests.stubs.angelone.app import Book, create_app, dumps
from tests.stubs.harness import Delivery, verify_delivery
from tests.stubs.server import StubServer
from worker.brokers.angelone.adapter import AngelOneAdapter, build

API_KEY = "smartapi-test-key"
CLIENT_CODE = "A1234567"
PIN = "4321"
TOTP = "246810"
INFY = Instrument(symbol="INFY", exchange="NSE", currency="INR", isin="INE009A01021",
                  refs={"angelone": {"symboltoken": "1594", "tradingsymbol": "INFY-EQ"}})
WRONG_SECRET = "not-the-relay-secret-at-all"


class AngelOneStub:
    """Controls of one running Angel One stub."""

    broker = Broker.ANGELONE
    instrument = INFY

    def __init__(self, server: StubServer, book: Book) -> None:
        self.server, self.book = server, book
        self.url = server.url
        self.settings = Settings(angelone_base_url=self.url)
        self.account_id = uuid.uuid4()

    def reset(self) -> None:
        self.book.reset()

    def session(self) -> BrokerSession:
        return BrokerSession(api_key=API_KEY, access_token=self.book.jwt,
                             refresh_token=self.book.refresh_token, broker_user_id=CLIENT_CODE)

    def adapter(self, *, timeout: float = 2.0) -> AngelOneAdapter:
        settings = self.settings.model_copy(update={"broker_http_timeout_seconds": timeout})
        return build(self.session(), settings)

    def fill(self, broker_order_id: str, quantity: Decimal, price: Decimal) -> None:
        self.book.fill(broker_order_id, quantity, price)

    def reject_next_place(self, reason: str) -> None:
        with self.book.lock:
            self.book.reject_reason = reason

    def expire_session(self) -> None:
        with self.book.lock:
            self.book.expired = True

    def throttle(self, requests: int) -> None:
        with self.book.lock:
            self.book.throttled = requests

    def stall_next_place(self, seconds: float) -> None:
        with self.book.lock:
            self.book.stall = seconds

    def orders_tagged(self, tag: str) -> int:
        with self.book.lock:
            return sum(wire.tag_of(row["ordertag"]) == tag for row in self.book.orders.values())

    def delivery(self, broker_order_id: str) -> Delivery:
        """Angel One's postback row for the order, relayed and signed with the HMAC scheme."""
        with self.book.lock:
            row = self.book.read(self.book.orders[broker_order_id], numbers=True)
        body = dumps({**row, "clientcode": CLIENT_CODE}).encode()
        secret = self.settings.broker_webhook_secret
        return Delivery(body=body, headers=signing.signed_headers(
            secret, int(time.time()), body, f"angelone-relay-{uuid.uuid4()}"))

    def forge(self, delivery: Delivery) -> Delivery:
        headers = signing.signed_headers(WRONG_SECRET, int(time.time()), delivery.body,
                                         delivery.headers[signing.DELIVERY_ID_HEADER])
        return Delivery(body=delivery.body, headers=headers)

    def verify(self, delivery: Delivery) -> WebhookTrigger | None:
        candidate = webhooks.Candidate(self.account_id, self.session(), None)
        return verify_delivery(Broker.ANGELONE, delivery, candidate, self.settings)

    def outage(self) -> AbstractContextManager[None]:
        return self.server.outage()


def new_book() -> Book:
    """A fresh account with the harness's credentials."""
    return Book(api_key=API_KEY, client_code=CLIENT_CODE, pin=PIN, totp=TOTP)


@contextmanager
def running(book: Book | None = None) -> Iterator[AngelOneStub]:
    """Serve a stub Angel One for the duration of the block."""
    book = book or new_book()
    server = StubServer(create_app(book))
    server.start()
    try:
        yield AngelOneStub(server, book)
    finally:
        server.stop()
