"""Portfolios: a user's named groups of orders and journaled trades, and what they hold.

Never commits: the router owns the transactions. Another user's portfolio is not found, like one
that does not exist (404, never 403). A portfolio that an order or a journaled trade names is
not deleted (409 `portfolio_in_use`): orders are the log and are never rewritten, and a
portfolio's P&L is built from them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from api.accounts.router import position_view
from api.pages import keyset_cursor, read_keyset_cursor
from api.portfolio.schemas import PatchPortfolio, PortfolioOut
from api.portfolio.sums import per_currency
from shared.db.repositories import portfolios
from shared.domain.enums import Side
from shared.domain.errors import Conflict, InvalidOrder, NotFound
from shared.domain.portfolio import (
    MAX_PORTFOLIOS_PER_USER,
    Book,
    Trade,
    books,
    portfolio_key,
    valuation,
)
from shared.messaging.order_view import json_value

_SUMMED = ("market_value", "realized_pnl", "unrealized_pnl", "total_pnl", "charges")


# The composite foreign keys by which orders and trades name a portfolio (migration 0020).
_NAMING_KEYS = frozenset({"fk_orders_user_id_portfolios", "fk_trades_user_id_portfolios"})


@asynccontextmanager
async def refusing_deleted(portfolio_id: uuid.UUID | None) -> AsyncIterator[None]:
    """Answer a write naming a portfolio deleted after it was checked (its insert waited for
    the delete's lock, then failed the foreign key) as for an unknown one, not a 500."""
    try:
        yield
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
        if constraint in _NAMING_KEYS:
            raise _unknown(portfolio_id) from None
        raise


def _unknown(portfolio_id: uuid.UUID | None) -> InvalidOrder:
    return InvalidOrder(f"portfolio {portfolio_id} is not one of your portfolios",
                        code="unknown_portfolio", details={"field": "portfolio_id"})


def parse_id(raw_id: str) -> uuid.UUID:
    """The portfolio id of a path; one that is not a UUID names no portfolio of yours (404)."""
    try:
        return uuid.UUID(raw_id)
    except ValueError:
        raise _not_found(raw_id) from None


async def owned_id(conn: AsyncConnection, user_id: uuid.UUID,
                   portfolio_id: uuid.UUID | None) -> uuid.UUID | None:
    """The portfolio an order or a trade names, checked to be the user's; another user's is
    refused as one that does not exist (422 naming `portfolio_id`)."""
    if portfolio_id is None:
        return None
    if await portfolios.get(conn, user_id, portfolio_id) is None:
        raise _unknown(portfolio_id)
    return portfolio_id


async def create(conn: AsyncConnection, user_id: uuid.UUID, name: str,
                 description: str | None) -> dict[str, Any]:
    """Store a new portfolio; 409 if the name is taken, 422 past the per-user cap."""
    await portfolios.lock_owner(conn, user_id)
    if await portfolios.count_for_user(conn, user_id) >= MAX_PORTFOLIOS_PER_USER:
        raise InvalidOrder(f"a user may hold at most {MAX_PORTFOLIOS_PER_USER} portfolios",
                           code="too_many_portfolios",
                           details={"field": None, "limit": MAX_PORTFOLIOS_PER_USER})
    key = portfolio_key(name)
    if await portfolios.name_taken(conn, user_id, key):
        raise _name_taken(name)
    return _out(await portfolios.insert(conn, user_id, name, key, description))


async def list_page(conn: AsyncConnection, user_id: uuid.UUID, limit: int,
                    cursor: str | None) -> dict[str, Any]:
    """A page of the user's portfolios, newest first."""
    after = read_keyset_cursor(cursor) if cursor else None
    rows = await portfolios.list_page(conn, user_id, limit, after)
    last = rows[-1] if len(rows) == limit else None
    return {"items": [_out(row) for row in rows],
            "next_cursor": keyset_cursor(last["created_at"], last["id"]) if last else None}


async def update(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str,
                 body: PatchPortfolio) -> dict[str, Any]:
    """Change the name or description of one of the user's portfolios; 409 if another of
    theirs has the name."""
    portfolio_id = parse_id(raw_id)
    fields: dict[str, Any] = {}
    if "description" in body.model_fields_set:
        fields["description"] = body.description
    if body.name is not None:
        await portfolios.lock_owner(conn, user_id)
        key = portfolio_key(body.name)
        if await portfolios.name_taken(conn, user_id, key, other_than=portfolio_id):
            raise _name_taken(body.name)
        fields |= {"name": body.name, "name_key": key}
    row = await portfolios.update(conn, user_id, portfolio_id, fields)
    if row is None:
        raise _not_found(raw_id)
    return _out(row)


async def delete(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> None:
    """Delete one of the user's portfolios; 409 while an order or a trade names it."""
    portfolio_id = parse_id(raw_id)
    # Locked first: an order or trade naming it meanwhile waits, then finds it gone.
    if await portfolios.get(conn, user_id, portfolio_id, lock=True) is None:
        raise _not_found(raw_id)
    named = await portfolios.references(conn, user_id, portfolio_id)
    if named["orders"] or named["trades"]:
        raise Conflict(f"portfolio {raw_id} is named by {named['orders']} orders and "
                       f"{named['trades']} journaled trades; it keeps their history and "
                       "cannot be deleted (rename it instead)", code="portfolio_in_use",
                       details={"field": "portfolio_id", "orders": named["orders"],
                                "trades": named["trades"]})
    await portfolios.delete(conn, user_id, portfolio_id)


async def owned(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> uuid.UUID:
    """The id of one of the user's portfolios; 404 for another user's or none."""
    portfolio_id = parse_id(raw_id)
    if await portfolios.get(conn, user_id, portfolio_id) is None:
        raise _not_found(raw_id)
    return portfolio_id


async def detail(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> dict[str, Any]:
    """One of the user's portfolios with its positions and P&L per account and currency."""
    portfolio_id = parse_id(raw_id)
    row = await portfolios.get(conn, user_id, portfolio_id)
    if row is None:
        raise _not_found(raw_id)
    entries = await portfolios.entries(conn, user_id, portfolio_id)
    held = books(((e["account_id"], e["symbol"]), _trade(e)) for e in entries)
    about = {(e["account_id"], e["symbol"]): e for e in entries}
    positions = [_position(about[key], book) for key, book in held.items()]
    accounts = _per_account(about, held)
    return {**_out(row), "positions": [position_view(p) for p in positions],
            "accounts": accounts, "totals": per_currency(accounts, _SUMMED)}


def _trade(entry: RowMapping) -> Trade:
    return Trade(Side(entry["side"]), entry["quantity"], entry["price"], entry["charges"])


def _position(entry: RowMapping, book: Book) -> dict[str, Any]:
    """A position row in the shape GET /positions marks (api.accounts.router.position_view)."""
    position = book.position
    return {"account_id": entry["account_id"], "broker": entry["broker"],
            "currency": entry["currency"], "symbol": entry["symbol"],
            "quantity": position.quantity, "avg_price": position.avg_price,
            "realized_pnl": position.realized_pnl, "mark": entry["mark"]}


def _per_account(about: dict[tuple[uuid.UUID, str], RowMapping],
                 held: dict[tuple[uuid.UUID, str], Book]) -> list[dict[str, Any]]:
    """Each account's positions valued in its currency (an unmarked one at cost)."""
    grouped: dict[uuid.UUID, list[tuple[tuple[uuid.UUID, str], Book]]] = {}
    for key, book in held.items():
        grouped.setdefault(key[0], []).append((key, book))
    accounts = []
    for account_id, items in grouped.items():
        first = about[items[0][0]]
        value = valuation((book.position, about[key]["mark"]) for key, book in items)
        amounts = {"market_value": value.market_value, "realized_pnl": value.realized_pnl,
                   "unrealized_pnl": value.unrealized_pnl,
                   "total_pnl": value.realized_pnl + value.unrealized_pnl,
                   "charges": sum((book.charges for _, book in items), Decimal(0))}
        accounts.append({"account_id": str(account_id), "broker": first["broker"],
                         "currency": first["currency"],
                         **{name: json_value(v) for name, v in amounts.items()}})
    return accounts


def _out(row: RowMapping) -> dict[str, Any]:
    return {name: json_value(row[name]) for name in PortfolioOut.model_fields}


def _not_found(raw_id: str) -> NotFound:
    return NotFound(f"portfolio {raw_id} not found", details={"field": "portfolio_id"})


def _name_taken(name: str) -> Conflict:
    return Conflict(f"you already have a portfolio named {name!r}",
                    code="portfolio_name_taken", details={"field": "name"})

