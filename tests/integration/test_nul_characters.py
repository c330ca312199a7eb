"""A NUL character, which PostgreSQL text cannot hold, is refused before any SQL sees it:
in a query parameter or a JSON string a 422 naming the field, in the path a 404, and nothing
is stored (schemathesis found the 500 a search for one gave)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import user_id_of

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("url", "field"), [
    ("/api/v1/market/tickers?q=%21%00%C3%BE", "q"),
    ("/api/v1/market/search?q=AA%00", "q"),
    ("/api/v1/orders?symbol=%00", "symbol"),
    ("/api/v1/market/quotes?symbols=AAPL,%00", "symbols"),
])
async def test_a_nul_in_a_query_parameter_is_422_naming_it(
    client: httpx.AsyncClient, auth: dict[str, str], url: str, field: str,
) -> None:
    response = await client.get(url, headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field


async def test_a_nul_in_the_path_names_nothing(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    response = await client.get("/api/v1/market/quotes/AA%00PL", headers=auth)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"


async def test_a_nul_in_a_json_string_is_422_naming_the_field_and_nothing_is_stored(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
) -> None:
    response = await client.post("/api/v1/watchlists", json={"name": "tech\u0000"},
                                 headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == "name"
    nested = await client.post("/api/v1/orders/batch", headers=auth, json={"orders": [
        {"symbol": "AAPL", "side": "BUY", "order_type": "MARKET", "quantity": "1",
         "client_order_id": "a\u0000"}]})
    assert nested.status_code == 422, nested.text
    assert nested.json()["error"]["details"]["field"] == "orders.0.client_order_id"
    async with engine.connect() as conn:
        stored = (await conn.execute(
            text("SELECT (SELECT count(*) FROM watchlists WHERE user_id = :u)"
                 " + (SELECT count(*) FROM orders WHERE user_id = :u)"),
            {"u": user_id_of(auth)})).scalar_one()
    assert stored == 0
