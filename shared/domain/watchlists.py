"""Pure rules of watchlists: how a name is written, and when two names are the same."""

from __future__ import annotations

from shared.domain import names
from shared.domain.names import MAX_NAME_LENGTH as MAX_NAME_LENGTH  # re-exported


def watchlist_name(raw: str) -> str:
    """Return a watchlist name as it is shown (shared.domain.names.display_name)."""
    return names.display_name(raw, "watchlist")


def name_key(name: str) -> str:
    """The key under which a user's watchlist names are unique, whatever their case."""
    return names.name_key(name, "watchlist")
