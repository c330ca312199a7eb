"""Market data imports that are not bulk: index definitions (`ordergate import-indices`) and
news (`ordergate import-news`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli import output, runtime
from cli.output import JsonFlag

if TYPE_CHECKING:
    from shared.market.index_files import IndexRow
    from shared.market.instrument_files import BadRow
    from shared.market.news_files import BadArticle
    from shared.settings import Settings


def import_indices(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help=(
        "A CSV of index,name,exchange,currency,base_level,symbol,weight,base_price."))],
    json_: JsonFlag = False,
) -> None:
    """Define market indices from a file, all or none: each index in it gets exactly the
    constituents the file lists. Any bad row is named with its line and nothing changes.

    Exit 1 if a row is bad.
    """
    changed = runtime.run(_import(runtime.settings(), file))
    if isinstance(changed, list):
        if json_:
            output.emit_json({"bad_rows": [{"line": b.line, "reason": b.reason}
                                           for b in changed]})
        else:
            for bad in changed:
                output.say(f"{file.name} line {bad.line}: {bad.reason}")
        raise runtime.Failure(f"{len(changed)} bad row(s) in {file.name}: nothing was imported")
    indices, constituents = changed
    if json_:
        output.emit_json({"indices_changed": indices, "constituents_changed": constituents})
    else:
        output.say(f"{indices} index definition(s) and {constituents} constituent(s) changed")


async def _import(settings: Settings, file: Path) -> tuple[int, int] | list[BadRow]:
    """What the import changed, or the bad rows that stopped it."""
    from shared.db.repositories import indices
    from shared.market import index_files
    from shared.market.index_files import IndexRow
    from shared.market.instrument_files import BadRow, FileFormatError

    try:
        with file.open(encoding="utf-8", newline="") as lines:
            parsed = list(index_files.read(lines))
    except UnicodeDecodeError as error:
        raise runtime.Failure(f"{file.name} is not UTF-8 (byte {error.start})") from None
    except FileFormatError as error:
        raise runtime.Failure(f"{file.name}: {error}") from None
    good = [row for row in parsed if isinstance(row, IndexRow)]
    bad = [row for row in parsed if isinstance(row, BadRow)]
    async with runtime.database(settings) as engine, engine.begin() as conn:
        known = await indices.currencies(conn, sorted({row.symbol for row in good}))
        bad += [BadRow(row.line, reason) for row in good
                if (reason := _refusal(row, known.get(row.symbol)))]
        if bad:
            return sorted(bad, key=lambda row: row.line)
        return await indices.replace(conn, good)


def _refusal(row: IndexRow, currency: str | None) -> str | None:
    if currency is None:
        return f"unknown symbol {row.symbol} (not in the instrument master)"
    if currency != row.currency:
        return f"{row.symbol} trades in {currency}, the index {row.code} is in {row.currency}"
    return None


def import_news(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help=(
        "An RSS 2.0 feed, or JSON lines of guid,title,summary,url,source,published_at,"
        "symbols."))],
    json_: JsonFlag = False,
) -> None:
    """Import news articles in one transaction; an article already imported (by guid, else
    its link) is left as it is, bad ones are named and skipped. Nothing is fetched: a link is
    kept as text."""
    added, known, bad = runtime.run(_import_news(runtime.settings(), file))
    if json_:
        output.emit_json({"added": added, "already_imported": known,
                          "bad": [{"where": b.where, "reason": b.reason} for b in bad]})
        return
    for article in bad:
        output.say(f"{file.name} {article.where}: {article.reason}")
    output.say(f"{added} article(s) added, {known} already imported, {len(bad)} bad")


async def _import_news(settings: Settings, file: Path) -> tuple[int, int, list[BadArticle]]:
    from dataclasses import replace

    from shared.db.repositories import news
    from shared.market import news_files
    from shared.market.instrument_files import FileFormatError
    from shared.market.news_files import BadArticle, NewsRow

    try:
        data = file.read_text(encoding="utf-8")
        parsed = list(news_files.read(data, file.stem))
    except UnicodeDecodeError as error:
        raise runtime.Failure(f"{file.name} is not UTF-8 (byte {error.start})") from None
    except FileFormatError as error:
        raise runtime.Failure(f"{file.name}: {error}") from None
    rss = news_files.is_rss(data)
    bad = [row for row in parsed if isinstance(row, BadArticle)]
    good: list[NewsRow] = []
    async with runtime.database(settings) as engine, engine.begin() as conn:
        rows = [row for row in parsed if isinstance(row, NewsRow)]
        master = await news.known_symbols(conn, sorted({s for r in rows for s in r.symbols}))
        for row in rows:
            unknown = [symbol for symbol in row.symbols if symbol not in master]
            if rss:  # categories are topics as often as symbols: keep the symbols
                good.append(replace(row, symbols=tuple(s for s in row.symbols if s in master)))
            elif unknown:
                bad.append(BadArticle(row.where, f"unknown symbol {', '.join(unknown)}"))
            else:
                good.append(row)
        added = await news.insert(conn, good, "feed")
    return len(added), len(good) - len(added), bad
