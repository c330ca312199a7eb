"""Import an instrument master file: Kite's instruments dump, or a plain CSV for US names.

    ordergate import-instruments FILE      (make import-instruments FILE=...)

Good rows are bulk-COPYed into a staging table as the file is read, then upserted into
`instruments` in the same transaction: an error that stops the import (an undecodable line, a
lost connection) leaves the master as it was. Bad rows are reported with their line numbers
and skipped; re-importing a file changes nothing. Exit code 1 if the file could not be
imported, 0 otherwise (bad rows included: they are reported, the rest is in).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db.repositories import market
from shared.market.instrument_files import (
    BadRow,
    FileFormatError,
    InstrumentRow,
    Skipped,
    read,
)

BATCH_SIZE = 5_000
# One upsert of a whole dump (~100,000 rows) outlasts the API's statement timeout.
STATEMENT_TIMEOUT_SECONDS = 600.0


@dataclass
class Outcome:
    """What an import did: rows inserted, updated, left as they were, skipped, refused."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    not_tradable: int = 0
    bad: list[BadRow] = field(default_factory=list)


def utf8_lines(file: BinaryIO, on_bytes: Callable[[int], None]) -> Iterator[str]:
    """The file's lines, decoded as UTF-8; a line that is not stops the import."""
    for number, raw in enumerate(file, start=1):
        on_bytes(len(raw))
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise FileFormatError(f"line {number} is not UTF-8 ({error.reason} at byte "
                                  f"{error.start}); nothing was imported") from error


async def _stage(conn: AsyncConnection, file: BinaryIO, outcome: Outcome,
                 on_bytes: Callable[[int], None], batch_size: int) -> int:
    await market.create_staging(conn)
    batch: list[InstrumentRow] = []
    staged = 0
    for parsed in read(utf8_lines(file, on_bytes)):
        if isinstance(parsed, BadRow):
            outcome.bad.append(parsed)
        elif isinstance(parsed, Skipped):
            outcome.not_tradable += 1
        else:
            batch.append(parsed)
        if len(batch) >= batch_size:
            await market.copy_to_staging(conn, batch)
            staged, batch = staged + len(batch), []
    if batch:
        await market.copy_to_staging(conn, batch)
    return staged + len(batch)


async def import_file(engine: AsyncEngine, path: Path, *,
                      on_bytes: Callable[[int], None] = lambda _: None,
                      batch_size: int = BATCH_SIZE) -> Outcome:
    """Import `path` into the instrument master in one transaction."""
    outcome = Outcome()
    with path.open("rb") as file:
        async with engine.begin() as conn:
            staged = await _stage(conn, file, outcome, on_bytes, batch_size)
            upserted = await market.upsert_from_staging(conn)
    outcome.inserted, outcome.updated = upserted.inserted, upserted.updated
    outcome.unchanged = staged - upserted.inserted - upserted.updated
    return outcome


def report(outcome: Outcome) -> str:
    """The outcome in words, one bad row a line."""
    lines = [f"line {bad.line}: {bad.reason}" for bad in outcome.bad]
    lines.append(f"{outcome.inserted} inserted, {outcome.updated} updated, "
                 f"{outcome.unchanged} unchanged, {outcome.not_tradable} not tradable "
                 f"(indices), {len(outcome.bad)} bad row(s) skipped")
    return "\n".join(lines)
