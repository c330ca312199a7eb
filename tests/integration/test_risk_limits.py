"""Pre-trade checks through the API: account settings, risk limits, the kill switch, sessions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.deps import get_calendar, get_clock
from api.main import create_app
from shared.clock import Clock, FixedClock
from shared.domain.sessions import Calendar
from shared.settings import Settings
from tests.helpers import register_and_login, set_quote, user_id_of

pytestmark = pytest.mark.integration

NY = ZoneInfo("America/New_York")
SETTINGS = "/api/v1/account/settings"
SATURDAY_NOON = datetime(2026, 12, 5, 12, 0, tzinfo=NY)
MONDAY_OPEN = datetime(2026, 12, 7, 9, 30, tzinfo=NY)
TUESDAY_LATE = datetime(2026, 12, 1, 15, 59, 58, tzinfo=NY)


def limit_buy(quantity: str = "10", price: str = "100", **extra: Any) -> dict[str, Any]:
    return {"symbol": "KO", "side": "BUY", "order_type": "LIMIT", "quantity": quantity,
            "price": price, **extra}


async def place(client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any],
                **headers: str) -> httpx.Response:
    return await client.post("/api/v1/orders", json=body, headers={**auth, **headers})


async def patch_settings(client: httpx.AsyncClient, auth: dict[str, str],
                         body: dict[str, Any]) -> dict[str, Any]:
    response = await client.patch(SETTINGS, json=body, headers=auth)
    assert response.status_code == 200, response.text
    settings: dict[str, Any] = response.json()
    return settings


async def order_count(engine: AsyncEngine, auth: dict[str, str]) -> int:
    async with engine.connect() as conn:
        count: int = (await conn.execute(text("SELECT count(*) FROM orders WHERE user_id = :u"),
                                         {"u": user_id_of(auth)})).scalar_one()
    return count


def refusal(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


@pytest.fixture
def market_clock(app: FastAPI) -> Iterator[Callable[[datetime], None]]:
    """Set the API's clock to an instant, with exchange hours in force (not always open)."""

    def set_to(at: datetime) -> None:
        async def clock() -> Clock:
            return FixedClock(at)

        async def calendar() -> Calendar:
            return Calendar.build()

        app.dependency_overrides[get_clock] = clock
        app.dependency_overrides[get_calendar] = calendar

    yield set_to
    app.dependency_overrides.pop(get_clock, None)
    app.dependency_overrides.pop(get_calendar, None)


# --- Account settings -------------------------------------------------------------------------

