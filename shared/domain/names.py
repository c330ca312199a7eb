"""Pure rules of the names users give their things (watchlists, portfolios): how a name is
written, and when two names are the same."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

MAX_NAME_LENGTH: Final = 64
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPACES: Final = re.compile(r"\s+")


def display_name(raw: str, what: str) -> str:
    """Return the name of a `what` (say "watchlist") as it is shown; ValueError if it is empty,
    longer than MAX_NAME_LENGTH or holds control characters.

    NFKC, so that a full-width "Ｔｅｃｈ" is stored as "Tech"; runs of white space become one
    space, and none is kept at either end.
    """
    if _CONTROL.search(raw):
        raise ValueError(f"a {what} name may not contain control characters")
    text = _SPACES.sub(" ", unicodedata.normalize("NFKC", raw)).strip()
    if not text:
        raise ValueError(f"a {what} name may not be empty")
    if len(text) > MAX_NAME_LENGTH:
        raise ValueError(f"a {what} name is at most {MAX_NAME_LENGTH} characters,"
                         f" was {len(text)}")
    return text


def name_key(name: str, what: str) -> str:
    """The key under which a user's names of one kind are unique, whatever their case.

    Casefolded, so "Straße" and "STRASSE" are one name (SQL's lower() would keep them apart).
    """
    return display_name(name, what).casefold()
