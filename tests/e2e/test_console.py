"""The trader console in a real headless Chromium (Debian's, driven by Playwright): the API
served as in production (`python -m api.server`), a real Celery worker, PostgreSQL and Redis."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from api.auth.service import BAD_CREDENTIALS
from api.console.router import CONTENT_SECURITY_POLICY
from tests.e2e.apiserver import api_process
from tests.e2e.conftest import WorkerProcess
from tests.helpers import PASSWORD, new_instrument, set_quote

pytestmark = pytest.mark.e2e
PATIENCE_MS = 60_000  # a worker process must take the order, fill or cancel it
CHROMIUM_MISSING = (
    "the console's browser test needs Debian's Chromium and found no `chromium` on PATH."
    " Install it as root with `apt-get install chromium` (`make test` does so where it can),"
    " or put a Chromium binary named `chromium` on PATH. Playwright downloads no browser here.")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API as production serves it, and a worker; the API's base URL."""
    workdir = tmp_path_factory.mktemp("console")
    worker = WorkerProcess(os.environ["REDIS_URL"], workdir, {"PAPER_ALWAYS_OPEN": "true"})
    worker.start()
    try:
        with api_process(workdir / "api.log") as url:
            yield url
    finally:
        worker.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail(CHROMIUM_MISSING, pytrace=False)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, headless=True)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh page; the test fails if the page threw or broke its CSP (a console error)."""
    context = await browser.new_context()
    opened = await context.new_page()
    problems: list[str] = []

    def logged(message: ConsoleMessage) -> None:
        # Chromium logs each 4xx answer too: those are the API's, which the page shows.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    opened.on("console", logged)
    opened.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    yield opened
    await context.close()
    assert problems == []


@pytest.fixture(scope="module")
async def engine() -> AsyncIterator[AsyncEngine]:
    made = create_async_engine(os.environ["DATABASE_URL"])
    yield made
    await made.dispose()


async def _register(api: str) -> str:
    email = f"console-{uuid.uuid4().hex[:12]}@example.com"
    async with httpx.AsyncClient(base_url=api) as client:
        response = await client.post("/api/v1/auth/register",
                                     json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return email


async def _log_in(page: Page, api: str) -> str:
    """Sign a new user up over HTTP and log them in on the page; their email."""
    email = await _register(api)
    await page.goto(f"{api}/console")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Order ticket")).to_be_visible()
    await expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    return email


async def _place(page: Page, symbol: str, quantity: str, limit: str | None = None) -> None:
    ticket = page.get_by_role("region", name="Order ticket")
    await ticket.get_by_label("Symbol").fill(symbol)
    await ticket.get_by_label("Side").select_option("BUY")
    await ticket.get_by_label("Quantity").fill(quantity)
    await ticket.get_by_label("Type").select_option("LIMIT" if limit else "MARKET")
    if limit:
        await ticket.get_by_label("Limit price").fill(limit)
        await ticket.get_by_label("Time in force").select_option("GTC")
    await ticket.get_by_role("button", name="Place order").click()
    await expect(ticket.get_by_role("status")).to_have_text(
        f"Order placed: BUY {quantity} {symbol}")


async def _api_get(api: str, email: str, path: str) -> httpx.Response:
    """GET an API path as this user (a login of its own, beside the page's)."""
    async with httpx.AsyncClient(base_url=api) as client:
        login = await client.post("/api/v1/auth/login",
                                  json={"email": email, "password": PASSWORD})
        token = login.json()["access_token"]
        return await client.get(f"/api/v1{path}", headers={"Authorization": f"Bearer {token}"})


async def test_an_unauthenticated_visit_shows_the_login_form(page: Page, api: str) -> None:
    response = await page.goto(f"{api}/console")
    assert response is not None
    assert response.status == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await expect(page.get_by_label("Email")).to_be_editable()
    await expect(page.get_by_label("Password")).to_be_editable()
    await expect(page.get_by_role("heading", name="Order ticket")).to_be_hidden()
    await expect(page.get_by_role("status").filter(has_text="Not connected")).to_be_visible()


async def test_a_wrong_password_shows_the_apis_message(page: Page, api: str) -> None:
    email = await _register(api)
    await page.goto(f"{api}/console")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("not the password at all")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text(BAD_CREDENTIALS)
    await expect(page.get_by_role("heading", name="Order ticket")).to_be_hidden()


async def test_a_market_order_reaches_filled_live_without_a_reload(
    page: Page, api: str, engine: AsyncEngine,
) -> None:
    symbol = await new_instrument(engine, "100.00")
    await _log_in(page, api)
    await page.evaluate("window.sameDocument = true")
    await _place(page, symbol, "1")
    row = page.get_by_role("row").filter(has_text=symbol)
    await expect(row.locator("[data-status]")).to_have_text("FILLED", timeout=PATIENCE_MS)
    await expect(row.get_by_role("cell").nth(5)).to_have_text("1")  # filled quantity
    await expect(row.get_by_role("cell").nth(7)).to_have_text("100.01")  # at the ask
    await expect(page.locator("#orders-news")).to_have_text(f"BUY 1 {symbol} MARKET: FILLED")
    assert await page.evaluate("window.sameDocument") is True  # never reloaded


async def test_a_resting_limit_order_is_canceled_from_the_blotter(
    page: Page, api: str, engine: AsyncEngine,
) -> None:
    symbol = await new_instrument(engine, "100.00")
    email = await _log_in(page, api)
    await _place(page, symbol, "1", limit="1.00")  # far below the market: it rests
    row = page.get_by_role("row").filter(has_text=symbol)
    await expect(row.locator("[data-status]")).to_have_text("ACCEPTED", timeout=PATIENCE_MS)
    buying_power = page.locator("[data-field=buying_power]")
    account = (await _api_get(api, email, "/account")).json()
    assert Decimal(account["buying_power"]) == Decimal(account["cash"]) - 1  # reserved
    await expect(buying_power).to_have_text(f"{account['buying_power']} USD")
    cancel = row.get_by_role("button", name=f"Cancel BUY 1 {symbol} at 1")
    await cancel.focus()
    await page.keyboard.press("Enter")  # the blotter works from the keyboard
    await expect(row.locator("[data-status]")).to_have_text("CANCELED", timeout=PATIENCE_MS)
    await expect(row.get_by_role("button")).to_have_count(0)
    await expect(buying_power).to_have_text(f"{account['cash']} USD")  # released
    orders = (await _api_get(api, email, f"/orders?symbol={symbol}")).json()["items"]
    assert [order["status"] for order in orders] == ["CANCELED"]


async def test_a_position_is_marked_live_to_each_new_quote(
    page: Page, api: str, engine: AsyncEngine,
) -> None:
    symbol = await new_instrument(engine, "100.00")
    email = await _log_in(page, api)
    await _place(page, symbol, "2")
    position = page.get_by_role("region", name="Positions").get_by_role("row").filter(
        has_text=symbol)
    await expect(position.locator(".pnl")).to_have_text("-0.02", timeout=PATIENCE_MS)
    await set_quote(engine, symbol, "104.99", "105.01")  # last 105: (105 - 100.01) × 2
    await expect(position.locator(".pnl")).to_have_text("9.98", timeout=PATIENCE_MS)
    await expect(position.get_by_role("cell").nth(2)).to_have_text("105")  # last (after qty, avg)
    held = (await _api_get(api, email, "/positions")).json()
    mine = next(p for p in held if p["symbol"] == symbol)
    assert Decimal(mine["unrealized_pnl"]) == Decimal("9.98")  # what the server says too
    account = page.get_by_role("region", name="Positions").locator("[data-field=unrealized_pnl]")
    await expect(account).to_have_text("9.98 USD")


async def test_the_chart_follows_a_symbols_quotes(
    page: Page, api: str, engine: AsyncEngine,
) -> None:
    symbol = await new_instrument(engine, "50.00")
    await _log_in(page, api)
    chart = page.get_by_role("region", name="Price chart")
    await expect(chart.get_by_role("img")).to_have_accessible_name(re.compile("^Choose a symbol"))
    picker = chart.get_by_label("Symbol", exact=True)
    await picker.fill(symbol)
    await picker.press("Enter")
    quote = chart.locator("#chart-quote")
    await expect(quote).to_contain_text(f"{symbol} last 50, bid 49.99, ask 50.01")
    await set_quote(engine, symbol, "51.99", "52.01")
    await expect(quote).to_contain_text(f"{symbol} last 52, bid 51.99, ask 52.01",
                                        timeout=PATIENCE_MS)
    await expect(chart.get_by_role("img").locator("canvas")).to_be_visible()
    await expect(chart.get_by_role("img")).to_have_accessible_name(re.compile(f"^{symbol} last 52"))
    await picker.fill("NOSUCHSYMBOL")
    await picker.press("Enter")
    await expect(chart.get_by_role("alert")).to_contain_text("No chart for NOSUCHSYMBOL")


# Two events reach the page while a read of the order, sent before them, is on its way.
RACE = """async (module) => {
  const { OrderBook } = await import(module);
  const book = new OrderBook();
  const sent = book.counts().get("o1");
  book.event({ order_id: "o1", symbol: "X", side: "BUY", status: "PENDING_NEW" });
  book.event({ order_id: "o1", status: "FILLED", changed: { filled_quantity: ["0", "1"] } });
  const read = { id: "o1", symbol: "X", side: "BUY", status: "PENDING_NEW", quantity: "1",
                 filled_quantity: "0", created_at: "2026-01-02T03:04:05+00:00" };
  const late = { ...book.read(read, sent) };
  const fresh = book.read({ ...read, status: "CANCELED" }, book.counts().get("o1"));
  return [late, fresh];
}"""


async def test_an_order_read_before_its_latest_event_never_undoes_it(
    page: Page, api: str,
) -> None:
    await page.goto(f"{api}/console")
    late, fresh = await page.evaluate(RACE, "/console/assets/js/orders.js")
    assert late["status"] == "FILLED"  # the read is older than the events: they stand
    assert late["filled_quantity"] == "1"
    assert late["quantity"] == "1"  # what no event said comes from the read
    assert late["created_at"] == "2026-01-02T03:04:05+00:00"
    assert fresh["status"] == "CANCELED"  # a read sent after every event is taken whole
