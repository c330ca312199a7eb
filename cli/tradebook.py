"""`ordergate import-tradebook`: a Zerodha tradebook into a user's trades journal, by the same
rules as POST /api/v1/trades/import (api.portfolio.journal), without the API's body cap."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli import output, runtime
from cli.output import JsonFlag

if TYPE_CHECKING:
    from shared.settings import Settings


def import_tradebook(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="A Zerodha (Kite Console) tradebook CSV.")],
    user: Annotated[str, typer.Option(help="The e-mail address of the journal's owner.")],
    account: Annotated[uuid.UUID | None, typer.Option(
        help="The user's account the trades book in (default: the paper account).")] = None,
    json_: JsonFlag = False,
) -> None:
    """Journal a tradebook's trades, all or none: any bad row is named with its line and
    nothing is imported. Trades the account already has (by trade_id) are left as they are.

    Exit 1 if the user or account is unknown or a row is bad.
    """
    outcome = runtime.run(_import(runtime.settings(), file, user, account))
    if isinstance(outcome, list):
        if json_:
            output.emit_json({"bad_rows": outcome})
        else:
            for bad in outcome:
                output.say(f"{file.name} line {bad['line']}: {bad['reason']}")
        raise runtime.Failure(f"{len(outcome)} bad row(s) in {file.name}: nothing was imported")
    if json_:
        output.emit_json(outcome)
    else:
        output.say(f"{outcome['imported']} trade(s) journaled, {outcome['already_journaled']}"
                   f" already in the journal, of {outcome['trades']} in {file.name}")


async def _import(settings: Settings, file: Path, email: str,
                  account_id: uuid.UUID | None) -> dict[str, Any] | list[dict[str, Any]]:
    """The import's summary, or the bad rows that stopped it."""
    from api.auth.schemas import normalise_email
    from api.portfolio import journal
    from shared.clock import clock_from
    from shared.db.repositories import users
    from shared.domain.errors import InvalidOrder, NotFound

    async with runtime.database(settings) as engine, engine.begin() as conn:
        owner = await users.get_by_email(conn, normalise_email(email))
        if owner is None:
            raise runtime.Failure(f"no user has the e-mail address {email}")
        try:
            with file.open(encoding="utf-8", newline="") as lines:
                return await journal.import_tradebook(conn, owner.id, account_id, lines,
                                                      clock_from(settings).now())
        except UnicodeDecodeError as error:
            raise runtime.Failure(f"{file.name} is not UTF-8 (byte {error.start})") from None
        except NotFound as missing:
            raise runtime.Failure(f"{missing.message} for {email}") from None
        except InvalidOrder as refused:
            bad: list[dict[str, Any]] = refused.details.get("bad_rows") or []
            if not bad:  # not a tradebook at all
                raise runtime.Failure(f"{file.name}: {refused.message}") from None
            return bad
