"""Watchlists through the real API and PostgreSQL: names, items with live quotes, order,
ownership, caps, validation and keyset pagination."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import get_ok, new_instrument, register_and_login, set_quote
from tests.integration.test_order_responses import OpenApi

pytestmark = pytest.mark.integration

LISTS = "/api/v1/watchlists"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def api(client: httpx.AsyncClient) -> OpenApi:
    return OpenApi((await client.get("/openapi.json")).json())


@pytest.fixture
def caps(app: FastAPI) -> Iterator[None]:
    """Small caps (3 watchlists, 3 items) for this test only."""
    original = app.state.settings
    app.state.settings = original.model_copy(
        update={"max_watchlists_per_user": 3, "max_watchlist_items": 3})
    try:
        yield
    finally:
        app.state.settings = original


async def create(client: httpx.AsyncClient, auth: dict[str, str], name: str) -> dict[str, Any]:
    response = await client.post(LISTS, json={"name": name}, headers=auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def add(client: httpx.AsyncClient, auth: dict[str, str], watchlist_id: str,
              symbol: str) -> dict[str, Any]:
    response = await client.post(f"{LISTS}/{watchlist_id}/items", json={"symbol": symbol},
                                 headers=auth)
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()
    return item


def error_of(api: OpenApi, response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error of a response that must have this status and code, as its route declares."""
    assert response.status_code == status, response.text
    api.check(response)
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


async def walk(client: httpx.AsyncClient, auth: dict[str, str], path: str,
               limit: int) -> list[list[dict[str, Any]]]:
    """Every page of a list, following next_cursor to the end."""
    pages: list[list[dict[str, Any]]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        page = (await client.get(path, params=params, headers=auth)).json()
        pages.append(page["items"])
        if page["next_cursor"] is None:
            return pages
        params["cursor"] = page["next_cursor"]


async def test_a_watchlist_is_created_read_renamed_and_deleted(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi,
) -> None:
    created = await create(client, auth, "  Tech   giants ")
    assert created["name"] == "Tech giants"  # trimmed, spaces collapsed
    assert created["item_count"] == 0

    path = f"{LISTS}/{created['id']}"
    assert await get_ok(client, auth, path) == created
    renamed = await client.patch(path, json={"name": "Mega caps"}, headers=auth)
    assert renamed.status_code == 200, renamed.text
    api.check(renamed)
    assert renamed.json()["name"] == "Mega caps"
    assert (await get_ok(client, auth, LISTS))["items"] == [renamed.json()]

    assert (await client.delete(path, headers=auth)).status_code == 204
    error_of(api, await client.get(path, headers=auth), 404, "not_found")
    assert (await get_ok(client, auth, LISTS))["items"] == []


async def test_symbols_are_listed_in_their_order_with_their_quotes_and_removed(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], api: OpenApi,
) -> None:
    first, second = await new_instrument(engine, "100.00"), await new_instrument(engine, "50.00")
    watchlist = await create(client, auth, "Mine")
    added = await add(client, auth, watchlist["id"], first.lower())  # case does not matter
    await add(client, auth, watchlist["id"], second)

    assert added["symbol"] == first
    assert added["quote"] == {"bid": "99.99", "ask": "100.01", "last": "100",
                              "at": added["quote"]["at"]}
    page = await client.get(f"{LISTS}/{watchlist['id']}/items", headers=auth)
    api.check(page)
    assert [(i["symbol"], i["position"]) for i in page.json()["items"]] == [(first, 1),
                                                                          (second, 2)]
    assert page.json()["items"][1]["currency"] == "USD"
    assert (await get_ok(client, auth, f"{LISTS}/{watchlist['id']}"))["item_count"] == 2

    removed = await client.delete(f"{LISTS}/{watchlist['id']}/items/{first}", headers=auth)
    assert removed.status_code == 204
    listed = await get_ok(client, auth, f"{LISTS}/{watchlist['id']}/items")
    assert [i["symbol"] for i in listed["items"]] == [second]
    again = await client.delete(f"{LISTS}/{watchlist['id']}/items/{first}", headers=auth)
    assert error_of(api, again, 404, "not_found")["details"]["field"] == "symbol"


