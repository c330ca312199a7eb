"""The trades journal: trades done outside ordergate, booked into positions and cash as fills
are. Services never commit; the router owns the transaction.

A trade changes its account's cash by its amount less its charges, as a fill does; adding,
changing or deleting one rebuilds the position of its (account, symbol) from every fill and
trade of it in the order they executed (shared.domain.portfolio.replay), so a back-dated
trade lands where it belongs and a deleted one leaves no trace.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from api.pages import keyset_cursor, read_keyset_cursor
from api.portfolio import books
from api.portfolio.periods import require_order, require_zones
from api.portfolio.schemas import TradeIn, TradeOut
from shared.db.repositories import accounts, trades
from shared.domain.enums import Side
from shared.domain.errors import InvalidOrder, NotFound
from shared.domain.portfolio import Trade, check_trade, replay, trade_cash
from shared.domain.values import ZERO
from shared.market import tradebook_files
from shared.market.instrument_files import BadRow, FileFormatError
from shared.market.tradebook_files import TradebookRow
from shared.messaging.order_view import json_value

Book = tuple[uuid.UUID, uuid.UUID, str]  # account, user, symbol


def _not_found(raw_id: str) -> NotFound:
    return NotFound(f"trade {raw_id} not found", details={"field": "trade_id"})


def parse_id(raw_id: str) -> uuid.UUID:
    """The trade id of a path; one that is not a UUID names no trade of yours (404)."""
    try:
        return uuid.UUID(raw_id)
    except ValueError:
        raise _not_found(raw_id) from None


def trade_out(row: RowMapping) -> dict[str, Any]:
    """Shape a stored trade (TradeOut), amounts as exact decimal strings."""
    return {name: json_value(row[name]) for name in TradeOut.model_fields}


def as_trade(row: RowMapping) -> Trade:
    """The execution a stored trade (or its new fields) describes, with its charges."""
    return Trade(Side(row["side"]), row["quantity"], row["price"],
                 row["brokerage_charge"] + row["mtf_charge"])


async def account_for(conn: AsyncConnection, user_id: uuid.UUID,
                      account_id: uuid.UUID | None) -> RowMapping:
    """The user's account a trade books in (default paper); 404 for another user's."""
    if account_id is None:
        account = await accounts.get_for_user(conn, user_id)
    else:
        account = await accounts.get_owned(conn, user_id, account_id)
    if account is None:
        raise NotFound(f"account {account_id or 'paper'} not found",
                       details={"field": "account_id"})
    return account


async def check_symbol(conn: AsyncConnection, symbol: str, account: RowMapping) -> None:
    """422 unless `symbol` is in the instrument master, in the account's currency."""
    instrument = await trades.instrument(conn, symbol)
    if instrument is None:
        raise InvalidOrder(f"unknown symbol {symbol}", code="unknown_symbol",
                           details={"field": "symbol", "value": symbol})
    if instrument["currency"] != account["currency"]:
        raise InvalidOrder(
            f"{symbol} trades in {instrument['currency']}, account {account['id']} holds "
            f"{account['currency']}", code="currency_mismatch", details={"field": "account_id"})


async def _fields(conn: AsyncConnection, user_id: uuid.UUID, body: TradeIn,
                  now: datetime) -> dict[str, Any]:
    check_trade(body.quantity, body.price, {"brokerage_charge": body.brokerage_charge,
                                            "mtf_charge": body.mtf_charge},
                body.executed_at, now)
    account = await account_for(conn, user_id, body.account_id)
    await check_symbol(conn, body.symbol, account)
    await books.owned_id(conn, user_id, body.portfolio_id)
    return {**body.model_dump(exclude={"account_id"}), "side": body.side.value,
            "account_id": account["id"]}


async def rebook(conn: AsyncConnection, books: Iterable[Book],
                 cash: Sequence[tuple[uuid.UUID, Decimal]]) -> None:
    """Rebuild these positions from their fills and trades and move each account's cash by
    its delta, every lock taken first in the fill path's global order."""
    wanted = sorted(set(books), key=lambda b: (str(b[0]), b[2]))
    held = await accounts.lock_books(conn, wanted)
    written = []
    for account_id, _, symbol in wanted:
        position = replay(Trade(Side(row["side"]), row["quantity"], row["price"], ZERO)
                          for row in await trades.history(conn, account_id, symbol))
        if position.quantity < held[(account_id, symbol)]["reserved_quantity"]:
            raise InvalidOrder(
                f"working SELL orders hold {held[(account_id, symbol)]['reserved_quantity']} "
                f"{symbol}; the trades would leave {position.quantity}",
                code="insufficient_position", details={"field": "quantity"})
        written.append((account_id, symbol, position.quantity, position.avg_price,
                        position.realized_pnl, ZERO))
    await accounts.write_positions(conn, written)
    moves: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    for account_id, delta in cash:
        moves[account_id] += delta
    await accounts.move_cash(conn, [(account_id, delta, ZERO)
                                    for account_id, delta in moves.items() if delta != 0])


async def create(conn: AsyncConnection, user_id: uuid.UUID, body: TradeIn,
                 now: datetime) -> dict[str, Any]:
    """Journal a trade and book it."""
    fields = await _fields(conn, user_id, body, now)
    async with books.refusing_deleted(body.portfolio_id):
        row = await trades.insert(conn, user_id, fields)
    await rebook(conn, [(row["account_id"], user_id, row["symbol"])],
                 [(row["account_id"], trade_cash(as_trade(row)))])
    return trade_out(row)


