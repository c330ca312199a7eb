"""The contract suite's (and end-to-end tests') hands on a running local Kite Connect.

    with running(api_key=..., api_secret=..., access_token=..., user_id=...,
                 postback_url=None, issue_refresh_tokens=True) as kite:   # a StubKite
        ...

Every constructor argument is optional (defaults: `DEFAULT_*` below). Public knobs of StubKite:
- `url`, `instrument` (INFY on NSE), `broker`; `session()` (a logged-in BrokerSession for the
  stub's account), `settings()` (Settings pointing at the stub), `adapter(timeout=2.0)`;
- exchange side: `fill(order_id, quantity, price)` (UPDATE or COMPLETE postback),
  `cancel(order_id)` (the exchange cancels: CANCELLED postback), `reject_next_place(reason)`
  (accepted, then REJECTED with `reason` in status_message, REJECTED postback);
- failures: `expire_session()`, `throttle(n)` (next n requests get 429), `stall_next_place(s)`,
  `outage()` (a block with the server down); `reset()` undoes all of them;
- login: `issue_request_token()` (what Kite's login redirect would carry), `refresh_tokens()`,
  `revoke_refresh_tokens()`;
- postbacks: `set_postback_url(url)` (every order update is then POSTed there as raw JSON,
  also on modify and on API cancels, as Kite does), `delivery(order_id)`, `forge(delivery)`,
  `verify(delivery)` (ordergate's real `shared.brokers.webhooks.authenticate`);
- `orders_tagged(tag)`: how many orders carry a tag.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from decimal import Decimal
from typing import Final

from shared.brokers import webhooks
from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession, Instrument, WebhookTrigger
from shared.brokers.zerodha import wire
from shared.settings import Settings
from tests.stubs.harness import Delivery, verify_delivery
from tests.stubs.server import StubServer
from tests.stubs.zerodha.app import KiteExchange, create_app, dumps, sha256
from worker.brokers.zerodha.adapter import ZerodhaAdapter

DEFAULT_API_KEY: Final = "kitestubapikey"
DEFAULT_API_SECRET: Final = "kitestubapisecret0123456789"
DEFAULT_ACCESS_TOKEN: Final = "kitestubaccesstoken"
DEFAULT_USER_ID: Final = "AB1234"
ACCOUNT_ID: Final = uuid.UUID("00000000-0000-4000-8000-00000000ce17")
INFY: Final = Instrument(symbol="INFY", exchange="NSE", currency="INR", isin="INE009A01021",
                         refs={"angelone": {"symboltoken": "1594", "tradingsymbol": "INFY-EQ"}})


class StubKite:
    """A running local Kite Connect and the controls of its exchange side."""

    broker: Broker = Broker.ZERODHA
    instrument: Instrument = INFY

    def __init__(self, *, api_key: str = DEFAULT_API_KEY, api_secret: str = DEFAULT_API_SECRET,
                 access_token: str = DEFAULT_ACCESS_TOKEN, user_id: str = DEFAULT_USER_ID,
                 postback_url: str | None = None, issue_refresh_tokens: bool = True) -> None:
        self.exchange = KiteExchange(
            api_key=api_key, api_secret=api_secret, access_token=access_token, user_id=user_id,
            postback_url=postback_url, issue_refresh_tokens=issue_refresh_tokens)
        self.server = StubServer(create_app(self.exchange))
        # The port is chosen here and kept across outages.
        self.url = self.server.url

    def reset(self) -> None:
        """A valid session again, no throttling, stall or pending rejection; the book stays."""
        with self.exchange.lock:
            self.exchange.access_tokens.add(self.exchange.initial_token)
            self.exchange.throttled = 0
            self.exchange.stall_seconds = 0.0
            self.exchange.reject_reason = None

    def settings(self) -> Settings:
        """Settings that point ordergate's Kite code at this stub."""
        return Settings(zerodha_root_url=self.url)

    def session(self) -> BrokerSession:
        """The stub account's logged-in session (its initial access token)."""
        ex = self.exchange
        return BrokerSession(api_key=ex.api_key, api_secret=ex.api_secret,
                             access_token=ex.initial_token, broker_user_id=ex.user_id)

    def adapter(self, *, timeout: float = 2.0) -> ZerodhaAdapter:
        """The real adapter, logged in, pointed at this stub."""
        return ZerodhaAdapter(self.session(), self.settings(), timeout=timeout)

    def fill(self, broker_order_id: str, quantity: Decimal, price: Decimal) -> None:
        """Execute `quantity` at `price`; Kite quantities are whole numbers."""
        if quantity != quantity.to_integral_value():
            raise ValueError(f"Kite quantities are whole, was {quantity}")
        self.exchange.deliver(self.exchange.fill(broker_order_id, int(quantity), price))

    def cancel(self, broker_order_id: str) -> None:
        """The exchange cancels a working order (e.g. an IOC remainder)."""
        self.exchange.deliver(self.exchange.cancel(broker_order_id))

    def reject_next_place(self, reason: str) -> None:
        """The next place is accepted, then rejected by risk checks with `reason`."""
        with self.exchange.lock:
            self.exchange.reject_reason = reason

    def expire_session(self) -> None:
        """Every access token stops working (403 TokenException)."""
        with self.exchange.lock:
            self.exchange.access_tokens.clear()

    def throttle(self, requests: int) -> None:
        """The next `requests` requests are answered 429."""
        with self.exchange.lock:
            self.exchange.throttled = requests

    def stall_next_place(self, seconds: float) -> None:
        """The next place is booked at once but answered only after `seconds`."""
        with self.exchange.lock:
            self.exchange.stall_seconds = seconds

    def orders_tagged(self, tag: str) -> int:
        return self.exchange.tagged(tag)

    def issue_request_token(self) -> str:
        """A fresh single-use request token, as Kite's login redirect carries one."""
        token = secrets.token_hex(16)
        with self.exchange.lock:
            self.exchange.request_tokens.add(token)
        return token

    def refresh_tokens(self) -> set[str]:
        with self.exchange.lock:
            return set(self.exchange.refresh_tokens)

    def revoke_refresh_tokens(self) -> None:
        with self.exchange.lock:
            self.exchange.refresh_tokens.clear()

    def set_postback_url(self, url: str | None) -> None:
        """Where order updates are POSTed from now on (None: nowhere)."""
        with self.exchange.lock:
            self.exchange.postback_url = url

    def delivery(self, broker_order_id: str) -> Delivery:
        """The postback Kite would send about the order now (UPDATE while it works)."""
        current = self.exchange.history(broker_order_id)[-1]["status"]
        status = current if current in ("COMPLETE", "CANCELLED", "REJECTED") else "UPDATE"
        body = self.exchange.postback(broker_order_id, status=status)
        return Delivery(body=body, headers={"Content-Type": "application/json"})

    def forge(self, delivery: Delivery) -> Delivery:
        """The same postback with a checksum made with a wrong api_secret."""
        payload = wire.loads(delivery.body)
        payload["checksum"] = sha256(str(payload["order_id"]), str(payload["order_timestamp"]),
                                     "not-" + self.exchange.api_secret)
        return Delivery(body=dumps(payload).encode(), headers=dict(delivery.headers))

    def verify(self, delivery: Delivery) -> WebhookTrigger | None:
        """What ordergate's webhook authentication makes of `delivery` for this account."""
        candidate = webhooks.Candidate(account_id=ACCOUNT_ID, session=self.session(),
                                       webhook_token=None)
        return verify_delivery(Broker.ZERODHA, delivery, candidate, self.settings())

    def outage(self) -> AbstractContextManager[None]:
        """Kite is down (connections refused) for the duration of the block."""
        return self.server.outage()


@contextmanager
def running(*, api_key: str = DEFAULT_API_KEY, api_secret: str = DEFAULT_API_SECRET,
            access_token: str = DEFAULT_ACCESS_TOKEN, user_id: str = DEFAULT_USER_ID,
            postback_url: str | None = None,
            issue_refresh_tokens: bool = True) -> Iterator[StubKite]:
    """A served StubKite for the duration of the block."""
    kite = StubKite(api_key=api_key, api_secret=api_secret, access_token=access_token,
                    user_id=user_id, postback_url=postback_url,
                    issue_refresh_tokens=issue_refresh_tokens)
    kite.server.start()
    try:
        yield kite
    finally:
        kite.server.stop()
