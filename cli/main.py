"""The `ordergate` command: every operator command, registered in one place."""

from __future__ import annotations

import sys

import typer

from cli import admin, market, orders, output, queue, runtime, stack, tradebook

EXIT_CODES = (
    "Exit codes: 0 done; 1 not found, or a check or part of the work failed; 2 a bad option or "
    "argument; 3 PostgreSQL or Redis could not be reached; 4 the configuration was refused. "
    "Settings come from the environment and .env, as for every ordergate process."
)

app = typer.Typer(
    name="ordergate", no_args_is_help=True, add_completion=False, epilog=EXIT_CODES,
    help="Operate an ordergate deployment: schema, demo data, admins, keys, orders and queues.",
    # A traceback's local variables could hold settings, tokens or credentials.
    pretty_exceptions_show_locals=False,
)
for command in (stack.migrate, stack.seed, stack.run, stack.rotate_keys,
                stack.import_instruments, stack.import_ticks, tradebook.import_tradebook,
                market.import_indices, market.import_news, stack.replay, admin.create_admin):
    app.command(epilog=EXIT_CODES)(command)
app.add_typer(orders.app, name="orders")
app.add_typer(queue.app, name="queue")


def main() -> None:
    """Run the command line; a command's failure is one line on stderr and its exit code."""
    try:
        app()
    except runtime.Failure as failure:
        output.error(str(failure))
        sys.exit(failure.code)
