"""Money carries its currency: positions and account summaries per account, never summed.

A user holds a USD paper account and an INR Zerodha connection; each answers on its own.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession
from shared.db.repositories import accounts
from shared.settings import Settings
from tests.helpers import connect_broker, register_and_login, set_quote, user_id_of

pytestmark = pytest.mark.integration


async def _zerodha(engine: AsyncEngine, auth: dict[str, str]) -> uuid.UUID:
    session = BrokerSession(api_key="k", api_secret="s", access_token="t",
                            broker_user_id=f"ZX{uuid.uuid4().hex[:6]}")
    return await connect_broker(engine, auth, Broker.ZERODHA, session, Settings())


async def _paper_account(engine: AsyncEngine, auth: dict[str, str]) -> uuid.UUID:
    async with engine.connect() as conn:
        account_id: uuid.UUID = (await conn.execute(
            text("SELECT id FROM accounts WHERE user_id = :u AND broker = 'paper'"),
            {"u": user_id_of(auth)})).scalar_one()
    return account_id


async def _bought(engine: AsyncEngine, auth: dict[str, str], account_id: uuid.UUID,
                  symbol: str, quantity: str, price: str) -> None:
    """Book a filled BUY on an account with the fill path's own position and cash writes."""
    qty, px = Decimal(quantity), Decimal(price)
    async with engine.begin() as conn:
        await accounts.lock_positions(conn, [(account_id, user_id_of(auth), symbol)])
        await accounts.write_positions(conn, [(account_id, symbol, qty, px, Decimal(0),
                                               Decimal(0))])
        await accounts.move_cash(conn, [(account_id, -qty * px, Decimal(0))])


async def _get(client: httpx.AsyncClient, auth: dict[str, str], path: str,
               **params: str) -> Any:
    response = await client.get(path, headers=auth, params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def two_currencies(client: httpx.AsyncClient, engine: AsyncEngine,
                         auth: dict[str, str]) -> tuple[uuid.UUID, uuid.UUID]:
    """10 AAPL at 200 USD on paper, 5 INFY at 1800 INR at Zerodha; marks 210 and 1860."""
    await set_quote(engine, "AAPL", "209.99", "210.01")
    await set_quote(engine, "INFY", "1859.95", "1860.05")
    paper, zerodha = await _paper_account(engine, auth), await _zerodha(engine, auth)
    await _bought(engine, auth, paper, "AAPL", "10", "200")
    await _bought(engine, auth, zerodha, "INFY", "5", "1800")
    return paper, zerodha


async def test_positions_carry_their_account_broker_and_currency(
    client: httpx.AsyncClient, auth: dict[str, str],
    two_currencies: tuple[uuid.UUID, uuid.UUID],
) -> None:
    paper, zerodha = two_currencies
    rows = await _get(client, auth, "/api/v1/positions")
    assert [(r["symbol"], r["account_id"], r["broker"], r["currency"], r["market_value"])
            for r in rows] == [("AAPL", str(paper), "paper", "USD", "2100"),
                               ("INFY", str(zerodha), "zerodha", "INR", "9300")]


async def test_the_account_summary_defaults_to_paper_and_counts_only_its_own_currency(
    client: httpx.AsyncClient, auth: dict[str, str],
    two_currencies: tuple[uuid.UUID, uuid.UUID],
) -> None:
    paper, _ = two_currencies
    account = await _get(client, auth, "/api/v1/account")
    assert (account["account_id"], account["broker"], account["currency"]) == (
        str(paper), "paper", "USD")
    # 100000 − 2000 cash + 2100 of AAPL; the INFY holding (INR) is not in this sum.
    assert (account["cash"], account["equity"], account["unrealized_pnl"]) == (
        "98000", "100100", "100")
    assert await _get(client, auth, "/api/v1/account", account_id=str(paper)) == account


async def test_a_broker_account_answers_in_its_own_currency(
    client: httpx.AsyncClient, auth: dict[str, str],
    two_currencies: tuple[uuid.UUID, uuid.UUID],
) -> None:
    _, zerodha = two_currencies
    account = await _get(client, auth, "/api/v1/account", account_id=str(zerodha))
    assert (account["account_id"], account["broker"], account["currency"]) == (
        str(zerodha), "zerodha", "INR")
    assert (account["cash"], account["equity"], account["unrealized_pnl"]) == (
        "-9000", "300", "300")


async def test_an_account_that_is_not_yours_is_404_whether_absent_or_foreign(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
) -> None:
    other = await register_and_login(client)
    theirs = await _zerodha(engine, other)
    their_paper = await _paper_account(engine, other)
    for account_id in (theirs, their_paper, uuid.uuid4()):
        response = await client.get("/api/v1/account", headers=auth,
                                    params={"account_id": str(account_id)})
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
