"""The Groww stub as the contract suite drives it (tests/stubs/harness.BrokerStub).

Groww has no HTTP postback of its own: a delivery is the order-detail payload a relay POSTs
to us, signed with the generic X-Broker-Signature scheme under the Settings' webhook secret.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from decimal import Decimal

from shared.brokers import signing, webhooks
from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession, Instrument, WebhookTrigger
from shared.settings import Settings
from tests.stubs.groww.app import API_KEY, API_SECRET, GrowwBook, Json, create_app, dumps
from tests.stubs.harness import Delivery, verify_delivery
from tests.stubs.server import StubServer
from worker.brokers.groww.adapter import GrowwAdapter

INSTRUMENT = Instrument(symbol="INFY", exchange="NSE", currency="INR", isin="INE009A01021",
                        refs={"angelone": {"symboltoken": "1594", "tradingsymbol": "INFY-EQ"}})


class GrowwStub:
    """Exchange-side controls of one running Groww stub."""

    broker = Broker.GROWW
    instrument = INSTRUMENT

    def __init__(self, server: StubServer, book: GrowwBook) -> None:
        self._server = server
        self._book = book
        self.url = server.url
        self.settings = Settings(groww_base_url=server.url)
        self._account = uuid.uuid4()

    def reset(self) -> None:
        """A valid session again, no throttling, stalls or pending rejections."""
        with self._book.lock:
            self._book.tokens.add(self._book.token)
            self._book.throttled = 0
            self._book.stall = 0.0
            self._book.modify_stall = 0.0
            self._book.reject_reason = None
            self._book.cancel_refusal = None

    def session(self) -> BrokerSession:
        """The account's logged-in session."""
        return BrokerSession(api_key=API_KEY, api_secret=API_SECRET,
                             access_token=self._book.token)

    def adapter(self, *, timeout: float = 2.0) -> GrowwAdapter:
        """A real GrowwAdapter pointed at the stub."""
        return GrowwAdapter(self.session(), self.settings, timeout=timeout)

    def fill(self, broker_order_id: str, quantity: Decimal, price: Decimal) -> None:
        """Execute `quantity` of a working order at `price`."""
        if quantity != quantity.to_integral_value():
            raise ValueError(f"groww fills whole shares, was {quantity}")
        with self._book.lock:
            self._book.fill(broker_order_id, int(quantity), price)

    def reject_next_place(self, reason: str) -> None:
        """The next order is accepted, then rejected by Groww's checks with `reason`."""
        with self._book.lock:
            self._book.reject_reason = reason

    def refuse_next_cancel(self, reason: str) -> None:
        """The next cancel of a working order is refused by Groww with `reason`."""
        with self._book.lock:
            self._book.cancel_refusal = reason

    def order_tagged(self, tag: str) -> str:
        """The Groww order id of the one order carrying order_reference_id `tag`."""
        with self._book.lock:
            [found] = [o["groww_order_id"] for o in self._book.orders.values()
                       if o["order_reference_id"] == tag]
            return str(found)

    def order(self, broker_order_id: str) -> Json:
        """A copy of the order as Groww holds it now (quantity, price, status after a modify)."""
        with self._book.lock:
            return dict(self._book.orders[broker_order_id])

    def expire_session(self) -> None:
        """The access token stops working (401 GA005 on every call)."""
        with self._book.lock:
            self._book.tokens.discard(self._book.token)

    def throttle(self, requests: int) -> None:
        """Answer the next `requests` requests with HTTP 429."""
        with self._book.lock:
            self._book.throttled = requests

    def stall_next_place(self, seconds: float) -> None:
        """Record the next order, then answer only after `seconds`."""
        with self._book.lock:
            self._book.stall = seconds

    def stall_next_modify(self, seconds: float) -> None:
        """Apply the next modify at once, then answer only after `seconds`."""
        with self._book.lock:
            self._book.modify_stall = seconds

    def orders_tagged(self, tag: str) -> int:
        """How many orders carry order_reference_id `tag`."""
        with self._book.lock:
            return sum(o["order_reference_id"] == tag for o in self._book.orders.values())

    def delivery(self, broker_order_id: str) -> Delivery:
        """The relay's signed POST of the order's current detail payload."""
        with self._book.lock:
            body = dumps(self._book.advance(self._book.orders[broker_order_id])).encode()
        secret = self.settings.broker_webhook_secret
        return Delivery(body=body, headers=signing.signed_headers(
            secret, int(time.time()), body, f"groww-relay-{uuid.uuid4()}"))

    def forge(self, delivery: Delivery) -> Delivery:
        """The same delivery signed with a secret ordergate does not hold."""
        stamp = int(time.time())
        return replace(delivery, headers=signing.signed_headers(
            "not-the-relay-secret-at-all", stamp, delivery.body,
            delivery.headers[signing.DELIVERY_ID_HEADER]))

    def verify(self, delivery: Delivery) -> WebhookTrigger | None:
        """ordergate's own verification of `delivery` (shared.brokers.webhooks)."""
        candidate = webhooks.Candidate(account_id=self._account, session=self.session(),
                                       webhook_token=None)
        return verify_delivery(Broker.GROWW, delivery, candidate, self.settings)

    def outage(self) -> AbstractContextManager[None]:
        """Groww is down (connections refused) for the block."""
        return self._server.outage()


@contextmanager
def running() -> Iterator[GrowwStub]:
    """A Groww stub serving on a free local port for the duration of the block."""
    book = GrowwBook()
    server = StubServer(create_app(book))
    server.start()
    try:
        yield GrowwStub(server, book)
    finally:
        server.stop()
