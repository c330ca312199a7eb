"""Opaque keyset cursors of the watchlist pages: a watchlist's (created_at, id), an item's
(position, symbol)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

from api.errors import ApiError
from shared.db.repositories.pages import Cursor
from shared.db.repositories.watchlists import ItemCursor


def _encode(first: str, second: str) -> str:
    return base64.urlsafe_b64encode(f"{first}|{second}".encode()).decode()


def _decode(cursor: str) -> tuple[str, str]:
    first, second = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    return first, second


def _invalid() -> ApiError:
    return ApiError(422, "cursor is not valid; pass next_cursor from a previous page",
                    code="invalid_cursor", details={"field": "cursor"})


def watchlist_cursor(created_at: datetime, watchlist_id: uuid.UUID) -> str:
    """The cursor after this watchlist."""
    return _encode(created_at.isoformat(), str(watchlist_id))


def read_watchlist_cursor(cursor: str) -> Cursor:
    """Read a watchlist_cursor; 422 `invalid_cursor` if it was not made by it."""
    try:
        created, raw_id = _decode(cursor)
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None:
            raise ValueError("naive")
        return created_at, uuid.UUID(raw_id)
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        raise _invalid() from None


def item_cursor(position: int, symbol: str) -> str:
    """The cursor after this item."""
    return _encode(str(position), symbol)


def read_item_cursor(cursor: str) -> ItemCursor:
    """Read an item_cursor; 422 `invalid_cursor` if it was not made by it."""
    try:
        position, symbol = _decode(cursor)
        # int() would also read " 7" or "٧"; a cursor we made holds ASCII digits only.
        if not position.isascii() or not position.lstrip("-").isdigit():
            raise ValueError("position")
        number = int(position)
        if not -2**31 <= number < 2**31:  # asyncpg refuses a bigger integer for the column
            raise ValueError("position")
        return number, symbol
    except (ValueError, UnicodeDecodeError):
        raise _invalid() from None
