"""Request and response bodies of the watchlist endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from shared.domain.watchlists import MAX_NAME_LENGTH, watchlist_name

# What the domain rule measures is the name after normalising; this bound only keeps a huge
# string from being normalised at all.
_RAW_NAME_LENGTH = 4 * MAX_NAME_LENGTH
MAX_SYMBOL_LENGTH = 32


def _symbol(raw: str) -> str:
    return raw.strip().upper()


WatchlistName = Annotated[
    str, Field(min_length=1, max_length=_RAW_NAME_LENGTH, examples=["Tech"],
               description=f"1 to {MAX_NAME_LENGTH} characters, unique among your watchlists"
                           " whatever their case; white space is trimmed and collapsed"),
    AfterValidator(watchlist_name)]
Symbol = Annotated[str, Field(min_length=1, max_length=MAX_SYMBOL_LENGTH, examples=["AAPL"],
                              description="an instrument's symbol (case does not matter)"),
                   AfterValidator(_symbol)]


class CreateWatchlist(BaseModel):
    """A new, empty watchlist."""

    model_config = ConfigDict(extra="forbid")

    name: WatchlistName


class RenameWatchlist(BaseModel):
    """A watchlist's new name."""

    model_config = ConfigDict(extra="forbid")

    name: WatchlistName


class AddItem(BaseModel):
    """A symbol to list last in a watchlist."""

    model_config = ConfigDict(extra="forbid")

    symbol: Symbol


class Reorder(BaseModel):
    """Every symbol of the watchlist, each once, in the order to show them."""

    model_config = ConfigDict(extra="forbid")

    symbols: list[Symbol] = Field(max_length=1000)


class WatchlistOut(BaseModel):
    """A watchlist, without its items (GET …/items lists them)."""

    id: uuid.UUID
    name: str
    item_count: int
    created_at: AwareDatetime
    updated_at: AwareDatetime


class WatchlistPage(BaseModel):
    """A page of your watchlists, newest first."""

    items: list[WatchlistOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page;"
                                                " null on the last page")


class QuoteOut(BaseModel):
    """The instrument's current quote, as the exchange (or paper simulator) last set it."""

    bid: str
    ask: str
    last: str
    at: AwareDatetime


class ItemOut(BaseModel):
    """A listed symbol with its instrument and live quote."""

    symbol: str
    name: str
    exchange: str
    currency: str = Field(description="ISO 4217 code of the quote's prices")
    position: int = Field(description="where the symbol stands in the list, from 1; gaps"
                                      " are left where symbols were removed")
    added_at: AwareDatetime
    quote: QuoteOut | None = Field(description="null while the instrument has no quote")


class ItemPage(BaseModel):
    """A page of a watchlist's symbols, in the list's order."""

    items: list[ItemOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page;"
                                                " null on the last page")