async def test_the_listed_quote_changes_when_the_quote_changes(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
) -> None:
    symbol = await new_instrument(engine, "100.00")
    watchlist = await create(client, auth, "Live")
    await add(client, auth, watchlist["id"], symbol)

    await set_quote(engine, symbol, "120.00", "120.50")
    listed = await get_ok(client, auth, f"{LISTS}/{watchlist['id']}/items")

    quote = listed["items"][0]["quote"]
    assert (quote["bid"], quote["ask"], quote["last"]) == ("120", "120.5", "120.25")


async def test_symbols_are_reordered_only_as_a_whole(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], api: OpenApi,
) -> None:
    symbols = [await new_instrument(engine) for _ in range(3)]
    watchlist = await create(client, auth, "Ordered")
    for symbol in symbols:
        await add(client, auth, watchlist["id"], symbol)
    order = f"{LISTS}/{watchlist['id']}/order"

    wanted = [symbols[2], symbols[0], symbols[1]]
    assert (await client.put(order, json={"symbols": wanted}, headers=auth)).status_code == 204
    listed = await get_ok(client, auth, f"{LISTS}/{watchlist['id']}/items")
    assert [i["symbol"] for i in listed["items"]] == wanted

    partial = await client.put(order, json={"symbols": wanted[:2]}, headers=auth)
    error = error_of(api, partial, 422, "invalid_order_of_symbols")
    assert error["details"] == {"field": "symbols", "missing": [wanted[2]], "not_listed": []}
    twice = await client.put(order, json={"symbols": [*wanted, wanted[0]]}, headers=auth)
    error_of(api, twice, 422, "invalid_order_of_symbols")
    listed = await get_ok(client, auth, f"{LISTS}/{watchlist['id']}/items")
    assert [i["symbol"] for i in listed["items"]] == wanted  # nothing changed


async def test_another_users_watchlist_and_its_items_are_not_found(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], api: OpenApi,
) -> None:
    symbol = await new_instrument(engine)
    theirs = await create(client, auth, "Private")
    await add(client, auth, theirs["id"], symbol)
    other = await register_and_login(client)
    path = f"{LISTS}/{theirs['id']}"

    answers = [
        await client.get(path, headers=other),
        await client.patch(path, json={"name": "Taken over"}, headers=other),
        await client.delete(path, headers=other),
        await client.get(f"{path}/items", headers=other),
        await client.post(f"{path}/items", json={"symbol": symbol}, headers=other),
        await client.delete(f"{path}/items/{symbol}", headers=other),
        await client.put(f"{path}/order", json={"symbols": [symbol]}, headers=other),
    ]

    for answer in answers:
        assert error_of(api, answer, 404, "not_found")["details"]["field"] == "watchlist_id"
    # No UUID, no route: the same 404 as any path that names nothing.
    error_of(api, await client.get(f"{LISTS}/not-a-uuid", headers=other), 404, "not_found")
    assert (await get_ok(client, other, LISTS))["items"] == []
    mine = await get_ok(client, auth, path)
    assert (mine["name"], mine["item_count"]) == ("Private", 1)


async def test_names_are_unique_per_user_whatever_their_case(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi,
) -> None:
    await create(client, auth, "Straße")
    other = await create(client, auth, "Banks")

    taken = await client.post(LISTS, json={"name": "STRASSE"}, headers=auth)
    assert error_of(api, taken, 409, "watchlist_name_taken")["details"]["field"] == "name"
    full_width = await client.post(LISTS, json={"name": "ｓｔｒａｓｓｅ"}, headers=auth)
    error_of(api, full_width, 409, "watchlist_name_taken")
    renamed = await client.patch(f"{LISTS}/{other['id']}", json={"name": "straße"},
                                 headers=auth)
    error_of(api, renamed, 409, "watchlist_name_taken")
    # Its own name in another case is no clash, and another user may use the name.
    recased = await client.patch(f"{LISTS}/{other['id']}", json={"name": "BANKS"}, headers=auth)
    assert recased.status_code == 200, recased.text
    await create(client, await register_and_login(client), "Straße")


