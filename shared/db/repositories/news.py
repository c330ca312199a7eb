"""SQL for market news: the import's insert, an admin's post, and pages newest first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories.pages import Cursor
from shared.market.news_files import NewsRow

_COLUMNS = ("a.id, a.title, a.summary, a.url, a.source, a.published_at, a.origin,"
            " ARRAY(SELECT s.symbol FROM news_symbols s WHERE s.article_id = a.id"
            " ORDER BY s.symbol) AS symbols")


async def insert(conn: AsyncConnection, rows: Sequence[NewsRow], origin: str,
                 posted_by: uuid.UUID | None = None,
                 request_hash: str | None = None) -> list[uuid.UUID]:
    """Store the articles whose guid is new, with their symbols; return their ids, in the
    order of `rows` (an article already stored is left as it is). `request_hash` is an
    admin post's body fingerprint (its Idempotency-Key is in the guid)."""
    added: list[uuid.UUID] = []
    for row in rows:
        new_id = (await conn.execute(text(
            "INSERT INTO news_articles (guid, title, summary, url, source, published_at,"
            " origin, posted_by, request_hash) VALUES (:guid, :title, :summary, :url, :source,"
            " :published_at, :origin, :posted_by, :request_hash)"
            " ON CONFLICT (guid) DO NOTHING RETURNING id"),
            {"guid": row.guid, "title": row.title, "summary": row.summary, "url": row.url,
             "source": row.source, "published_at": row.published_at, "origin": origin,
             "posted_by": posted_by, "request_hash": request_hash})).scalar()
        if new_id is None:
            continue
        added.append(new_id)
        if row.symbols:
            await conn.execute(text(
                "INSERT INTO news_symbols (article_id, symbol, published_at)"
                " SELECT :id, symbol, :published_at FROM unnest(CAST(:symbols AS text[]))"
                " AS u(symbol)"),
                {"id": new_id, "published_at": row.published_at,
                 "symbols": list(row.symbols)})
    return added


async def known_symbols(conn: AsyncConnection, symbols: Sequence[str]) -> set[str]:
    """Those of `symbols` in the instrument master."""
    result = await conn.execute(text("SELECT symbol FROM instruments WHERE symbol = ANY(:s)"),
                                {"s": list(symbols)})
    return set(result.scalars())


async def by_guid(conn: AsyncConnection, guid: str) -> RowMapping | None:
    """The article stored under `guid` with its symbols and `request_hash`, or None."""
    result = await conn.execute(text(f"SELECT {_COLUMNS}, a.request_hash FROM news_articles a"
                                     " WHERE a.guid = :guid"), {"guid": guid})
    return result.mappings().first()


async def get(conn: AsyncConnection, article_id: uuid.UUID) -> RowMapping | None:
    """One article with its symbols, or None."""
    result = await conn.execute(text(f"SELECT {_COLUMNS} FROM news_articles a"
                                     " WHERE a.id = :id"), {"id": article_id})
    return result.mappings().first()


def page_query(symbol: bool, after: bool) -> str:
    """The SQL of a page of news, newest first, of one symbol or all (EXPLAIN in tests)."""
    if symbol:
        keyset = " AND (s.published_at, s.article_id) < (:after_ts, :after_id)" if after else ""
        return (f"SELECT {_COLUMNS} FROM news_symbols s0 JOIN news_articles a"
                f" ON a.id = s0.article_id WHERE s0.symbol = :symbol"
                f"{keyset.replace('s.', 's0.')}"
                " ORDER BY s0.published_at DESC, s0.article_id DESC LIMIT :limit")
    keyset = " WHERE (a.published_at, a.id) < (:after_ts, :after_id)" if after else ""
    return (f"SELECT {_COLUMNS} FROM news_articles a{keyset}"
            " ORDER BY a.published_at DESC, a.id DESC LIMIT :limit")


async def page(conn: AsyncConnection, symbol: str | None, limit: int,
               after: Cursor | None) -> Sequence[RowMapping]:
    """Up to `limit` articles newest first (of `symbol` only, if given), after `after`."""
    params: dict[str, Any] = {"limit": limit, "symbol": symbol}
    if after is not None:
        params["after_ts"], params["after_id"] = after
    if symbol is None:
        del params["symbol"]
    result = await conn.execute(text(page_query(symbol is not None, after is not None)),
                                params)
    return result.mappings().all()


def published(row: RowMapping) -> datetime:
    """An article row's publication instant (its page cursor's first part)."""
    at: datetime = row["published_at"]
    return at
