"""GET /api/v1/market/search and GET /api/v1/market/quotes."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from scripts.import_instruments import import_file
from tests.helpers import get_ok, new_instrument


async def test_search_ranks_the_exact_symbol_then_prefixes_then_names(
    engine: AsyncEngine, client: httpx.AsyncClient, auth: dict[str, str], tmp_path: Path,
) -> None:
    tag = f"Q{uuid.uuid4().hex[:5].upper()}"
    path = tmp_path / "names.csv"
    path.write_text("symbol,name,exchange,currency,tick_size,lot_size\n"
                    f"Z{tag},Holding {tag.lower()} Group,NYSE,USD,0.01,1\n"
                    f"{tag}LONGER,Other Inc,NYSE,USD,0.01,1\n"
                    f"{tag}B,Bee Inc,NYSE,USD,0.01,1\n"
                    f"{tag},Exact Inc,NYSE,USD,0.01,1\n"
                    f"Y{tag},{tag.lower()} Named First,NYSE,USD,0.01,1\n", encoding="utf-8")
    await import_file(engine, path)

    found = await get_ok(client, auth, f"/api/v1/market/search?q={tag.lower()}")

    assert [row["symbol"] for row in found] == [tag, f"{tag}B", f"{tag}LONGER", f"Y{tag}",
                                                f"Z{tag}"]
    assert found[0]["name"] == "Exact Inc"
    assert found[0]["tick_size"] == "0.01"


async def test_search_finds_a_kite_future_by_the_start_of_its_symbol(
    engine: AsyncEngine, client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    await import_file(engine, Path(__file__).parents[1] / "fixtures"
                      / "kite_instruments_slice.csv")

    found = await get_ok(client, auth, "/api/v1/market/search?q=NFO:NIFTY24&limit=5")

    assert [row["symbol"] for row in found] == ["NFO:NIFTY24DECFUT", "NFO:NIFTY24DEC24000CE"]
    assert found[0]["segment"] == "NFO-FUT"


async def test_search_refuses_an_empty_query(client: httpx.AsyncClient,
                                             auth: dict[str, str]) -> None:
    response = await client.get("/api/v1/market/search?q=", headers=auth)

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "q"


async def test_quotes_of_many_symbols_come_in_one_call_in_the_order_asked(
    engine: AsyncEngine, client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    first, second = await new_instrument(engine, "100.00"), await new_instrument(engine, "50.00")

    body = await get_ok(client, auth,
                        f"/api/v1/market/quotes?symbols={second},nosuch,{first.lower()},{second}")

    assert [(q["symbol"], q["last"]) for q in body["quotes"]] == [
        (second, "50"), (first, "100")]
    assert body["missing"] == ["NOSUCH"]


async def test_quotes_refuse_more_than_the_cap(client: httpx.AsyncClient,
                                               auth: dict[str, str]) -> None:
    symbols = ",".join(f"S{n}" for n in range(101))

    response = await client.get(f"/api/v1/market/quotes?symbols={symbols}", headers=auth)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "too_many_symbols"
    assert response.json()["error"]["details"]["field"] == "symbols"


async def test_symbols_come_a_page_at_a_time_by_symbol_and_the_pages_cover_the_universe(
    engine: AsyncEngine, client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    mine = {await new_instrument(engine) for _ in range(3)}

    first = await get_ok(client, auth, "/api/v1/market/symbols?limit=2")
    rows, cursor = list(first["items"]), first["next_cursor"]
    while cursor is not None:
        page = await get_ok(client, auth, f"/api/v1/market/symbols?limit=500&cursor={cursor}")
        rows += page["items"]
        cursor = page["next_cursor"]
    seen = [row["symbol"] for row in rows]

    assert len(first["items"]) == 2
    assert seen == sorted(set(seen))
    assert mine <= set(seen)
    assert {"AAPL", "RELIANCE"} <= set(seen)
    aapl = next(row for row in rows if row["symbol"] == "AAPL")
    assert aapl["currency"] == "USD"
    assert aapl["tick_size"] == "0.01"


async def test_symbols_refuse_a_cursor_no_page_handed_out(client: httpx.AsyncClient,
                                                          auth: dict[str, str]) -> None:
    response = await client.get("/api/v1/market/symbols?cursor=bm90IGEgY3Vyc29y",
                                headers=auth)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_cursor"
    assert response.json()["error"]["details"]["field"] == "cursor"