async def test_settings_start_as_wait_with_no_limits_of_the_account(
        client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.get(SETTINGS, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["broker"], body["currency"], body["outside_session"], body["halted_at"]) == (
        "paper", "USD", "wait", None)
    none = {"max_order_value": None, "max_position_value": None, "max_open_orders": None,
            "max_orders_per_second": None}
    assert body["risk_limits"] == none
    assert body["effective_risk_limits"] == body["default_risk_limits"]


async def test_patch_sets_limits_and_null_gives_back_the_default(
        client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = await patch_settings(client, auth, {
        "outside_session": "reject",
        "risk_limits": {"max_order_value": "5e4", "max_open_orders": 3}})
    assert body["outside_session"] == "reject"
    assert body["risk_limits"]["max_order_value"] == "50000"
    assert body["effective_risk_limits"]["max_open_orders"] == 3
    # Only what is named changes; null removes the account's own value.
    body = await patch_settings(client, auth, {"risk_limits": {"max_open_orders": None}})
    assert body["risk_limits"]["max_open_orders"] is None
    assert body["risk_limits"]["max_order_value"] == "50000"
    assert body["outside_session"] == "reject"
    again = (await client.get(SETTINGS, headers=auth)).json()
    assert again == body


@pytest.mark.parametrize(("patch", "field"), [
    ({"outside_session": "later"}, "outside_session"),
    ({"risk_limits": {"max_order_value": "-5"}}, "risk_limits.max_order_value"),
    ({"risk_limits": {"max_order_value": "0"}}, "risk_limits.max_order_value"),
    ({"risk_limits": {"max_order_value": "1e13"}}, "risk_limits.max_order_value"),
    ({"risk_limits": {"max_position_value": "1 000"}}, "risk_limits.max_position_value"),
    ({"risk_limits": {"max_open_orders": 0}}, "risk_limits.max_open_orders"),
    ({"risk_limits": {"max_open_orders": 2.5}}, "risk_limits.max_open_orders"),
    ({"risk_limits": {"max_orders_per_second": "5"}}, "risk_limits.max_orders_per_second"),
    ({"risk_limits": {"max_leverage": 2}}, "risk_limits.max_leverage"),
])
async def test_an_invalid_setting_is_a_422_naming_it_and_changes_nothing(
        client: httpx.AsyncClient, auth: dict[str, str], patch: dict[str, Any],
        field: str) -> None:
    before = (await client.get(SETTINGS, headers=auth)).json()
    response = await client.patch(SETTINGS, json=patch, headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field
    assert (await client.get(SETTINGS, headers=auth)).json() == before


async def test_settings_of_an_account_not_yours_are_a_404(
        client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    other = await client.get(SETTINGS, headers=auth)
    stranger = await register_and_login(client)
    for method in ("GET", "PATCH"):
        response = await client.request(
            method, SETTINGS, params={"account_id": other.json()["account_id"]},
            headers=stranger, json={"outside_session": "reject"} if method == "PATCH" else None)
        refusal(response, 404, "not_found")
    response = await client.get(SETTINGS, params={"account_id": str(uuid.uuid4())}, headers=auth)
    refusal(response, 404, "not_found")
    assert (await client.get(SETTINGS, headers=auth)).json()["outside_session"] == "wait"


# --- Risk limits ------------------------------------------------------------------------------

async def test_an_order_worth_more_than_max_order_value_is_refused_and_not_stored(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str]) -> None:
    await patch_settings(client, auth, {"risk_limits": {"max_order_value": "1000"}})
    error = refusal(await place(client, auth, limit_buy("11", "100")), 422,
                    "max_order_value_exceeded")
    assert error["details"] == {"field": "quantity", "limit": "max_order_value",
                                "limit_value": "1000", "value": "1100", "currency": "USD"}
    assert await order_count(engine, auth) == 0
    assert (await place(client, auth, limit_buy("10", "100"))).status_code == 202


async def test_a_market_order_is_valued_at_the_touch(
        client: httpx.AsyncClient, auth: dict[str, str], engine: AsyncEngine) -> None:
    await set_quote(engine, "KO", "59.98", "60.02")
    await patch_settings(client, auth, {"risk_limits": {"max_order_value": "600"}})
    market = {"symbol": "KO", "side": "BUY", "order_type": "MARKET", "quantity": "10"}
    error = refusal(await place(client, auth, market), 422, "max_order_value_exceeded")
    assert error["details"]["value"] == "600.2"  # 10 × the ask


async def test_working_buys_count_toward_max_position_value(
        client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await patch_settings(client, auth, {"risk_limits": {"max_position_value": "2500"}})
    assert (await place(client, auth, limit_buy("10", "100"))).status_code == 202
    error = refusal(await place(client, auth, limit_buy("16", "100")), 422,
                    "max_position_value_exceeded")
    assert (error["details"]["limit"], error["details"]["value"]) == ("max_position_value",
                                                                      "2600")
    assert (await place(client, auth, limit_buy("15", "100"))).status_code == 202  # 2500: at it


async def test_max_open_orders_refuses_one_more_until_one_ends(
        client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await patch_settings(client, auth, {"risk_limits": {"max_open_orders": 2}})
    first = await place(client, auth, limit_buy("1", "10"))
    assert (await place(client, auth, limit_buy("1", "10"))).status_code == 202
    error = refusal(await place(client, auth, limit_buy("1", "10")), 422,
                    "max_open_orders_exceeded")
    assert (error["details"]["limit_value"], error["details"]["value"]) == ("2", "3")
    canceled = await client.delete(f"/api/v1/orders/{first.json()['id']}", headers=auth)
    assert canceled.status_code == 202, canceled.text
    assert (await place(client, auth, limit_buy("1", "10"))).status_code == 202


@pytest.fixture
async def second_api() -> AsyncIterator[httpx.AsyncClient]:
    """Another API process's app on the same database and Redis."""
    application = create_app(Settings())
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application),
                                     base_url="http://testserver") as client:
            yield client


async def test_max_orders_per_second_holds_across_api_processes(
        client: httpx.AsyncClient, second_api: httpx.AsyncClient, engine: AsyncEngine,
        auth: dict[str, str]) -> None:
    await patch_settings(client, auth, {"risk_limits": {"max_orders_per_second": 3}})
    responses = await asyncio.gather(*(
        place(api, auth, limit_buy("1", "10"))
        for api in (client, second_api) for _ in range(6)))
    accepted = [r for r in responses if r.status_code == 202]
    refused = [r for r in responses if r.status_code != 202]
    assert len(accepted) == 3
    assert await order_count(engine, auth) == 3
    errors = [refusal(r, 422, "max_orders_per_second_exceeded") for r in refused]
    wait = max(e["details"]["retry_after_seconds"] for e in errors)
    assert all(e["details"]["limit_value"] == 3 for e in errors)
    await asyncio.sleep(wait)  # the window the answer named has passed: orders go in again
    assert (await place(second_api, auth, limit_buy("1", "10"))).status_code == 202


async def test_a_halted_account_refuses_new_orders_but_replays_an_accepted_one(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str]) -> None:
    key = {"Idempotency-Key": f"halt-{uuid.uuid4()}"}
    first = await place(client, auth, limit_buy("1", "10"), **key)
    assert first.status_code == 202, first.text
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE accounts SET halted_at = now() WHERE user_id = :u"),
                           {"u": user_id_of(auth)})
    error = refusal(await place(client, auth, limit_buy("1", "10")), 409, "account_halted")
    assert error["details"]["field"] == "account_id"
    assert error["details"]["halted_at"]
    replay = await place(client, auth, limit_buy("1", "10"), **key)
    assert (replay.status_code, replay.headers.get("Idempotent-Replayed")) == (202, "true")
    assert replay.json()["id"] == first.json()["id"]
    assert await order_count(engine, auth) == 1
    settings = (await client.get(SETTINGS, headers=auth)).json()
    assert settings["halted_at"] is not None


# --- Sessions ---------------------------------------------------------------------------------

async def test_reject_account_market_order_outside_the_session_is_market_closed(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        market_clock: Callable[[datetime], None]) -> None:
    await patch_settings(client, auth, {"outside_session": "reject"})
    market_clock(SATURDAY_NOON)
    market = {"symbol": "KO", "side": "BUY", "order_type": "MARKET", "quantity": "1"}
    error = refusal(await place(client, auth, market), 422, "market_closed")
    assert error["details"] == {"field": "order_type", "exchange": "NYSE",
                                "next_open": MONDAY_OPEN.isoformat()}
    assert "NYSE is closed" in error["message"]
    assert await order_count(engine, auth) == 0
    # A LIMIT order simply rests until the open.
    assert (await place(client, auth, limit_buy("1", "10", time_in_force="GTC"))
            ).status_code == 202


async def test_wait_account_market_order_is_accepted_and_says_it_waits_for_the_open(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        market_clock: Callable[[datetime], None]) -> None:
    market_clock(SATURDAY_NOON)
    market = {"symbol": "KO", "side": "BUY", "order_type": "MARKET", "quantity": "1"}
    response = await place(client, auth, market)
    assert response.status_code == 202, response.text
    order = response.json()
    assert order["status"] == "PENDING_NEW"
    assert order["status_detail"] == f"waits for the NYSE open at {MONDAY_OPEN.isoformat()}"
    got = (await client.get(f"/api/v1/orders/{order['id']}", headers=auth)).json()
    assert got["status_detail"] == order["status_detail"]
    # A DAY order waiting over the weekend ends at Monday's close, not Saturday's.
    assert datetime.fromisoformat(order["expire_at"]) == datetime(2026, 12, 7, 16, tzinfo=NY)


async def test_an_ioc_order_outside_the_session_is_refused_whatever_the_policy(
        client: httpx.AsyncClient, auth: dict[str, str],
        market_clock: Callable[[datetime], None]) -> None:
    market_clock(SATURDAY_NOON)
    error = refusal(await place(client, auth, limit_buy("1", "10", time_in_force="IOC")), 422,
                    "market_closed")
    assert error["details"]["field"] == "time_in_force"


async def test_inside_the_session_a_market_order_of_a_reject_account_is_accepted(
        client: httpx.AsyncClient, auth: dict[str, str],
        market_clock: Callable[[datetime], None]) -> None:
    await patch_settings(client, auth, {"outside_session": "reject"})
    market_clock(MONDAY_OPEN)
    market = {"symbol": "KO", "side": "BUY", "order_type": "MARKET", "quantity": "1"}
    response = await place(client, auth, market)
    assert response.status_code == 202, response.text
    assert response.json()["status_detail"] is None


async def test_a_paper_day_order_expires_at_the_close_of_its_session(
        client: httpx.AsyncClient, auth: dict[str, str],
        market_clock: Callable[[datetime], None]) -> None:
    market_clock(TUESDAY_LATE)
    day = (await place(client, auth, limit_buy("1", "10"))).json()
    assert datetime.fromisoformat(day["expire_at"]) == datetime(2026, 12, 1, 21, tzinfo=UTC)
    gtc = (await place(client, auth, limit_buy("1", "10", time_in_force="GTC"))).json()
    assert gtc["expire_at"] is None


async def test_a_gtd_expire_at_is_judged_by_the_clock(
        client: httpx.AsyncClient, auth: dict[str, str],
        market_clock: Callable[[datetime], None]) -> None:
    market_clock(TUESDAY_LATE)
    body = limit_buy("1", "10", time_in_force="GTD",
                     expire_at=datetime(2026, 12, 1, 15, 59, 57, tzinfo=NY).isoformat())
    error = refusal(await place(client, auth, body), 422, "invalid_order")
    assert error["details"]["field"] == "expire_at"
    body["expire_at"] = datetime(2026, 12, 1, 16, 30, tzinfo=NY).isoformat()
    response = await place(client, auth, body)
    assert response.status_code == 202, response.text


@pytest.fixture
async def api_without_redis() -> AsyncIterator[httpx.AsyncClient]:
    """An API process whose Redis is gone (nothing listens on its port)."""
    application = create_app(Settings(redis_url="redis://127.0.0.1:9/0"))
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application),
                                     base_url="http://testserver") as client:
            yield client


