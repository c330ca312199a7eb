"""`ordergate`, the operator's command line (Typer), installed into the venv by `make venv`.

Adding a command: write a function whose parameters are typed `Annotated[..., typer.Option]`
or `typer.Argument` and whose one-line docstring is its `--help`; read the configuration
with `runtime.settings()`, open PostgreSQL and Redis with `runtime.database()` and
`runtime.redis()` inside a coroutine run by `runtime.run()` (so a server that cannot be
reached is exit code 3 and one line, never a traceback), answer through `output` (a table,
or JSON with `--json`), raise `runtime.Failure` for anything the operator must hear about;
then register the function in `cli/main.py`. Nothing outside `cli/` imports it.

The modules import the stack (SQLAlchemy, alembic, the app) inside the functions that use it,
so that `--help` answers at once.
"""
