"""Market news: GET /market/news (newest first, by symbol if asked) and an admin's
POST /admin/news. Text only: nothing here opens a URL, a stored link is text for the client."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from api.audit import Who
from api.deps import AdminDep, ClockDep, EngineDep, PrincipalDep
from api.errors import header_field
from api.pages import Limit, PageCursor, keyset_cursor, read_keyset_cursor
from api.responses import ADMIN, MALFORMED_BODY, READ
from shared.db.repositories import news
from shared.domain.audit import Action
from shared.domain.errors import InvalidOrder
from shared.market import news_files
from shared.market.instrument_files import MAX_SYMBOL, RowError
from shared.messaging.order_view import json_value

router = APIRouter()
admin_router = APIRouter()

_ONE_LINE = r"^[^\x00-\x1f\x7f]+$"


class NewsOut(BaseModel):
    """An article: text only; `url` is the feed's link, as text (never fetched here)."""

    id: uuid.UUID
    title: str
    summary: str
    url: str | None
    source: str
    published_at: datetime
    origin: str = Field(description="`feed` (imported) or `admin` (posted)")
    symbols: list[str]


class NewsPage(BaseModel):
    """A page of articles, newest first; pass `next_cursor` back as `cursor`."""

    items: list[NewsOut]
    next_cursor: str | None


class NewsPost(BaseModel):
    """An article an admin posts: text only, no link."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=news_files.MAX_TITLE, pattern=_ONE_LINE)
    summary: str = Field(default="", max_length=news_files.MAX_SUMMARY)
    source: str = Field(default="ordergate", min_length=1, max_length=news_files.MAX_SOURCE,
                        pattern=_ONE_LINE)
    symbols: list[Annotated[str, Field(min_length=1, max_length=MAX_SYMBOL)]] = Field(
        default_factory=list, max_length=news_files.MAX_SYMBOLS,
        description="symbols of the instrument master it is about")
    published_at: AwareDatetime | None = Field(default=None, description="default: now")


def _out(row: RowMapping) -> dict[str, Any]:
    return {name: json_value(row[name]) for name in NewsOut.model_fields
            if name != "symbols"} | {"symbols": list(row["symbols"])}


@router.get("/news", response_model=NewsPage, responses={**READ, 422: {
    "description": "a bad `limit`, `symbol`, or a `cursor` no page handed out"
                   " (`invalid_cursor`); `details.field` names it"}})
async def list_news(
    _: PrincipalDep, engine: EngineDep,
    symbol: Annotated[str | None, Query(min_length=1, max_length=MAX_SYMBOL,
                                        description="only articles about this symbol")]
    = None,
    limit: Limit = 50, cursor: PageCursor = None,
) -> Response:
    """List market news, newest first: articles imported from feeds (`ordergate import-news`)
    and posted by admins, about `symbol` if given."""
    after = read_keyset_cursor(cursor) if cursor else None
    async with engine.connect() as conn:
        rows = await news.page(conn, symbol.strip().upper() if symbol else None, limit, after)
    next_cursor = (keyset_cursor(rows[-1]["published_at"], rows[-1]["id"])
                   if len(rows) == limit else None)
    return JSONResponse({"items": [_out(row) for row in rows], "next_cursor": next_cursor})


@admin_router.post("/news", status_code=201, response_model=NewsOut, responses={
    **ADMIN, **MALFORMED_BODY,
    422: {"description": "an invalid field, or a symbol not in the instrument master"
                         " (`unknown_symbol`); `details.field` names it; the Idempotency-Key"
                         " used with another body (`idempotency_key_reused`)"}})
async def post_news(
    body: NewsPost, request: Request, admin: AdminDep, engine: EngineDep, clock: ClockDep,
    idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key", min_length=1, max_length=255,
        description="a retry with the same key and body answers the first article"
                    " (Idempotent-Replayed: true) and posts nothing more")] = None,
) -> Response:
    """Publish an article to every user's news (text only). Audited as `admin.news_posted`."""
    fingerprint = _fingerprint(body)
    guid = f"admin:{admin.user_id}:{idempotency_key}" if idempotency_key else \
        f"admin:{uuid.uuid4()}"
    fields = body.model_dump() | {"guid": guid,
                                  "published_at": (body.published_at or clock.now()).isoformat()}
    try:
        row = news_files.article("post", fields, "ordergate")
    except RowError as error:
        raise InvalidOrder(str(error), details={"field": str(error).split(" ", 1)[0]}) from None
    async with engine.begin() as conn:
        unknown = sorted(set(row.symbols) - await news.known_symbols(conn, row.symbols))
        if unknown:
            raise InvalidOrder(f"unknown symbol {', '.join(unknown)}", code="unknown_symbol",
                               details={"field": "symbols", "unknown": unknown})
        added = await news.insert(conn, [row], "admin", posted_by=admin.user_id,
                                  request_hash=fingerprint)
        if not added:  # the key's article is stored already (by a retry, or one racing it)
            return JSONResponse(_out(await _earlier(conn, guid, fingerprint)), status_code=201,
                                headers={"Idempotent-Replayed": "true"})
        await Who.of(request, admin).record(
            conn, Action.NEWS_POSTED, target=("news", added[0]),
            details={"title": row.title, "symbols": list(row.symbols)})
        stored = await news.get(conn, added[0])
    assert stored is not None, "inserted in this transaction"
    return JSONResponse(_out(stored), status_code=201)


def _fingerprint(body: NewsPost) -> str:
    """The body's fingerprint, so an Idempotency-Key reused with other content is caught."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _earlier(conn: AsyncConnection, guid: str, fingerprint: str) -> RowMapping:
    earlier = await news.by_guid(conn, guid)
    assert earlier is not None, "the insert found it"
    if earlier["request_hash"] != fingerprint:
        raise InvalidOrder("this Idempotency-Key was already used with a different request body",
                           code="idempotency_key_reused",
                           details={"field": header_field("Idempotency-Key")})
    return earlier