async def test_without_redis_an_order_rate_limit_cannot_be_checked_and_refuses_with_503(
        client: httpx.AsyncClient, api_without_redis: httpx.AsyncClient,
        engine: AsyncEngine, auth: dict[str, str]) -> None:
    assert (await place(api_without_redis, auth, limit_buy("1", "10"))).status_code == 202
    await patch_settings(client, auth, {"risk_limits": {"max_orders_per_second": 5}})
    refusal(await place(api_without_redis, auth, limit_buy("1", "10")), 503, "unavailable")
    assert await order_count(engine, auth) == 1


@pytest.mark.parametrize("limit", [
    {"max_open_orders": 4},
    {"max_position_value": "40"},  # ten BUYs of 1 at 10: four fit
])
async def test_concurrent_orders_never_overshoot_an_exposure_limit(
        client: httpx.AsyncClient, second_api: httpx.AsyncClient, engine: AsyncEngine,
        auth: dict[str, str], limit: dict[str, Any]) -> None:
    await patch_settings(client, auth, {"risk_limits": limit})
    responses = await asyncio.gather(*(
        place(api, auth, limit_buy("1", "10"))
        for api in (client, second_api) for _ in range(10)))
    accepted = [r for r in responses if r.status_code == 202]
    assert len(accepted) == 4, [r.json() for r in responses if r.status_code != 202][:1]
    assert await order_count(engine, auth) == 4
    code = f"{next(iter(limit))}_exceeded"
    assert all(refusal(r, 422, code) for r in responses if r.status_code != 202)
