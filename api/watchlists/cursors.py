"""The opaque keyset cursor of a watchlist's items: an item's (position, symbol). Watchlists
themselves page by (created_at, id): api.pages.keyset_cursor."""

from __future__ import annotations

from api.pages import decode_pair, encode_pair, invalid_cursor
from shared.db.repositories.watchlists import ItemCursor


def item_cursor(position: int, symbol: str) -> str:
    """The cursor after this item."""
    return encode_pair(str(position), symbol)


def read_item_cursor(cursor: str) -> ItemCursor:
    """Read an item_cursor; 422 `invalid_cursor` if it was not made by it."""
    try:
        position, symbol = decode_pair(cursor)
        # int() would also read " 7" or "٧"; a cursor we made holds ASCII digits only.
        if not position.isascii() or not position.lstrip("-").isdigit():
            raise ValueError("position")
        number = int(position)
        if not -2**31 <= number < 2**31:  # asyncpg refuses a bigger integer for the column
            raise ValueError("position")
        return number, symbol
    except (ValueError, UnicodeDecodeError):
        raise invalid_cursor() from None
