"""GET /api/v1/market/news, `ordergate import-news` and POST /api/v1/admin/news: feeds
imported once, text only, newest first, by symbol; admins' posts audited."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.repositories import news
from tests.helpers import get_ok, new_instrument, user_id_of
from tests.integration.admins import new_admin
from tests.integration.cli import json_of, ordergate

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures" / "news"


def _feed(tmp_path: Path, tag: str, symbol: str, count: int) -> Path:
    """JSON lines of `count` articles about `symbol`, an hour apart, the newest last."""
    path = tmp_path / f"{tag}.jsonl"
    path.write_text("".join(json.dumps({
        "guid": f"{tag}-{n}", "title": f"Story {n}", "summary": f"<b>Body</b> {n}",
        "url": f"https://example.com/{tag}/{n}", "symbols": [symbol],
        "published_at": f"2026-11-20T{n:02d}:00:00Z"}) + "\n" for n in range(count)))
    return path


async def _pages(client: httpx.AsyncClient, auth: dict[str, str], query: str,
                 limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = await get_ok(client, auth, f"/api/v1/market/news?{query}&limit={limit}{cursor}")
        items += page["items"]
        if not page["next_cursor"]:
            return items
        cursor = f"&cursor={page['next_cursor']}"


async def test_an_imported_feed_is_listed_newest_first_by_symbol_and_a_reimport_adds_nothing(
    engine: AsyncEngine, client: httpx.AsyncClient, auth: dict[str, str], tmp_path: Path,
) -> None:
    symbol, tag = await new_instrument(engine), uuid.uuid4().hex[:8]
    path = _feed(tmp_path, tag, symbol, 5)

    first = json_of(ordergate("import-news", str(path), "--json"))
    again = ordergate("import-news", str(path))
    mine = await _pages(client, auth, f"symbol={symbol.lower()}", 2)

    assert first == {"added": 5, "already_imported": 0, "bad": []}
    assert again.stdout.strip() == "0 article(s) added, 5 already imported, 0 bad"
    assert [item["title"] for item in mine] == [f"Story {n}" for n in (4, 3, 2, 1, 0)]
    assert {k: mine[0][k] for k in ("summary", "url", "source", "published_at", "origin",
                                    "symbols")} == {
        "summary": "Body 4", "url": f"https://example.com/{tag}/4", "source": tag,
        "published_at": "2026-11-20T04:00:00+00:00", "origin": "feed", "symbols": [symbol]}
    everything = (await get_ok(client, auth, "/api/v1/market/news?limit=100"))["items"]
    stamps = [item["published_at"] for item in everything]
    assert len(stamps) >= 5
    assert stamps == sorted(stamps, reverse=True)


async def test_the_real_format_feeds_import_their_good_articles_and_name_the_bad(
    engine: AsyncEngine, client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    rss = json_of(ordergate("import-news", str(FIXTURES / "markets.rss"), "--json"))
    wire = ordergate("import-news", str(FIXTURES / "wire.jsonl"))

    assert rss["bad"] == [{"where": "item 3", "reason": "published_at is missing"}]
    assert rss["added"] + rss["already_imported"] == 2
    assert wire.returncode == 0, wire.stderr
    assert wire.stdout.splitlines()[-1].endswith("already imported, 5 bad")
    assert "wire.jsonl line 5: unknown symbol NOSUCHCO" in wire.stdout
    infy = (await get_ok(client, auth, "/api/v1/market/news?symbol=INFY&limit=500"))["items"]
    deal = next(item for item in infy if item["title"] == "Infosys wins a large banking deal")
    # Only the categories that are symbols of the master link the article.
    assert (deal["symbols"], deal["source"]) == (["INFY"], "Markets Desk")
    apple = (await get_ok(client, auth, "/api/v1/market/news?symbol=AAPL&limit=500"))["items"]
    assert {"Apple sets a date for its results", "Microsoft and Apple in a patent deal"} <= {
        item["title"] for item in apple}


async def test_an_admin_posts_news_audited_and_users_may_not(
    engine: AsyncEngine, client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    admin = await new_admin(client, engine)
    symbol = await new_instrument(engine)
    body = {"title": "Trading halts at 14:00 for maintenance", "summary": "Back by 14:30.",
            "symbols": [symbol.lower()], "published_at": "2026-11-21T08:00:00+00:00"}

    posted = await client.post("/api/v1/admin/news", json=body, headers=admin)
    refused = await client.post("/api/v1/admin/news", json=body, headers=auth)
    unknown = await client.post("/api/v1/admin/news", headers=admin,
                                json={**body, "symbols": ["NOSUCHSYM"]})
    linked = await client.post("/api/v1/admin/news", headers=admin,
                               json={**body, "url": "http://127.0.0.1:9/"})

    assert posted.status_code == 201, posted.text
    article = posted.json()
    assert {k: article[k] for k in ("title", "summary", "url", "source", "origin",
                                    "symbols")} == {
        "title": body["title"], "summary": "Back by 14:30.", "url": None,
        "source": "ordergate", "origin": "admin", "symbols": [symbol]}
    listed = (await get_ok(client, auth, f"/api/v1/market/news?symbol={symbol}"))["items"]
    assert [item["id"] for item in listed] == [article["id"]]
    assert refused.status_code == 403
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "unknown_symbol")
    assert unknown.json()["error"]["details"]["field"] == "symbols"
    assert linked.status_code == 422  # no link: the API takes no address
    entries = (await get_ok(client, admin, "/api/v1/admin/audit?action=admin.news_posted"
                                           f"&user_id={user_id_of(admin)}"))["items"]
    assert [(e["target_id"], e["details"]["symbols"]) for e in entries] == [
        (article["id"], [symbol])]
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM news_articles"
                                         " WHERE title = :t"), {"t": body["title"]})).scalar()
    assert count == 1



async def test_a_retried_news_post_with_its_idempotency_key_posts_one_article(
    engine: AsyncEngine, client: httpx.AsyncClient,
) -> None:
    admin = await new_admin(client, engine)
    symbol = await new_instrument(engine)
    key = {**admin, "Idempotency-Key": f"news-{uuid.uuid4()}"}
    body = {"title": f"Results on Friday {uuid.uuid4()}", "symbols": [symbol]}

    first = await client.post("/api/v1/admin/news", json=body, headers=key)
    again = await client.post("/api/v1/admin/news", json=body, headers=key)
    other = await client.post("/api/v1/admin/news", headers=key,
                              json={**body, "summary": "not the same post"})

    assert first.status_code == 201, first.text
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert (other.status_code, other.json()["error"]["code"]) == (422, "idempotency_key_reused")
    assert other.json()["error"]["details"]["field"] == "header.Idempotency-Key"
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM news_articles"
                                         " WHERE title = :t"), {"t": body["title"]})).scalar()
    assert count == 1
    entries = (await get_ok(client, admin, "/api/v1/admin/audit?action=admin.news_posted"
                                           f"&user_id={user_id_of(admin)}"))["items"]
    assert [e["target_id"] for e in entries] == [first.json()["id"]]

async def test_news_refuses_a_cursor_no_page_handed_out(client: httpx.AsyncClient,
                                                       auth: dict[str, str]) -> None:
    response = await client.get("/api/v1/market/news?cursor=bm9wZQ==", headers=auth)

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "cursor"


async def test_a_symbols_news_page_reads_its_index(engine: AsyncEngine) -> None:
    tag = uuid.uuid4().hex[:8]
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO news_articles (guid, title, summary, source, published_at, origin)"
            " SELECT :tag || g, 'Story ' || g, '', 'plan', timestamptz '2026-01-01T00:00:00Z'"
            " + g * interval '1 minute', 'feed' FROM generate_series(1, 20000) g"),
            {"tag": tag})
        await conn.execute(text(
            "INSERT INTO news_symbols (article_id, symbol, published_at)"
            " SELECT id, (ARRAY['AAPL', 'MSFT', 'INFY', 'TCS'])[1 + (extract(minute FROM"
            " published_at)::int % 4)], published_at FROM news_articles"
            " WHERE guid LIKE :tag || '%'"), {"tag": tag})
        await conn.execute(text("ANALYZE news_articles"))
        await conn.execute(text("ANALYZE news_symbols"))
        plan = (await conn.execute(text(f"EXPLAIN (FORMAT JSON) {news.page_query(True, True)}"),
                                   {"symbol": "AAPL", "limit": 50,
                                    "after_ts": datetime(2026, 1, 5, tzinfo=UTC),
                                    "after_id": uuid.uuid4()})).scalar_one()
        # Gone again: other modules digest every table's rows around each request.
        await conn.execute(text("DELETE FROM news_articles WHERE guid LIKE :tag || '%'"),
                           {"tag": tag})

    assert "ix_news_symbols_symbol_published" in json.dumps(plan)
    assert '"Seq Scan"' not in json.dumps(plan)
