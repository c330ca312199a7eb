"""POST /trades/import with Zerodha tradebooks in Console's own format (CRLF, a trade without
its execution time): all trades or none, bad rows named by line, a second import a no-op."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession
from shared.settings import Settings
from tests.helpers import connect_broker, get_ok, register_and_login
from tests.integration.cli import json_of, one_line_failure, ordergate
from tests.integration.ending import api_fixture  # noqa: F401 - the fixture
from tests.integration.test_order_responses import OpenApi

pytestmark = pytest.mark.integration

IMPORT = "/api/v1/trades/import"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "tradebook"
CSV = {"Content-Type": "text/csv"}


@pytest.fixture
async def zerodha(engine: AsyncEngine, auth: dict[str, str]) -> uuid.UUID:
    session = BrokerSession(api_key="k", api_secret="s", access_token="t",
                            broker_user_id=f"ZX{uuid.uuid4().hex[:6]}")
    return await connect_broker(engine, auth, Broker.ZERODHA, session, Settings())


async def send(client: httpx.AsyncClient, auth: dict[str, str], name: str,
               account_id: uuid.UUID) -> httpx.Response:
    return await client.post(IMPORT, params={"account_id": str(account_id)},
                             content=(FIXTURES / name).read_bytes(), headers={**auth, **CSV})


async def book(client: httpx.AsyncClient, auth: dict[str, str],
               account_id: uuid.UUID) -> tuple[Decimal, dict[str, tuple[str, str, str]]]:
    account = await get_ok(client, auth, f"/api/v1/account?account_id={account_id}")
    held = {row["symbol"]: (row["quantity"], row["avg_price"], row["realized_pnl"])
            for row in await get_ok(client, auth, "/api/v1/positions")
            if row["account_id"] == str(account_id)}
    return Decimal(account["cash"]), held


async def test_a_tradebook_is_journaled_once_and_books_its_positions(
    client: httpx.AsyncClient, auth: dict[str, str], zerodha: uuid.UUID, api: OpenApi,
) -> None:
    cash_before, _ = await book(client, auth, zerodha)

    response = await send(client, auth, "tradebook.csv", zerodha)

    assert response.status_code == 200, response.text
    assert api.check(response) == {"account_id": str(zerodha), "trades": 5, "imported": 5,
                                   "already_journaled": 0}
    cash, held = await book(client, auth, zerodha)
    # INFY: 10 at 1500 and 5 at 1530 average 1510; 6 sold at 1560 realize 300.
    assert held == {"INFY": ("9", "1510", "300"), "TCS": ("2", "4100.5", "0"),
                    "RELIANCE": ("1", "2900", "0")}
    assert cash == cash_before - 15000 - 7650 - Decimal("8201") - 2900 + 9360
    journaled = (await get_ok(client, auth, "/api/v1/trades?symbol=RELIANCE"))["items"]
    assert [(t["source"], t["external_id"], t["executed_at"]) for t in journaled] == [
        ("tradebook", "50123405", "2026-11-05T18:30:00+00:00")]  # midnight in India

    again = await send(client, auth, "tradebook.csv", zerodha)

    assert again.status_code == 200, again.text
    assert again.json() == {"account_id": str(zerodha), "trades": 5, "imported": 0,
                            "already_journaled": 5}
    assert await book(client, auth, zerodha) == (cash, held)
    assert len((await get_ok(client, auth, "/api/v1/trades"))["items"]) == 5


async def test_bad_rows_are_named_by_line_and_nothing_is_imported(
    client: httpx.AsyncClient, auth: dict[str, str], zerodha: uuid.UUID, api: OpenApi,
) -> None:
    before = await book(client, auth, zerodha)

    response = await send(client, auth, "tradebook_bad_rows.csv", zerodha)

    assert response.status_code == 422, response.text
    api.check(response)
    error = response.json()["error"]
    assert error["code"] == "invalid_tradebook"
    reasons: dict[int, str] = {row["line"]: row["reason"] for row in error["details"]["bad_rows"]}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8]
    for line, named in ((3, "trade_type"), (4, "quantity"), (5, "duplicate of line 2"),
                        (6, "NOSUCHCO"), (7, "fields"), (8, "NFO:NIFTY26NOVFUT")):
        assert named in reasons[line], (line, reasons[line])
    assert await book(client, auth, zerodha) == before
    assert (await get_ok(client, auth, "/api/v1/trades"))["items"] == []


@pytest.mark.parametrize(("body", "headers", "status", "code"), [
    (b"symbol,price\r\nINFY,1\r\n", CSV, 422, "invalid_tradebook"),
    (b"\xff\xfe", CSV, 422, "invalid_tradebook"),
    (b"symbol\n", {"Content-Type": "application/json"}, 415, "unsupported_media_type"),
])
async def test_what_is_not_a_tradebook_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str], zerodha: uuid.UUID, body: bytes,
    headers: dict[str, str], status: int, code: str,
) -> None:
    response = await client.post(IMPORT, params={"account_id": str(zerodha)}, content=body,
                                 headers={**auth, **headers})

    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


@pytest.mark.parametrize(("quantity", "price"), [
    ("999999999999", "999999999999"),  # each within the format, together past any cash column
    ("1000000000.5", "1"),  # more shares than one order may hold
])
async def test_a_row_worth_more_than_an_order_may_be_is_a_bad_row(
    client: httpx.AsyncClient, auth: dict[str, str], zerodha: uuid.UUID, quantity: str,
    price: str,
) -> None:
    before = await book(client, auth, zerodha)
    header, first = (FIXTURES / "tradebook.csv").read_text().splitlines()[:2]
    fields = first.split(",")
    fields[8:11] = [quantity, price, "50999999"]  # its own trade id: not a duplicate
    tradebook = "\n".join([header, first, ",".join(fields)]) + "\n"

    response = await client.post(IMPORT, params={"account_id": str(zerodha)},
                                 content=tradebook.encode(), headers={**auth, **CSV})

    assert response.status_code == 422, response.text
    rows = response.json()["error"]["details"]["bad_rows"]
    assert [row["line"] for row in rows] == [3]
    assert "quantity" in rows[0]["reason"]
    assert await book(client, auth, zerodha) == before


async def test_another_users_account_is_not_found_and_inr_trades_do_not_book_in_usd(
    client: httpx.AsyncClient, auth: dict[str, str], zerodha: uuid.UUID,
) -> None:
    other = await register_and_login(client)

    foreign = await send(client, other, "tradebook.csv", zerodha)
    paper = await client.post(IMPORT, content=(FIXTURES / "tradebook.csv").read_bytes(),
                              headers={**auth, **CSV})

    assert foreign.status_code == 404
    assert paper.status_code == 422
    rows: list[dict[str, Any]] = paper.json()["error"]["details"]["bad_rows"]
    assert [row["line"] for row in rows] == [2, 3, 4, 5, 6]
    assert all("INR" in row["reason"] for row in rows)


async def test_ordergate_import_tradebook_journals_a_file_once_for_the_named_user(
    client: httpx.AsyncClient, auth: dict[str, str], zerodha: uuid.UUID,
) -> None:
    email = (await get_ok(client, auth, "/api/v1/me"))["email"]
    path = str(FIXTURES / "tradebook.csv")

    first = ordergate("import-tradebook", path, "--user", email.upper(), "--account",
                      str(zerodha), "--json")
    booked = await book(client, auth, zerodha)
    again = ordergate("import-tradebook", path, "--user", email, "--account", str(zerodha))

    assert json_of(first) == {"account_id": str(zerodha), "trades": 5, "imported": 5,
                              "already_journaled": 0}
    assert booked[1] == {"INFY": ("9", "1510", "300"), "TCS": ("2", "4100.5", "0"),
                         "RELIANCE": ("1", "2900", "0")}
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == ("0 trade(s) journaled, 5 already in the journal,"
                                    " of 5 in tradebook.csv")
    assert await book(client, auth, zerodha) == booked
    assert len((await get_ok(client, auth, "/api/v1/trades"))["items"]) == 5


async def test_ordergate_import_tradebook_names_every_bad_line_and_imports_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], zerodha: uuid.UUID,
) -> None:
    email = (await get_ok(client, auth, "/api/v1/me"))["email"]
    before = await book(client, auth, zerodha)

    result = ordergate("import-tradebook", str(FIXTURES / "tradebook_bad_rows.csv"), "--user",
                       email, "--account", str(zerodha))

    assert one_line_failure(result, 1) == (
        "ordergate: 6 bad row(s) in tradebook_bad_rows.csv: nothing was imported")
    named = [line.split(":")[0] for line in result.stdout.strip().splitlines()]
    assert named == [f"tradebook_bad_rows.csv line {n}" for n in range(3, 9)]
    assert "duplicate of line 2" in result.stdout
    assert await book(client, auth, zerodha) == before
    assert (await get_ok(client, auth, "/api/v1/trades"))["items"] == []


async def test_ordergate_import_tradebook_refuses_an_unknown_user_or_anothers_account(
    client: httpx.AsyncClient, zerodha: uuid.UUID,
) -> None:
    other = await register_and_login(client)
    email = (await get_ok(client, other, "/api/v1/me"))["email"]
    path = str(FIXTURES / "tradebook.csv")

    unknown = ordergate("import-tradebook", path, "--user", "nobody@example.com")
    foreign = ordergate("import-tradebook", path, "--user", email, "--account", str(zerodha))

    assert one_line_failure(unknown, 1) == (
        "ordergate: no user has the e-mail address nobody@example.com")
    assert one_line_failure(foreign, 1) == (
        f"ordergate: account {zerodha} not found for {email}")
    assert (await get_ok(client, other, "/api/v1/trades"))["items"] == []


async def test_an_import_may_name_one_of_your_portfolios(
    client: httpx.AsyncClient, auth: dict[str, str], zerodha: uuid.UUID,
) -> None:
    portfolio = (await client.post("/api/v1/portfolios", json={"name": "Kite"},
                                   headers=auth)).json()
    theirs = (await client.post("/api/v1/portfolios", json={"name": "Theirs"},
                                headers=await register_and_login(client))).json()
    body = (FIXTURES / "tradebook.csv").read_bytes()

    foreign = await client.post(IMPORT, content=body, headers={**auth, **CSV}, params={
        "account_id": str(zerodha), "portfolio_id": theirs["id"]})
    imported = await client.post(IMPORT, content=body, headers={**auth, **CSV}, params={
        "account_id": str(zerodha), "portfolio_id": portfolio["id"]})

    assert foreign.status_code == 404, foreign.text
    assert foreign.json()["error"]["details"]["field"] == "portfolio_id"
    assert imported.json()["imported"] == 5, imported.text
    held = (await get_ok(client, auth, f"/api/v1/portfolios/{portfolio['id']}"))["positions"]
    assert {p["symbol"]: p["quantity"] for p in held} == {"INFY": "9", "TCS": "2",
                                                          "RELIANCE": "1"}
