"""Reading news feeds (shared.market.news_files): RSS and JSON lines, text only, no XML
tricks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.market import news_files
from shared.market.instrument_files import FileFormatError
from shared.market.news_files import BadArticle, NewsRow

FIXTURES = Path(__file__).parents[1] / "fixtures" / "news"


def test_an_rss_feed_reads_as_plain_text_articles_known_by_guid_else_link() -> None:
    parsed = list(news_files.read((FIXTURES / "markets.rss").read_text(), "markets"))

    first, second, undated = parsed
    assert isinstance(first, NewsRow)
    assert isinstance(second, NewsRow)
    assert (first.guid, first.title, first.source) == (
        "mkt-20261201-0001", "Infosys wins a large banking deal", "Markets Desk")
    assert first.summary == "The five-year contract is worth $1.5 billion & more."
    assert first.published_at == datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    # Categories that could be symbols; the import keeps those the master knows.
    assert first.symbols == ("INFY", "IT SERVICES")
    assert second.guid == second.url == "https://news.example.com/markets/nifty-close"
    assert second.symbols == ("RELIANCE", "TCS")
    assert undated == BadArticle("item 3", "published_at is missing")


def test_json_lines_name_each_bad_line_and_keep_the_rest() -> None:
    parsed = list(news_files.read((FIXTURES / "wire.jsonl").read_text(), "wire"))

    good = [row for row in parsed if isinstance(row, NewsRow)]
    bad = {row.where: row.reason for row in parsed if isinstance(row, BadArticle)}
    assert [(row.guid, row.symbols, row.source) for row in good] == [
        ("wire-1", ("AAPL",), "Wire"), ("wire-2", ("MSFT", "AAPL"), "wire"),
        ("wire-5", ("NOSUCHCO",), "wire")]
    assert bad == {"line 3": "not valid JSON",
                   "line 4": "url must be an http or https address, was 'file:///etc/passwd'",
                   "line 6": "guid is missing, and there is no url to know the article by",
                   "line 7": "published_at needs its offset (Z or +05:30), was "
                             "'2026-12-01T15:00:00'"}


@pytest.mark.parametrize("feed", [
    # An entity bomb and an external entity: refused before any expansion or read.
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    "<rss><channel><item><title>&b;</title></item></channel></rss>",
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<rss><channel><item><title>&x;</title></item></channel></rss>",
    "<html><body>not a feed</body></html>",
    "<rss><channel><item>",
])
def test_xml_that_is_not_a_plain_rss_feed_is_refused(feed: str) -> None:
    with pytest.raises(FileFormatError):
        list(news_files.read(feed, "x"))
