"""One contract suite for every REST broker adapter, each against its local stub."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager
from typing import Protocol, cast

import pytest

from tests.contract.ibkr import Clock, make_adapter
from tests.stubs.harness import BrokerStub
from tests.stubs.ibkr.fake_ib import FakeIB
from worker.brokers.ibkr.adapter import IbAdapter

REST_BROKERS = ("zerodha", "upstox", "groww", "angelone")


class HarnessModule(Protocol):
    def running(self) -> AbstractContextManager[BrokerStub]: ...


@pytest.fixture(scope="module", params=REST_BROKERS)
def running_stub(request: pytest.FixtureRequest) -> Iterator[BrokerStub]:
    """A stub broker server (tests/stubs/<broker>/harness.py), one per module and broker."""
    module = cast(HarnessModule, importlib.import_module(f"tests.stubs.{request.param}.harness"))
    with module.running() as running:
        yield running


@pytest.fixture
def stub(running_stub: BrokerStub) -> BrokerStub:
    """The stub with its controls reset: each test starts from a healthy broker."""
    running_stub.reset()
    return running_stub


@pytest.fixture
def fake() -> FakeIB:
    """ib_async's IB over a simulated TWS (tests/stubs/ibkr)."""
    return FakeIB()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def adapter(fake: FakeIB, clock: Clock) -> AsyncIterator[IbAdapter]:
    """The IBKR adapter of the FakeIB's account, connected as client id 7."""
    made = make_adapter(fake, clock)
    yield made
    await made.aclose()
