"""OWASP API10:2023 Unsafe Consumption of APIs: a broker's answer is untrusted input. Every
REST adapter, told garbage, the wrong shapes, hostile values, endless nesting or an answer
far larger than any real one, raises its broker error (the order is then rejected, retried
or looked up: never a crash of the worker) and reads at most MAX_RESPONSE_BYTES of it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from shared.brokers.types import BrokerError, BrokerSession, Instrument, PlaceRequest
from shared.domain.enums import OrderType, Side, TimeInForce
from shared.settings import Settings
from tests.stubs.server import StubServer
from worker.brokers.angelone.adapter import AngelOneAdapter
from worker.brokers.groww.adapter import GrowwAdapter
from worker.brokers.transport import MAX_RESPONSE_BYTES
from worker.brokers.upstox.adapter import UpstoxAdapter
from worker.brokers.zerodha.adapter import ZerodhaAdapter

pytestmark = pytest.mark.integration

HOSTILE: dict[str, bytes] = {
    "not JSON": b"<html>502 Bad Gateway</html>",
    "a JSON array": b"[1, 2, 3]",
    "a bare string": b'"SUCCESS"',
    "wrong shapes": b'{"status": "SUCCESS", "data": [], "payload": "x"}',
    "hostile values": (b'{"status": "success", "data": {"order_id": {"$ne": null}, '
                       b'"status": 7, "quantity": "NaN", "price": 1e400, "filled_quantity":'
                       b' -1e308}, "payload": {"groww_order_id": [], "order_status": null}}'),
    "endless nesting": b'{"data": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
    "too large": b'{"status": "success", "data": "' + b"x" * (MAX_RESPONSE_BYTES + 1) + b'"}',
}


class Hostile:
    """A broker that answers every request with the body in `body`, HTTP 200."""

    def __init__(self) -> None:
        self.body = b"{}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": self.body})


@pytest.fixture(scope="module")
def hostile() -> Iterator[tuple[Hostile, str]]:
    app = Hostile()
    server = StubServer(app)
    server.start()
    try:
        yield app, server.url
    finally:
        server.stop()


def _adapters(url: str) -> list[Any]:
    session = BrokerSession(api_key="k", api_secret="s", access_token="t",
                            broker_user_id="U1", extra={"feed_token": "f"})
    settings = Settings(zerodha_root_url=url, upstox_base_url=url, upstox_order_url=url,
                        groww_base_url=url)
    return [ZerodhaAdapter(session, settings, timeout=5),
            UpstoxAdapter(session, settings, timeout=5),
            GrowwAdapter(session, settings, timeout=5),
            AngelOneAdapter(session, base_url=url, timeout=5)]


def _calls(adapter: Any) -> dict[str, Callable[[], Awaitable[Any]]]:
    request = PlaceRequest(
        order_id=str(uuid.uuid4()), tag=uuid.uuid4().hex[:16],
        instrument=Instrument("INFY", "NSE", "INR", "INE009A01021",
                              {"angelone": {"symboltoken": "1594", "tradingsymbol": "INFY-EQ"},
                               "upstox": {"instrument_key": "NSE_EQ|INE009A01021"},
                               "zerodha": {"tradingsymbol": "INFY"}}),
        side=Side.BUY, order_type=OrderType.LIMIT, quantity=Decimal(1),
        time_in_force=TimeInForce.DAY, price=Decimal("1500"))
    return {"place": lambda: adapter.place(request), "order": lambda: adapter.order("B1"),
            "fills": lambda: adapter.fills("B1"), "positions": adapter.positions,
            "funds": adapter.funds, "cancel": lambda: adapter.cancel("B1")}


@pytest.fixture
async def adapters(hostile: tuple[Hostile, str]) -> AsyncIterator[list[Any]]:
    made = _adapters(hostile[1])
    yield made
    for adapter in made:
        await adapter.aclose()


@pytest.mark.parametrize("answer", HOSTILE)
async def test_api10_a_hostile_broker_answer_is_a_broker_error_never_a_crash(
    hostile: tuple[Hostile, str], adapters: list[Any], answer: str,
) -> None:
    hostile[0].body = HOSTILE[answer]
    outcomes = {}
    for adapter in adapters:
        for name, call in _calls(adapter).items():
            try:
                await call()
                outcomes[(adapter.broker.value, name)] = "taken"
            except BrokerError as error:
                outcomes[(adapter.broker.value, name)] = type(error).__name__
    # No other exception escaped. A place answered with nonsense may or may not have landed:
    # Unknown (looked up by its tag before anything else), never taken or called refused.
    placed = {broker: kind for (broker, call), kind in outcomes.items() if call == "place"}
    assert set(placed.values()) == {"Unknown"}, placed
    if answer == "too large":
        assert set(outcomes.values()) <= {"Unknown", "NotSent"}, sorted(outcomes.items())
