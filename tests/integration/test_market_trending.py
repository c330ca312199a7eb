"""GET /api/v1/market/trending: gainers, losers and the most traded on each symbol's latest
day of recorded ticks, computed in SQL over the 1-minute bars' key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scripts.import_ticks import import_file
from shared.db.repositories import trending
from shared.domain.sessions import DEFAULT_HOURS, Calendar
from tests.helpers import get_ok, new_instrument

pytestmark = pytest.mark.integration

HEADER = "symbol,ltp,ltq,buyprice,buyqty,sellprice,sellqty,openinterest,timestamp\n"


def _tick(symbol: str, ltp: str, ltq: int, at: str) -> str:
    return f"{symbol},{ltp},{ltq},{ltp},1,{ltp},1,0,{at}\n"


@pytest.fixture
async def day(engine: AsyncEngine, tmp_path: Path) -> dict[str, str]:
    """Three symbols' ticks: one up tenfold on its previous close, one down 90%, and one with
    no earlier day, up 5% on its open and traded a billion shares."""
    up, down, busy = [await new_instrument(engine) for _ in range(3)]
    path = tmp_path / "day.csv"
    # 2026-06-01 and 06-02 at NASDAQ (New York); 03:00Z on the 2nd is still the 1st there.
    path.write_text(HEADER + _tick(up, "90", 5, "2026-06-01T15:00:00Z")
                    + _tick(up, "10", 5, "2026-06-02T03:00:00Z")
                    + _tick(up, "11", 7, "2026-06-02T14:00:00Z")
                    + _tick(up, "100", 3, "2026-06-02T19:59:00Z")
                    + _tick(down, "500", 1, "2026-06-01T19:00:00Z")
                    + _tick(down, "50", 2, "2026-06-02T19:00:00Z")
                    + _tick(busy, "20", 400_000_000, "2026-06-02T14:00:00Z")
                    + _tick(busy, "21", 600_000_000, "2026-06-02T15:00:00Z"), encoding="utf-8")
    outcome = await import_file(engine, path, Calendar())
    assert (outcome.inserted, outcome.bad) == (8, [])
    return {"up": up, "down": down, "busy": busy}


async def _top(client: httpx.AsyncClient, auth: dict[str, str], kind: str) -> dict[str, Any]:
    body: dict[str, Any] = await get_ok(client, auth,
                                        f"/api/v1/market/trending?kind={kind}&limit=50")
    return body


async def test_gainers_rank_by_the_change_from_the_previous_close(
    client: httpx.AsyncClient, auth: dict[str, str], day: dict[str, str],
) -> None:
    gainers = await _top(client, auth, "gainers")

    assert gainers["kind"] == "gainers"
    found = {item["symbol"]: item for item in gainers["items"]}
    assert {k: found[day["up"]][k] for k in (
        "day", "last", "open", "previous_close", "change", "change_pct", "volume", "ticks",
        "last_tick_at")} == {
        "day": "2026-06-02", "last": "100", "open": "11", "previous_close": "10",
        "change": "90", "change_pct": "900", "volume": "10", "ticks": 2,
        "last_tick_at": "2026-06-02T19:59:00+00:00"}
    # Without an earlier day the change is from the open: up 5%.
    assert (found[day["busy"]]["previous_close"], found[day["busy"]]["change_pct"]) == (None,
                                                                                     "5")
    assert day["down"] not in found
    changes = [Decimal(item["change_pct"]) for item in gainers["items"]]
    assert changes == sorted(changes, reverse=True)
    assert all(change > 0 for change in changes)


async def test_losers_and_the_most_traded_rank_in_theirs(
    client: httpx.AsyncClient, auth: dict[str, str], day: dict[str, str],
) -> None:
    losers = await _top(client, auth, "losers")
    active = await _top(client, auth, "active")

    fallen = {item["symbol"]: item["change_pct"] for item in losers["items"]}
    assert fallen[day["down"]] == "-90"
    assert day["up"] not in fallen
    changes = [Decimal(item["change_pct"]) for item in losers["items"]]
    assert changes == sorted(changes)
    traded = {item["symbol"]: item["volume"] for item in active["items"]}
    assert traded[day["busy"]] == "1000000000"
    volumes = [Decimal(item["volume"]) for item in active["items"]]
    assert volumes == sorted(volumes, reverse=True)
    assert volumes[0] >= 1_000_000_000


async def test_ticks_imported_after_a_list_was_answered_show_in_the_next_one(
    client: httpx.AsyncClient, auth: dict[str, str], engine: AsyncEngine,
    day: dict[str, str], tmp_path: Path,
) -> None:
    # The process keeps the lists it answered: an import must end that at once.
    first = await _top(client, auth, "active")
    assert {item["symbol"]: item["volume"] for item in first["items"]}[day["busy"]] == (
        "1000000000")
    path = tmp_path / "later.csv"
    path.write_text(HEADER + _tick(day["busy"], "22", 2_000_000_000, "2026-06-02T16:00:00Z"),
                    encoding="utf-8")
    assert (await import_file(engine, path, Calendar())).inserted == 1

    later = await _top(client, auth, "active")

    busy = next(item for item in later["items"] if item["symbol"] == day["busy"])
    assert (busy["volume"], busy["ticks"], busy["last"]) == ("3000000000", 3, "22")


async def test_trending_refuses_an_unknown_kind_or_a_limit_past_the_cap(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    unknown = await client.get("/api/v1/market/trending?kind=hot", headers=auth)
    many = await client.get("/api/v1/market/trending?kind=active&limit=51", headers=auth)

    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"]["field"] == "kind"
    assert many.status_code == 422
    assert many.json()["error"]["details"]["field"] == "limit"


def _scans(plan: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    reads = "Relation Name" in plan or "Index Name" in plan
    found = [(plan["Node Type"], plan.get("Relation Name"), plan.get("Index Name"))] \
        if reads else []
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


async def test_the_trending_query_reads_the_minute_bars_by_their_key_not_the_ticks(
    engine: AsyncEngine, day: dict[str, str],
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO ticks SELECT :symbol, timestamptz '2026-05-01T13:30:00Z'"
            " + g * interval '1 second', 10 + g % 7, 1, 9, 1, 11, 1, 0"
            " FROM generate_series(0, 49999) g"), {"symbol": day["busy"]})
        await conn.execute(text("ANALYZE ticks"))
        await conn.execute(text("ANALYZE tick_bars_1m"))
        zones = {name: hours.zone for name, hours in DEFAULT_HOURS.items()}
        plan = (await conn.execute(text(f"EXPLAIN (FORMAT JSON) {trending.trending_query()}"),
                                   trending.trending_params(zones, 10))).scalar_one()

    scans = _scans(plan[0]["Plan"])
    bars = [scan for scan in scans if scan[1] == "tick_bars_1m"]
    assert bars, plan
    assert all(node != "Seq Scan" and index == "pk_tick_bars_1m"
               for node, _, index in bars), bars
    assert not [scan for scan in scans if scan[1] == "ticks"], scans
    # The three lists share one computation of the figures (a CTE read three times).
    assert len(bars) == 4, bars  # latest close, day's open, previous close, day's volume
