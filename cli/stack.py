"""Commands that set up and keep the stack: the schema, demo data, the whole stack, keys, data."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli import output, runtime
from cli.output import JsonFlag

if TYPE_CHECKING:
    from alembic.config import Config

    from scripts.import_instruments import Outcome as ImportOutcome
    from scripts.import_ticks import Outcome as TicksOutcome
    from scripts.rotate_keys import Outcome as RotateOutcome
    from shared.settings import Settings
    from worker.replay import Replayed

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "migrations" / "alembic.ini"


def migrate(json_: JsonFlag = False) -> None:
    """Upgrade DATABASE_URL to the newest schema; a database already there is left as it is."""
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    settings = runtime.settings()
    config = _alembic_config(settings)
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    before = runtime.run(_revision(settings))
    try:
        pending = [rev.revision for rev in script.iterate_revisions(head, before or "base")]
    except CommandError as error:  # e.g. the database is at a revision this code lacks
        raise runtime.Failure(f"cannot migrate from revision {before}: {error}") from None
    if pending:
        with output.progress("migrating", total=len(pending)) as advance:
            config.attributes["on_version_apply"] = lambda **_: advance(1)
            runtime.guarded(lambda: command.upgrade(config, "head"))
    applied = pending[::-1]
    if json_:
        output.emit_json({"from": before, "to": head, "applied": applied})
    elif applied:
        output.say(f"migrated from {before or 'an empty database'} to {head}: "
                   f"{len(applied)} revision(s) applied ({', '.join(applied)})")
    else:
        output.say(f"the schema is at {head}, the newest revision: nothing to do")


def _alembic_config(settings: Settings) -> Config:
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.attributes["database_url"] = settings.database_url
    # The progress bar stands for alembic's own per-revision log lines.
    config.attributes["configure_logger"] = False
    return config


async def _revision(settings: Settings) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with runtime.database(settings) as engine, engine.connect() as conn:
        current: str | None = await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision())
    return current


def seed() -> None:
    """Create the demo trader and its orders through the API, unless they exist."""
    from scripts.seed import seed as seed_demo

    settings = runtime.settings()

    async def reachable_then_seed() -> str:
        async with runtime.database(settings), runtime.redis(settings):
            return await seed_demo()

    output.say(runtime.run(reachable_then_seed()))


def run(
    migrate_only: Annotated[bool, typer.Option(help="Stop after the migrations.")] = False,
) -> None:
    """Start the whole stack as `make run` does (embedded servers unless both URLs are set)."""
    from scripts.run import main as run_stack

    raise typer.Exit(run_stack(["--migrate-only"] if migrate_only else []))


def rotate_keys(json_: JsonFlag = False) -> None:
    """Re-encrypt every broker credential under the first key of CREDENTIALS_KEYS.

    Exit 1 if a row could not be re-encrypted (it is left as it was and named).
    """
    settings = runtime.settings()
    outcome = runtime.run(_rotate(settings))
    if json_:
        output.emit_json({"rotated": outcome.rotated,
                          "failed": [str(account_id) for account_id in outcome.failed]})
    else:
        output.say(f"rotated {outcome.rotated} connection(s) to the primary key; "
                   f"{len(outcome.failed)} failed")
        for account_id in outcome.failed:
            output.error(f"failed: account {account_id} (its credentials cannot be opened with "
                         "any configured key, or are bound to another row)")
    if outcome.failed:
        raise typer.Exit(runtime.ExitCode.FAILED)


async def _rotate(settings: Settings) -> RotateOutcome:
    from scripts.rotate_keys import rotate_all
    from shared.credentials import CredentialBox
    from shared.db.repositories import connections

    box = CredentialBox.from_settings(settings)
    async with runtime.database(settings) as engine:
        async with engine.connect() as conn:
            total = await connections.count_with_credentials(conn)
        with output.progress("re-encrypting credentials", total=total) as advance:
            return await rotate_all(engine, box, on_rows=advance)


def import_instruments(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="Kite's instruments CSV or a plain CSV.")],
    json_: JsonFlag = False,
) -> None:
    """Import an instrument master file in one transaction; bad rows are named and skipped."""
    from scripts.import_instruments import STATEMENT_TIMEOUT_SECONDS, report

    settings = runtime.settings().model_copy(
        update={"db_statement_timeout_seconds": STATEMENT_TIMEOUT_SECONDS})
    outcome = runtime.run(_import(settings, file))
    if json_:
        output.emit_json({
            "inserted": outcome.inserted, "updated": outcome.updated,
            "unchanged": outcome.unchanged, "not_tradable": outcome.not_tradable,
            "bad": [{"line": bad.line, "reason": bad.reason} for bad in outcome.bad]})
    else:
        output.say(report(outcome))


async def _import(settings: Settings, file: Path) -> ImportOutcome:
    from scripts.import_instruments import import_file
    from shared.market.instrument_files import FileFormatError

    async with runtime.database(settings) as engine:
        try:
            with output.progress(f"importing {file.name}", total=file.stat().st_size,
                                 unit="bytes") as advance:
                return await import_file(engine, file, on_bytes=advance)
        except (OSError, FileFormatError) as error:
            raise runtime.Failure(f"import failed: {error}") from None


def import_ticks(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="A CSV of ticks, or a ZIP of such CSVs.")],
    symbol: Annotated[str | None, typer.Option(
        help="The symbol of files without a symbol column (default: each file's name).")]
    = None,
    json_: JsonFlag = False,
) -> None:
    """Import recorded ticks in one transaction; bad rows and unknown symbols are named and
    skipped, ticks already recorded are left as they are."""
    from scripts.import_ticks import STATEMENT_TIMEOUT_SECONDS, report

    settings = runtime.settings().model_copy(
        update={"db_statement_timeout_seconds": STATEMENT_TIMEOUT_SECONDS})
    outcome = runtime.run(_import_ticks(settings, file, symbol))
    if json_:
        output.emit_json({
            "files": outcome.files, "inserted": outcome.inserted,
            "duplicates": outcome.duplicates,
            "bad": [{"file": bad.source, "line": bad.line, "reason": bad.reason}
                    for bad in outcome.bad],
            "unknown_symbols": dict(sorted(outcome.unknown.items()))})
    else:
        output.say(report(outcome))


async def _import_ticks(settings: Settings, file: Path, symbol: str | None) -> TicksOutcome:
    from scripts.import_ticks import import_file, size_of
    from shared.clock import calendar_from
    from shared.market.instrument_files import FileFormatError

    async with runtime.database(settings) as engine:
        try:
            with output.progress(f"importing {file.name}", total=size_of(file),
                                 unit="bytes") as advance:
                return await import_file(engine, file, calendar_from(settings), symbol=symbol,
                                         on_bytes=advance)
        except (OSError, FileFormatError, zipfile.BadZipFile) as error:
            raise runtime.Failure(f"import failed: {error}") from None


def replay(
    symbol: Annotated[str, typer.Argument(help="The symbol whose recorded ticks to replay.")],
    day: Annotated[datetime, typer.Option(
        "--date", formats=["%Y-%m-%d"], help="The trading day, at the symbol's exchange.")],
    speed: Annotated[float, typer.Option(
        min=0.001, help="How many times faster than recorded (60: a minute a second).")] = 1.0,
) -> None:
    """Replay a recorded day of ticks into the paper exchange as quotes, spaced as recorded
    divided by SPEED; resting orders match on them. Stop the simulator first.

    Exit 1 if the symbol is unknown or has no ticks that day.
    """
    settings = runtime.settings()
    name = symbol.upper()
    with output.progress(f"replaying {name}", total=None, unit="ticks") as advance:
        done = runtime.run(_replay(settings, name, day.date(), speed, advance))
    output.say(f"replayed {done.published} tick(s) of {name} on {day.date()} as quotes; "
               f"{done.one_sided} without both sides of the book moved none")


async def _replay(settings: Settings, symbol: str, day: date, speed: float,
                  advance: Callable[[int], None]) -> Replayed:
    from zoneinfo import ZoneInfo

    from shared.clock import calendar_from
    from shared.db.repositories import ticks
    from worker.replay import replay as replay_ticks

    async with runtime.database(settings) as engine, runtime.redis(settings) as redis:
        async with engine.connect() as conn:
            exchange = (await ticks.exchanges_of(conn, [symbol])).get(symbol)
        if exchange is None:
            raise runtime.Failure(f"unknown symbol {symbol}")
        calendar = calendar_from(settings)
        zone = ZoneInfo(calendar.hours[exchange].zone) if calendar.knows(exchange) else UTC
        start = datetime.combine(day, time(0), zone)
        done = await replay_ticks(engine, redis, symbol, start,
                                  datetime.combine(day + timedelta(days=1), time(0), zone),
                                  speed, on_tick=advance)
    if done.published + done.one_sided == 0:
        raise runtime.Failure(f"{symbol} has no recorded ticks on {day}")
    return done
