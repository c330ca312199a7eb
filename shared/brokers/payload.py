"""A broker's answer read as the untrusted input it is (OWASP API10): what any adapter may
meet in one, and the one JSON reader of every broker's wire format."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Final

# What parsing a broker answer of an unexpected shape raises: a missing key, a list for an
# object, a string where a number belongs, an unknown status, "NaN" for a quantity. An
# adapter turns each into its broker error (NotSent for a read, Unknown after a change).
UNREADABLE: Final = (KeyError, IndexError, TypeError, AttributeError, ValueError,
                     ArithmeticError)


def _constant(name: str) -> None:
    raise ValueError(f"{name} is not a number a broker may send")


def loads(body: bytes | str) -> Any:
    """JSON with every fractional number a Decimal; ValueError for anything else: not UTF-8,
    not JSON, NaN or Infinity, or nested deeper than Python parses (a RecursionError)."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_constant)
    except RecursionError:
        raise ValueError("the answer nests too deep to be read") from None


# broker_order_id is a VARCHAR(64) (broker_exec_id 128): a longer id would fail its insert.
MAX_ID_LENGTH: Final = 64


def identifier(value: Any) -> str:
    """A broker's id of an order or a trade: text or a whole number, as text. ValueError for
    anything else: an object or a list would be stored as its repr, and one past
    MAX_ID_LENGTH would fail at the database."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"an id is text or a whole number, was {type(value).__name__}")
    text = str(value).strip()
    if not text or len(text) > MAX_ID_LENGTH or not text.isprintable():
        raise ValueError(f"an id is 1 to {MAX_ID_LENGTH} printable characters,"
                         f" was {text[:80]!r}")
    return text
