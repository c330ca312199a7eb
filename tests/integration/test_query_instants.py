"""A day or an instant in a query is ISO 8601 text, as the schema says: a number, which
pydantic would read as a Unix time, is a 422 naming the parameter (schemathesis found these)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration

OHLC = "/api/v1/market/ohlc?symbol=AAPL&interval=1m&start=2026-01-01T00:00:00Z"


@pytest.mark.parametrize(("url", "field"), [
    ("/api/v1/market/tickers?start_date={}", "start_date"),
    ("/api/v1/market/tickers?end_date={}", "end_date"),
    ("/api/v1/market/tickers/AAPL/ticks?start={}", "start"),
    (OHLC + "&end={}", "end"),
    ("/api/v1/me/audit?until={}", "until"),
    ("/api/v1/me/audit?since={}", "since"),
    ("/api/v1/trades?to={}", "to"),
    ("/api/v1/trades?from={}", "from"),
    ("/api/v1/reports/pnl?to={}", "to"),
])
@pytest.mark.parametrize("number", ["0", "0.5", "1767225600", "-1"])
async def test_a_number_for_a_day_or_an_instant_is_422_naming_the_parameter(
    client: httpx.AsyncClient, auth: dict[str, str], url: str, field: str, number: str,
) -> None:
    response = await client.get(url.format(number), headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field


@pytest.mark.parametrize("url", [
    "/api/v1/market/tickers?start_date=2026-01-01",
    "/api/v1/market/tickers/AAPL/ticks?start=2026-01-01T00:00:00%2B05:30",
    "/api/v1/me/audit?until=2026-01-01T00:00:00Z",
    "/api/v1/trades?to=2026-01-01T00:00:00Z",
])
async def test_an_iso_day_or_instant_is_taken(
    client: httpx.AsyncClient, auth: dict[str, str], url: str,
) -> None:
    assert (await client.get(url, headers=auth)).status_code == 200
