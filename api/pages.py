"""Pages of a list route: the `limit` and `cursor` query parameters and opaque keyset cursors.

A cursor is the last item's sort key, base64 of "first|second"; `keyset_cursor` is the
(created_at, id) one that newest-first lists use.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Query

from api.errors import ApiError
from shared.db.repositories.pages import Cursor

MAX_PAGE = 500
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="items per page")]
PageCursor = Annotated[str | None, Query(max_length=200,
                                         description="`next_cursor` of the previous page")]


def encode_pair(first: str, second: str) -> str:
    """The opaque cursor of a two-part sort key."""
    return base64.urlsafe_b64encode(f"{first}|{second}".encode()).decode()


def decode_pair(cursor: str) -> tuple[str, str]:
    """The two parts of `encode_pair`'s cursor; ValueError or UnicodeDecodeError if not one."""
    first, second = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    return first, second


def invalid_cursor() -> ApiError:
    """The 422 of a cursor no page handed out."""
    return ApiError(422, "cursor is not valid; pass next_cursor from a previous page",
                    code="invalid_cursor", details={"field": "cursor"})


def keyset_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    """The cursor after the row created at `created_at` with id `row_id`."""
    return encode_pair(created_at.isoformat(), str(row_id))


def read_keyset_cursor(cursor: str) -> Cursor:
    """Read a keyset_cursor; 422 `invalid_cursor` if it was not made by it."""
    try:
        created, raw_id = decode_pair(cursor)
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None:
            raise ValueError("naive")
        return created_at, uuid.UUID(raw_id)
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        raise invalid_cursor() from None
