"""GET /reports/pnl through the real API and PostgreSQL: realized P&L per symbol of fills and
journaled trades in a period, on the cost built before it, with charges, as JSON and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.helpers import register_and_login
from tests.integration.ending import (  # noqa: F401 - the fixtures
    api_fixture,
    get_ok,
    place,
    quotes_fixture,
    runtime_fixture,
)
from tests.integration.test_order_responses import OpenApi
from worker.handlers.submit import submit_orders
from worker.runtime import Runtime

pytestmark = pytest.mark.integration

REPORT = "/api/v1/reports/pnl"
NOV = {"from": "2026-11-05T00:00:00+00:00", "to": "2026-12-01T00:00:00+00:00"}


def _at(day: int) -> str:
    return datetime(2026, 11, day, 12, tzinfo=UTC).isoformat()


async def journal(client: httpx.AsyncClient, auth: dict[str, str], **fields: Any) -> None:
    response = await client.post("/api/v1/trades", json=fields, headers=auth)
    assert response.status_code == 201, response.text


@pytest.fixture
async def history(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await journal(client, auth, symbol="AAPL", side="BUY", quantity="10", price="100",
                  executed_at=_at(2), brokerage_charge="1")
    await journal(client, auth, symbol="AAPL", side="SELL", quantity="4", price="130",
                  executed_at=_at(10), brokerage_charge="2")
    await journal(client, auth, symbol="MSFT", side="BUY", quantity="5", price="50",
                  executed_at=_at(3))
    await journal(client, auth, symbol="MSFT", side="SELL", quantity="5", price="40",
                  executed_at=_at(20), mtf_charge="1")


async def report(client: httpx.AsyncClient, auth: dict[str, str], **params: str) -> Any:
    response = await client.get(REPORT, params=params, headers=auth)
    assert response.status_code == 200, response.text
    return response


@pytest.mark.usefixtures("history")
async def test_a_period_realizes_on_the_cost_built_before_it_with_its_charges(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi,
) -> None:
    body = api.check(await report(client, auth, **NOV))

    rows = {row["symbol"]: (row["currency"], row["trades"], row["realized_pnl"],
                            row["charges"], row["net_pnl"]) for row in body["items"]}
    assert rows == {"AAPL": ("USD", 1, "120", "2", "118"), "MSFT": ("USD", 1, "-50", "1", "-51")}
    assert body["totals"] == [{"currency": "USD", "realized_pnl": "70", "charges": "3",
                               "net_pnl": "67"}]
    assert (await get_ok(client, await register_and_login(client), REPORT))["items"] == []


@pytest.mark.usefixtures("history")
async def test_fills_of_orders_count_with_their_commission(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime,
) -> None:
    order_id = await place(client, auth, symbol="AAPL", side="SELL", order_type="MARKET",
                           quantity="6")
    await submit_orders(runtime, [order_id])
    [fill] = (await get_ok(client, auth, f"/api/v1/orders/{order_id}/fills"))["items"]

    [aapl] = [row for row in (await report(client, auth)).json()["items"]
              if row["symbol"] == "AAPL"]

    price = Decimal(fill["price"])
    assert aapl["trades"] == 3
    assert Decimal(aapl["realized_pnl"]) == 120 + (price - 100) * 6
    assert Decimal(aapl["charges"]) == 3 + Decimal(fill["commission"])


@pytest.mark.usefixtures("history")
async def test_the_csv_holds_the_same_rows(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    as_json = (await report(client, auth, **NOV)).json()["items"]

    response = await report(client, auth, **NOV, format="csv")

    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows == [{k: str(v) for k, v in row.items()} for row in as_json]


@pytest.mark.parametrize("params", [
    {"from": "2026-12-01T00:00:00+00:00", "to": "2026-11-01T00:00:00+00:00"},
    {"from": "2026-11-01T00:00:00"},
    {"format": "xml"},
])
async def test_a_period_or_format_that_makes_no_sense_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str], params: dict[str, str],
) -> None:
    response = await client.get(REPORT, params=params, headers=auth)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] in {"from", "to", "format"}
