"""How commands answer: tables for people, JSON for machines; progress and errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TimeRemainingColumn,
)
from rich.table import Table

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines, not a table.")]

# stdout carries the answer only, so `--json` output can be piped as it is. Piped, a table is
# as wide as its rows: rich's 80 columns would cut ids short.
_out = Console(highlight=False, width=None if sys.stdout.isatty() else 10_000)
_err = Console(stderr=True, highlight=False)


def emit_json(data: Any) -> None:
    """Print `data` as JSON (already in its JSON shape: amounts as strings)."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def say(line: str) -> None:
    """Print one line of a human answer."""
    _out.print(line, markup=False)


def error(message: str) -> None:
    """Tell the operator what went wrong, on stderr."""
    _err.print(f"ordergate: {message}", markup=False, soft_wrap=True)


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
          title: str | None = None) -> None:
    """Print rows under their column names; None shows as an empty cell."""
    shown = Table(title=title, title_justify="left")
    for column in columns:
        shown.add_column(column, overflow="fold")
    for row in rows:
        shown.add_row(*("" if cell is None else str(cell) for cell in row))
    _out.print(shown)


def fields(pairs: Sequence[tuple[str, Any]], *, title: str | None = None) -> None:
    """Print one record as a two-column table of its fields."""
    table(("field", "value"), pairs, title=title)


@contextmanager
def progress(description: str, total: float | None, *,
             unit: str = "items") -> Iterator[Callable[[float], None]]:
    """A progress bar on stderr while the block runs; yields the function that advances it.

    Drawn only on a terminal: piped or captured, the output stays the answer alone.
    """
    count = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    columns = (*Progress.get_default_columns()[:1], BarColumn(), count, TimeRemainingColumn())
    with Progress(*columns, console=_err, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda amount: bar.advance(task, amount)