async def test_an_unknown_or_already_listed_symbol_is_refused(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], api: OpenApi,
) -> None:
    symbol = await new_instrument(engine)
    watchlist = await create(client, auth, "Checked")
    items = f"{LISTS}/{watchlist['id']}/items"
    await add(client, auth, watchlist["id"], symbol)

    unknown = await client.post(items, json={"symbol": "NOPE123"}, headers=auth)
    assert error_of(api, unknown, 422, "unknown_symbol")["details"]["field"] == "symbol"
    twice = await client.post(items, json={"symbol": symbol.lower()}, headers=auth)
    assert error_of(api, twice, 409, "symbol_already_listed")["details"]["field"] == "symbol"
    assert (await get_ok(client, auth, f"{LISTS}/{watchlist['id']}"))["item_count"] == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x" * 65}, "name"),
    ({"name": "x" * 100_000}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "tab\there"}, "name"),
    ({"name": 7}, "name"),
    ({}, "name"),
    ({"name": "ok", "color": "red"}, "color"),
], ids=["too-long", "huge", "blank", "control-character", "not-a-string", "missing",
        "unknown-field"])
async def test_a_bad_watchlist_body_is_422_naming_the_field(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi, body: dict[str, Any],
    field: str,
) -> None:
    response = await client.post(LISTS, json=body, headers=auth)

    assert error_of(api, response, 422, "invalid_request")["details"]["field"] == field
    assert (await get_ok(client, auth, LISTS))["items"] == []


async def test_a_duplicate_json_key_is_400_naming_it(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi,
) -> None:
    response = await client.post(LISTS, content='{"name": "a", "name": "b"}',
                                 headers={**auth, **JSON})

    assert error_of(api, response, 400, "duplicate_key")["details"]["field"] == "name"
    assert (await get_ok(client, auth, LISTS))["items"] == []


async def test_a_user_holds_at_most_the_configured_watchlists_and_items(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], api: OpenApi,
    caps: None,
) -> None:
    made = [await create(client, auth, f"List {n}") for n in range(3)]
    symbols = [await new_instrument(engine) for _ in range(4)]
    for symbol in symbols[:3]:
        await add(client, auth, made[0]["id"], symbol)

    one_more = await client.post(LISTS, json={"name": "List 4"}, headers=auth)
    error = error_of(api, one_more, 422, "too_many_watchlists")
    assert error["details"]["limit"] == 3
    full = await client.post(f"{LISTS}/{made[0]['id']}/items", json={"symbol": symbols[3]},
                             headers=auth)
    assert error_of(api, full, 422, "too_many_watchlist_items")["details"]["limit"] == 3
    # Deleting makes room again.
    await client.delete(f"{LISTS}/{made[0]['id']}/items/{symbols[0]}", headers=auth)
    await add(client, auth, made[0]["id"], symbols[3])
    await client.delete(f"{LISTS}/{made[1]['id']}", headers=auth)
    await create(client, auth, "List 4")


async def test_concurrent_requests_never_pass_the_caps(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str], caps: None,
) -> None:
    creates = await asyncio.gather(*(client.post(LISTS, json={"name": f"Race {n}"},
                                                 headers=auth) for n in range(6)))
    made = [r.json() for r in creates if r.status_code == 201]
    symbols = [await new_instrument(engine) for _ in range(6)]
    adds = await asyncio.gather(*(client.post(f"{LISTS}/{made[0]['id']}/items",
                                              json={"symbol": s}, headers=auth)
                                  for s in symbols))

    assert sorted(r.status_code for r in creates) == [201] * 3 + [422] * 3
    assert sorted(r.status_code for r in adds) == [201] * 3 + [422] * 3
    listed = await get_ok(client, auth, f"{LISTS}/{made[0]['id']}/items")
    assert sorted(i["position"] for i in listed["items"]) == [1, 2, 3]