async def get(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> dict[str, Any]:
    """One of the user's trades."""
    row = await trades.get_owned(conn, user_id, parse_id(raw_id))
    if row is None:
        raise _not_found(raw_id)
    return trade_out(row)


async def replace(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str, body: TradeIn,
                  now: datetime) -> dict[str, Any]:
    """Replace one of the user's trades and rebook what it touched, before and after."""
    trade_id = parse_id(raw_id)
    old = await trades.get_owned(conn, user_id, trade_id, lock=True)
    if old is None:
        raise _not_found(raw_id)
    fields = await _fields(conn, user_id, body, now)
    async with books.refusing_deleted(body.portfolio_id):
        new = await trades.replace(conn, user_id, trade_id, fields)
    await rebook(conn, [(old["account_id"], user_id, old["symbol"]),
                        (new["account_id"], user_id, new["symbol"])],
                 [(old["account_id"], -trade_cash(as_trade(old))),
                  (new["account_id"], trade_cash(as_trade(new)))])
    return trade_out(new)


async def delete(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> None:
    """Delete one of the user's trades and take it out of its position and cash."""
    trade_id = parse_id(raw_id)
    old = await trades.get_owned(conn, user_id, trade_id, lock=True)
    if old is None:
        raise _not_found(raw_id)
    await trades.delete(conn, user_id, trade_id)
    await rebook(conn, [(old["account_id"], user_id, old["symbol"])],
                 [(old["account_id"], -trade_cash(as_trade(old)))])


async def list_page(conn: AsyncConnection, user_id: uuid.UUID, *, symbol: str | None,
                    since: datetime | None, until: datetime | None, limit: int,
                    cursor: str | None) -> dict[str, Any]:
    """A page of the user's trades, the latest executed first."""
    require_zones(**{"from": since, "to": until})
    require_order(since, until)
    after = read_keyset_cursor(cursor) if cursor else None
    rows = await trades.page(conn, user_id, symbol=symbol, since=since, until=until,
                             limit=limit, after=after)
    last = rows[-1] if len(rows) == limit else None
    return {"items": [trade_out(row) for row in rows],
            "next_cursor": keyset_cursor(last["executed_at"], last["id"]) if last else None}


MAX_REPORTED = 100  # bad rows named in one answer


async def import_tradebook(conn: AsyncConnection, user_id: uuid.UUID,
                           account_id: uuid.UUID | None, lines: Iterable[str],
                           now: datetime, *,
                           portfolio_id: uuid.UUID | None = None) -> dict[str, Any]:
    """Journal a Zerodha tradebook's trades in the account, all or none: any bad row is a
    422 naming every bad line, and nothing is imported. A trade id the account already has
    is left as it is, so importing a file again changes nothing."""
    account = await account_for(conn, user_id, account_id)
    try:
        parsed = list(tradebook_files.read(lines))
    except FileFormatError as error:
        raise InvalidOrder(str(error), code="invalid_tradebook", details={"bad_rows": []}) \
            from None
    good = [row for row in parsed if isinstance(row, TradebookRow)]
    known = await trades.currencies(conn, sorted({row.symbol for row in good}))
    bad = [row for row in parsed if isinstance(row, BadRow)]
    for row in good:
        reason = _refusal(row, known.get(row.symbol), account["currency"], now)
        if reason:
            bad.append(BadRow(row.line, reason))
    if bad:
        bad.sort(key=lambda item: item.line)
        raise InvalidOrder(f"{len(bad)} bad rows in the tradebook: nothing was imported",
                           code="invalid_tradebook", details={"bad_rows": [
                               {"line": row.line, "reason": row.reason}
                               for row in bad[:MAX_REPORTED]]})
    async with books.refusing_deleted(portfolio_id):
        added = await _insert_imported(conn, user_id, account["id"], good, portfolio_id)
    touched = {row["symbol"] for row in added}
    await rebook(conn, [(account["id"], user_id, symbol) for symbol in touched],
                 [(account["id"], trade_cash(as_trade(row))) for row in added])
    return {"account_id": str(account["id"]), "trades": len(good), "imported": len(added),
            "already_journaled": len(good) - len(added)}


async def _insert_imported(conn: AsyncConnection, user_id: uuid.UUID, account_id: uuid.UUID,
                           good: Sequence[TradebookRow],
                           portfolio_id: uuid.UUID | None) -> Sequence[RowMapping]:
    return await trades.insert_many(conn, user_id, account_id, [
        {"symbol": row.symbol, "side": row.side.value, "quantity": row.quantity,
         "price": row.price, "executed_at": row.executed_at, "brokerage_charge": ZERO,
         "mtf_charge": ZERO, "type": row.type, "notes": None, "external_id": row.trade_id,
         "portfolio_id": portfolio_id}
        for row in good])


def _refusal(row: TradebookRow, instrument: RowMapping | None, currency: str,
             now: datetime) -> str | None:
    if instrument is None:
        return f"unknown symbol {row.symbol} (not in the instrument master)"
    if instrument["currency"] != currency:
        return f"{row.symbol} trades in {instrument['currency']}, the account holds {currency}"
    try:
        check_trade(row.quantity, row.price, {}, row.executed_at, now)
    except InvalidOrder as refused:
        return str(refused)
    return None
