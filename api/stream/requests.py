"""What a stream client may send: JSON objects with an `action`, parsed defensively."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE_BYTES = 16_384
ACTIONS = frozenset({"auth", "subscribe", "unsubscribe"})


class BadRequest(ValueError):
    """A client message the stream refuses; `code` names why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Request:
    """One parsed client message."""

    action: str
    body: dict[str, Any]


def parse(raw: str) -> Request:
    """Parse a client message; BadRequest for anything but a known action in a JSON object."""
    try:
        body = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as error:
        raise BadRequest("bad_json", f"a message must be a JSON object: {error}") from None
    if not isinstance(body, dict):
        raise BadRequest("bad_json", "a message must be a JSON object")
    action = body.get("action")
    if action not in ACTIONS:
        raise BadRequest("unknown_action", f"action must be one of {', '.join(sorted(ACTIONS))},"
                                           f" was {json.dumps(action)[:64]}")
    return Request(action, body)


def symbols_of(request: Request) -> list[str]:
    """The `symbols` of a subscribe or unsubscribe: a list of short strings."""
    symbols = request.body.get("symbols")
    if not isinstance(symbols, list) or not all(isinstance(s, str) and 0 < len(s) <= 32
                                                for s in symbols):
        raise BadRequest("bad_symbols", "symbols must be a list of symbol names")
    return [symbol.upper() for symbol in symbols]


def last_seq_of(value: Any) -> int | None:
    """A resume point: a non-negative integer (a query string's digits too), or absent."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    raise BadRequest("bad_last_seq", "last_seq must be a non-negative integer")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in pairs:
        if key in body:
            raise ValueError(f"duplicate key {key!r}")
        body[key] = value
    return body
