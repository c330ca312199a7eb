"""`ordergate create-admin`: make the first admin, or any later one, from the command line."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from cli import output, runtime
from cli.output import JsonFlag

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from shared.db.repositories.users import UserRow
    from shared.settings import Settings

# Who the audit log names as having acted: nobody logged in, the operator's command.
VIA = "ordergate create-admin"


@dataclass(frozen=True)
class Made:
    """The admin a run left, and how: created, promoted, or already one."""

    user: UserRow
    outcome: str


def create_admin(
    username: Annotated[str, typer.Argument(
        metavar="USERNAME", help="The username of the user to make an admin.")],
    email: Annotated[str | None, typer.Option(
        help="Its e-mail address: creates the user if no user has USERNAME.")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read a new user's password from the first line of stdin"
                                 " instead of a prompt (never give it on the command line).")
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """Make USERNAME an admin, creating the user (with --email) if it does not exist.

    An existing user is promoted; a new one gets a funded paper account like any sign-up and
    a password asked for at a prompt, or read with --password-stdin. Audited as
    admin.role_changed. Exit 1 if USERNAME and --email name two different users.
    """
    settings = runtime.settings()
    existing = runtime.run(_find(settings, username, email))
    password = None if existing is not None else _password(password_stdin)
    made = runtime.run(_make_admin(settings, username, email, password))
    if json_:
        output.emit_json({"id": str(made.user.id), "username": made.user.username,
                          "email": made.user.email, "role": "admin", "outcome": made.outcome})
    else:
        output.say(f"{made.user.username} <{made.user.email}> is an admin ({made.outcome})")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password for the new admin", hide_input=True,
                                 confirmation_prompt=True)
    return password


async def _find(settings: Settings, username: str, email: str | None) -> UserRow | None:
    async with runtime.database(settings) as engine, engine.connect() as conn:
        return await _existing(conn, username, email)


async def _existing(conn: AsyncConnection, username: str, email: str | None) -> UserRow | None:
    from api.auth.schemas import normalise_email
    from shared.db.repositories import users

    by_name = await users.get_by_username(conn, username)
    by_email = await users.get_by_email(conn, normalise_email(email)) if email else None
    if by_email is not None and (by_name is None or by_name.id != by_email.id):
        named = f"{by_email.username!r}" if by_email.username else "no username"
        raise runtime.Failure(f"{email} is the e-mail address of a user with {named}, not"
                              f" {username!r}")
    if by_name is not None and email is not None and by_email is None:
        raise runtime.Failure(f"{username!r} is the user with {by_name.email}, not {email}")
    if by_name is None and email is None:
        raise runtime.Failure(f"no user is named {username!r}; give --email to create one")
    return by_name


async def _make_admin(settings: Settings, username: str, email: str | None,
                      password: str | None) -> Made:
    from shared.db.repositories import audit, users
    from shared.domain.audit import Action
    from shared.domain.enums import Role

    async with runtime.database(settings) as engine, engine.begin() as conn:
        user = await _existing(conn, username, email)
        created = user is None
        if user is None:
            assert email is not None, "_existing refuses a missing user without one"
            assert password is not None, "asked for before, as no user had USERNAME"
            user = await _register(conn, settings, username, email, password)
        before = await users.set_role(conn, user.id, Role.ADMIN)
        if before is Role.ADMIN:
            return Made(user, "already an admin")
        await audit.record(conn, audit.Entry(
            action=Action.ROLE_CHANGED, user_id=user.id, target_type="user",
            target_id=str(user.id),
            details={"from": before, "to": Role.ADMIN, "created": created, "via": VIA}))
    return Made(user, "created" if created else "promoted")


async def _register(conn: AsyncConnection, settings: Settings, username: str, email: str,
                    password: str) -> UserRow:
    from pydantic import ValidationError

    from api.auth import service
    from api.auth.schemas import RegisterRequest
    from shared.domain.errors import Conflict

    try:
        request = RegisterRequest(email=email, password=password, username=username)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "the input"
        # The message only: pydantic's text would echo the value, the password included.
        raise runtime.Failure(f"{field} is refused: {first['msg']}",
                              runtime.ExitCode.USAGE) from None
    new_user = await service.prepare_user(request.email, request.username, request.password)
    try:
        return await service.register(conn, settings, new_user)
    except Conflict as conflict:
        raise runtime.Failure(conflict.message) from None
