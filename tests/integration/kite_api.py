"""Fixtures of the tests that link Zerodha logins: the local Kite stub, and an API app pointed
at it. A module imports the `*_fixture` functions; tests ask for `kite`, `kite_app` and `api`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from api.main import create_app
from shared.settings import Settings
from tests.stubs.zerodha.harness import StubKite, running

ZERODHA = "/api/v1/brokers/zerodha/connections"


@pytest.fixture(name="kite", scope="module")
def kite_fixture() -> Iterator[StubKite]:
    with running() as stub:
        yield stub


@pytest.fixture(name="kite_app", scope="module")
async def kite_app_fixture(kite: StubKite) -> AsyncIterator[FastAPI]:
    application = create_app(Settings(zerodha_root_url=kite.url))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(name="api")
async def api_fixture(kite_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=kite_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
