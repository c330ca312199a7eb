"""`ordergate orders`: any user's orders as the books hold them, for operators."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli import output, runtime
from cli.output import JsonFlag
from shared.domain.enums import OrderStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from shared.domain.orders import Order
    from shared.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Look up orders of any user.")
MAX_LIST = 1000
# A table's heading for each field shown.
LIST_COLUMNS = {"id": "id", "created_at": "created (UTC)", "email": "owner", "symbol": "symbol",
                "side": "side", "order_type": "type", "quantity": "quantity",
                "filled_quantity": "filled", "avg_fill_price": "avg price", "status": "status"}
EVENT_COLUMNS = {"version": "version", "at": "at (UTC)", "from_status": "from",
                 "to_status": "to", "event": "event", "actor": "actor"}


@app.command()
def show(
    order_id: Annotated[uuid.UUID, typer.Argument(metavar="ID", help="The order's id.")],
    events: Annotated[int, typer.Option(min=0, max=500,
                                        help="Show this many of its latest events.")] = 20,
    json_: JsonFlag = False,
) -> None:
    """Show one order, its owner and its latest events; exit 1 if there is no such order."""
    found = runtime.run(_show(runtime.settings(), order_id, events))
    if found is None:
        raise runtime.Failure(f"no order has the id {order_id}")
    order, trail = found
    if json_:
        output.emit_json({"order": order, "events": trail})
        return
    output.fields([(name, value) for name, value in order.items()
                   if value is not None and name != "legs"], title=f"order {order_id}")
    output.table(list(EVENT_COLUMNS.values()), [_row(event, EVENT_COLUMNS) for event in trail],
                 title="latest events" if trail else "no events")


async def _show(settings: Settings, order_id: uuid.UUID,
                latest: int) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    from shared.db.repositories import order_events, orders, users
    from shared.messaging.order_view import event_resource

    async with runtime.database(settings) as engine, engine.connect() as conn:
        order = await orders.get(conn, order_id)
        if order is None:
            return None
        email = await users.email_of(conn, order.user_id)
        # One event per version: the last `latest` versions are the latest events.
        rows = await order_events.trail_for_user(
            conn, order.user_id, order.id, after_version=max(0, order.version - latest),
            limit=max(1, latest))
    trail = [event_resource(row) for row in rows or []][:latest]
    return _item(order, email), trail


@app.command("list")
def list_(
    status: Annotated[OrderStatus | None, typer.Option(
        case_sensitive=False, help="Only orders in this status.")] = None,
    user: Annotated[str | None, typer.Option(
        help="Only this user's orders: an e-mail address or a user id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIST,
                                       help="At most this many, newest first.")] = 50,
    json_: JsonFlag = False,
) -> None:
    """List orders of every user (or one), newest first; exit 1 if the user does not exist."""
    items = runtime.run(_list(runtime.settings(), status, user, limit))
    if json_:
        output.emit_json({"items": items})
        return
    output.table(list(LIST_COLUMNS.values()), [_row(item, LIST_COLUMNS) for item in items],
                 title=f"{len(items)} order(s), newest first")


async def _list(settings: Settings, status: OrderStatus | None, user: str | None,
                limit: int) -> list[dict[str, Any]]:
    from shared.db.repositories import orders

    async with runtime.database(settings) as engine, engine.connect() as conn:
        user_id = None if user is None else await _user_id(conn, user)
        found = await orders.list_across_users(conn, status=status, user_id=user_id,
                                               limit=limit)
    return [_item(order, email) for order, email in found]


async def _user_id(conn: AsyncConnection, user: str) -> uuid.UUID:
    from api.auth.schemas import normalise_email
    from shared.db.repositories import users

    try:
        found = await users.get_by_id(conn, uuid.UUID(user))
    except ValueError:
        found = await users.get_by_email(conn, normalise_email(user))
    if found is None:
        raise runtime.Failure(f"no user has the e-mail address or id {user!r}")
    return found.id


def _row(item: dict[str, Any], columns: dict[str, str]) -> list[Any]:
    """The item's cells under `columns`; times to the second, for reading."""
    return [_readable(name, item[name]) for name in columns]


def _readable(name: str, value: Any) -> Any:
    if name in ("at", "created_at") and isinstance(value, str):
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return value


def _item(order: Order, email: str | None) -> dict[str, Any]:
    """The order resource clients see, with its owner."""
    from shared.messaging.order_view import order_resource

    return {**order_resource(order), "user_id": str(order.user_id), "email": email}