async def test_watchlists_page_newest_first_without_gaps_or_repeats(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    made = [(await create(client, auth, f"List {n:02}"))["id"] for n in range(20)]

    pages = await walk(client, auth, LISTS, limit=3)

    assert len(pages) == 7  # the seventh, deep page holds the last two
    assert [w["id"] for page in pages for w in page] == made[::-1]


async def test_items_page_in_list_order_without_gaps_or_repeats(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
) -> None:
    watchlist = await create(client, auth, "Long")
    symbols = [await new_instrument(engine) for _ in range(23)]
    for symbol in symbols:
        await add(client, auth, watchlist["id"], symbol)
    # A gap in the positions (4 removed) and a new symbol at the end.
    await client.delete(f"{LISTS}/{watchlist['id']}/items/{symbols[3]}", headers=auth)
    expected = [s for s in symbols if s != symbols[3]]

    pages = await walk(client, auth, f"{LISTS}/{watchlist['id']}/items", limit=5)

    assert [len(page) for page in pages] == [5, 5, 5, 5, 2]
    assert [i["symbol"] for page in pages for i in page] == expected


@pytest.mark.parametrize("cursor", ["garbage", "bm90IGEgY3Vyc29y", "eHx5"])
async def test_a_cursor_not_made_by_the_api_is_422_naming_it(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi, cursor: str,
) -> None:
    watchlist = await create(client, auth, "Any")

    for path in (LISTS, f"{LISTS}/{watchlist['id']}/items"):
        response = await client.get(path, params={"cursor": cursor}, headers=auth)
        assert error_of(api, response, 422, "invalid_cursor")["details"]["field"] == "cursor"


async def test_the_openapi_document_declares_each_route_with_its_error_statuses(
    api: OpenApi,
) -> None:
    declared = {(method, path): set(operation["responses"])
                for path, operations in api.document["paths"].items()
                for method, operation in operations.items()
                if path.startswith(("/api/v1/watchlists", "/api/v1/settings/"))}

    one = f"{LISTS}/{{watchlist_id}}"
    edge, body = {"429", "503", "504"}, {"408", "413", "415"}  # on every route / JSON body
    # FastAPI declares a 422 on every route with parameters, whether it can happen or not.
    assert declared == {
        ("post", LISTS): {"201", "400", "401", "403", "409", "422"} | edge | body,
        ("get", LISTS): {"200", "401", "403", "422"} | edge,
        ("get", one): {"200", "401", "403", "404", "422"} | edge,
        ("patch", one): {"200", "400", "401", "403", "404", "409", "422"} | edge | body,
        ("delete", one): {"204", "401", "403", "404", "422"} | edge,
        ("get", f"{one}/items"): {"200", "401", "403", "404", "422"} | edge,
        ("post", f"{one}/items"): {"201", "400", "401", "403", "404", "409", "422"} | edge | body,
        ("delete", f"{one}/items/{{symbol}}"): {"204", "401", "403", "404", "422"} | edge,
        ("put", f"{one}/order"): {"204", "400", "401", "403", "404", "422"} | edge | body,
        ("get", "/api/v1/settings/profile"): {"200", "401", "403"} | edge,
        ("put", "/api/v1/settings/profile"): {"200", "400", "401", "403", "422"} | edge | body,
        ("get", "/api/v1/settings/preferences"): {"200", "401", "403"} | edge,
        ("put", "/api/v1/settings/preferences"): {"200", "400", "401", "403", "404", "422"}
        | edge | body,
    }
