"""Read a news feed file into articles: RSS 2.0 (XML) or JSON lines.

Pure parsing, text only: HTML in a title or summary is reduced to its text (nothing a client
shows can carry markup), and a link is kept as text, never fetched. An article is known by
its `guid`, else its link, so importing a feed again adds nothing.

    {"guid": "…", "title": "…", "summary": "…", "url": "https://…", "source": "…",
     "published_at": "2026-12-01T09:30:00+05:30", "symbols": ["INFY"]}

An RSS item's `<category>` values that are symbols of the instrument master link it to them.
XML is parsed by defusedxml: no entity expansion, no external entity or DTD is loaded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from shared.market.instrument_files import MAX_SYMBOL, SYMBOL, FileFormatError, RowError

MAX_TITLE = 300
MAX_SUMMARY = 5000
MAX_SOURCE = 100
MAX_GUID = 512
MAX_URL = 2000
MAX_SYMBOLS = 20
_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class NewsRow:
    """One article, ready to store."""

    where: str  # "line 3" or "item 3": where the file holds it
    guid: str
    title: str
    summary: str
    url: str | None
    source: str
    published_at: datetime
    symbols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BadArticle:
    """An article that cannot be imported, and why."""

    where: str
    reason: str


def read(data: str, default_source: str) -> Iterator[NewsRow | BadArticle]:
    """Parse a feed (RSS if it starts with `<`, else JSON lines) into articles and bad ones;
    `default_source` names the source of those that name none (the file's name)."""
    if is_rss(data):
        yield from _rss(data, default_source)
    else:
        yield from _json_lines(data.splitlines(), default_source)


def is_rss(data: str) -> bool:
    """True for XML (an RSS feed), False for JSON lines."""
    return data.lstrip("\ufeff \t\r\n").startswith("<")


def _json_lines(lines: Iterable[str], default_source: str) -> Iterator[NewsRow | BadArticle]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            fields = json.loads(line)
            if not isinstance(fields, dict):
                raise RowError("expected a JSON object")
            yield article(where, fields, default_source)
        except (ValueError, RecursionError) as error:  # RowError and JSONDecodeError too
            reason = str(error) if isinstance(error, RowError) else "not valid JSON"
            yield BadArticle(where, reason)


def _rss(data: str, default_source: str) -> Iterator[NewsRow | BadArticle]:
    try:
        root = ElementTree.fromstring(data, forbid_dtd=True)
    except (ElementTree.ParseError, DefusedXmlException) as error:
        raise FileFormatError(f"not an RSS feed: {error}") from None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise FileFormatError("not an RSS feed: expected <rss><channel>")
    source = (channel.findtext("title") or "").strip() or default_source
    for number, item in enumerate(channel.iter("item"), start=1):
        fields = {"guid": item.findtext("guid"), "title": item.findtext("title"),
                  "summary": item.findtext("description") or "",
                  "url": item.findtext("link"), "source": source,
                  "published_at": item.findtext("pubDate"),
                  "categories": [c.text or "" for c in item.findall("category")]}
        try:
            yield article(f"item {number}", fields, default_source)
        except RowError as error:
            yield BadArticle(f"item {number}", str(error))


def article(where: str, fields: dict[str, Any], default_source: str) -> NewsRow:
    """The article `fields` describe (a JSON line's keys, or an RSS item's); RowError if
    one is missing or malformed."""
    url = _optional_text(fields.get("url"), "url", MAX_URL)
    if url is not None and not _URL.fullmatch(url):
        raise RowError(f"url must be an http or https address, was {url[:80]!r}")
    guid = _optional_text(fields.get("guid"), "guid", MAX_GUID) or url
    if guid is None:
        raise RowError("guid is missing, and there is no url to know the article by")
    return NewsRow(
        where=where, guid=guid, title=_required(fields.get("title"), "title", MAX_TITLE),
        summary=_optional_text(fields.get("summary"), "summary", MAX_SUMMARY) or "",
        url=url, source=_optional_text(fields.get("source"), "source", MAX_SOURCE)
        or default_source[:MAX_SOURCE],
        published_at=_published(fields.get("published_at")),
        symbols=_symbols(fields))


def plain_text(value: str) -> str:
    """`value` without HTML markup: its text, entities decoded, whitespace collapsed."""
    collector = _Text()
    collector.feed(value)
    collector.close()
    return " ".join("".join(collector.parts).split())


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _optional_text(value: Any, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RowError(f"{name} must be text")
    text = plain_text(value) if name in ("title", "summary", "source") else value.strip()
    if len(text) > limit:
        raise RowError(f"{name} is longer than {limit} characters")
    if "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise RowError(f"{name} holds a character text cannot store")
    return text or None


def _required(value: Any, name: str, limit: int) -> str:
    text = _optional_text(value, name, limit)
    if not text:
        raise RowError(f"{name} is missing")
    return text


def _published(value: Any) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise RowError("published_at is missing")
    raw = value.strip()
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        try:
            at = parsedate_to_datetime(raw)  # RSS's RFC 822 dates
        except (TypeError, ValueError):
            raise RowError(f"published_at is not a date and time, was {raw[:40]!r}") from None
    if at.tzinfo is None:
        raise RowError(f"published_at needs its offset (Z or +05:30), was {raw[:40]!r}")
    return at.astimezone(UTC)


def _symbols(fields: dict[str, Any]) -> tuple[str, ...]:
    """A JSON line's `symbols`, checked; an RSS item's categories that look like symbols
    (which of them the master knows is the import's to say)."""
    if "categories" in fields:
        found = [c.strip().upper() for c in fields["categories"]]
        return tuple(dict.fromkeys(c for c in found
                                   if c and len(c) <= MAX_SYMBOL and SYMBOL.fullmatch(c)))
    raw = fields.get("symbols", [])
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise RowError("symbols must be a list of symbols")
    symbols = tuple(dict.fromkeys(s.strip().upper() for s in raw))
    if len(symbols) > MAX_SYMBOLS:
        raise RowError(f"at most {MAX_SYMBOLS} symbols, found {len(symbols)}")
    for symbol in symbols:
        if not symbol or len(symbol) > MAX_SYMBOL or not SYMBOL.fullmatch(symbol):
            raise RowError(f"symbol is not valid, was {symbol[:40]!r}")
    return symbols
