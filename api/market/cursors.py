"""Opaque cursors of the market lists: base64 of a JSON list of strings (the last item's sort
key), so a symbol with any character in it round-trips."""

from __future__ import annotations

import base64
import json

from shared.domain.bars import InvalidMarketQuery


def encode(parts: list[str]) -> str:
    """The cursor after the item whose sort key is `parts`."""
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode()


def decode(cursor: str, size: int) -> list[str]:
    """The `size` parts of an `encode`d cursor; 422 `invalid_cursor` if it is not one."""
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:  # binascii.Error, JSONDecodeError and UnicodeDecodeError are ValueErrors
        parts = None
    if not (isinstance(parts, list) and len(parts) == size
            and all(isinstance(part, str) for part in parts)):
        raise invalid_cursor()
    return parts


def invalid_cursor() -> InvalidMarketQuery:
    """The 422 of a cursor no page handed out."""
    return InvalidMarketQuery("cursor is not valid; pass next_cursor from a previous page",
                              code="invalid_cursor", details={"field": "cursor"})
