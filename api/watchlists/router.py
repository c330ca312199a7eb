"""Watchlist routes: your lists of symbols, and each symbol with its live quote."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import EngineDep, PrincipalDep, SettingsDep
from api.pages import Limit, PageCursor
from api.paths import WATCHLIST_ID
from api.responses import SCOPED, Responses
from api.watchlists import service
from api.watchlists.schemas import (
    AddItem,
    CreateWatchlist,
    ItemOut,
    ItemPage,
    RenameWatchlist,
    Reorder,
    WatchlistOut,
    WatchlistPage,
)

router = APIRouter(prefix="/watchlists", tags=["watchlists"])


_NOT_FOUND: Responses = {
    404: {"description": "no such watchlist among yours (another user's is not found either)"},
}
_PAGE: Responses = {422: {"description": "invalid `limit` or `cursor` (`details.field`)"}}
_NAME: Responses = {
    409: {"description": "you already have a watchlist of this name, whatever its case"
                         " (`watchlist_name_taken`)"},
    422: {"description": "invalid name, or an unknown field; `details.field` names it"},
}


@router.post("", status_code=201, response_model=WatchlistOut,
             responses={**SCOPED, **_NAME, 400: {"description": "malformed JSON, or a key"
                                                              " given twice"},
                        422: {"description": "invalid name or an unknown field"
                                             " (`details.field`), or `too_many_watchlists`"}})
async def create_watchlist(body: CreateWatchlist, principal: PrincipalDep, engine: EngineDep,
                           settings: SettingsDep) -> WatchlistOut:
    """Create an empty watchlist."""
    async with engine.begin() as conn:
        return await service.create(conn, settings, principal.user_id, body.name)


@router.get("", response_model=WatchlistPage, responses={**SCOPED, **_PAGE})
async def list_watchlists(principal: PrincipalDep, engine: EngineDep, limit: Limit = 100,
                          cursor: PageCursor = None) -> WatchlistPage:
    """List your watchlists, newest first, with keyset pagination."""
    async with engine.connect() as conn:
        return await service.list_page(conn, principal.user_id, limit, cursor)


@router.get(f"/{WATCHLIST_ID}", response_model=WatchlistOut, responses={**SCOPED, **_NOT_FOUND})
async def get_watchlist(watchlist_id: str, principal: PrincipalDep,
                        engine: EngineDep) -> WatchlistOut:
    """Return one of your watchlists, with how many symbols it lists."""
    async with engine.connect() as conn:
        return await service.get(conn, principal.user_id, watchlist_id)


@router.patch(f"/{WATCHLIST_ID}", response_model=WatchlistOut,
              responses={**SCOPED, **_NOT_FOUND, **_NAME,
                         400: {"description": "malformed JSON, or a key given twice"}})
async def rename_watchlist(watchlist_id: str, body: RenameWatchlist, principal: PrincipalDep,
                           engine: EngineDep) -> WatchlistOut:
    """Rename one of your watchlists."""
    async with engine.begin() as conn:
        return await service.rename(conn, principal.user_id, watchlist_id, body.name)


@router.delete(f"/{WATCHLIST_ID}", status_code=204, response_class=Response,
               responses={**SCOPED, **_NOT_FOUND})
async def delete_watchlist(watchlist_id: str, principal: PrincipalDep,
                           engine: EngineDep) -> Response:
    """Delete one of your watchlists and the symbols in it."""
    async with engine.begin() as conn:
        await service.delete(conn, principal.user_id, watchlist_id)
    return Response(status_code=204)


@router.get(f"/{WATCHLIST_ID}/items", response_model=ItemPage,
            responses={**SCOPED, **_NOT_FOUND, **_PAGE})
async def list_items(watchlist_id: str, principal: PrincipalDep, engine: EngineDep,
                     limit: Limit = 100, cursor: PageCursor = None) -> ItemPage:
    """List a watchlist's symbols in its order, each with its live quote."""
    async with engine.connect() as conn:
        return await service.items_page(conn, principal.user_id, watchlist_id, limit, cursor)


@router.post(
    f"/{WATCHLIST_ID}/items", status_code=201, response_model=ItemOut,
    responses={**SCOPED, **_NOT_FOUND,
               400: {"description": "malformed JSON, or a key given twice"},
               409: {"description": "the symbol is already in this watchlist"
                                    " (`symbol_already_listed`)"},
               422: {"description": "a symbol not in the instrument master (`unknown_symbol`),"
                                    " an unknown field (`details.field`), or a full watchlist"
                                    " (`too_many_watchlist_items`)"}})
async def add_item(watchlist_id: str, body: AddItem, principal: PrincipalDep,
                   engine: EngineDep, settings: SettingsDep) -> ItemOut:
    """Add a symbol at the end of one of your watchlists."""
    async with engine.begin() as conn:
        return await service.add_item(conn, settings, principal.user_id, watchlist_id,
                                      body.symbol)


@router.delete(f"/{WATCHLIST_ID}/items/{{symbol}}", status_code=204, response_class=Response,
               responses={**SCOPED, 404: {"description": "no such watchlist among yours, or"
                                                        " the symbol is not in it"}})
async def remove_item(watchlist_id: str, symbol: str, principal: PrincipalDep,
                      engine: EngineDep) -> Response:
    """Remove a symbol from one of your watchlists."""
    async with engine.begin() as conn:
        await service.remove_item(conn, principal.user_id, watchlist_id, symbol.upper())
    return Response(status_code=204)


@router.put(f"/{WATCHLIST_ID}/order", status_code=204, response_class=Response,
            responses={**SCOPED, **_NOT_FOUND,
                       400: {"description": "malformed JSON, or a key given twice"},
                       422: {"description": "`symbols` does not name each listed symbol"
                                            " exactly once (`invalid_order_of_symbols`, with"
                                            " `missing` and `not_listed`)"}})
async def reorder_items(watchlist_id: str, body: Reorder, principal: PrincipalDep,
                        engine: EngineDep) -> Response:
    """Put the symbols of one of your watchlists in a new order."""
    async with engine.begin() as conn:
        await service.reorder(conn, principal.user_id, watchlist_id, body.symbols)
    return Response(status_code=204)
