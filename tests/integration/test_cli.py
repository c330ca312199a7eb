"""The `ordergate` operator command, run as its own process against the test PostgreSQL/Redis."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from shared.messaging import heartbeat
from shared.messaging.queues import QUEUES
from tests.helpers import PASSWORD
from tests.integration.cli import json_of, one_line_failure, ordergate
from tests.integration.fresh_database import fresh_database

pytestmark = pytest.mark.integration

LIMIT_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "1",
             "price": "100.00", "time_in_force": "GTC"}
COMMANDS = [[], ["migrate"], ["seed"], ["run"], ["rotate-keys"], ["import-instruments"],
            ["orders"], ["orders", "show"], ["orders", "list"], ["queue"], ["queue", "status"],
            ["create-admin"]]
UNREACHABLE_DB = "postgresql://postgres:s3cret-pw@127.0.0.1:1/nowhere"


async def _trader(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    email = f"cli-{uuid.uuid4().hex[:12]}@example.com"
    registered = await client.post("/api/v1/auth/register",
                                   json={"email": email, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    return email, {"Authorization": f"Bearer {login.json()['access_token']}"}


async def _place(client: httpx.AsyncClient, auth: dict[str, str]) -> str:
    response = await client.post("/api/v1/orders", json=LIMIT_BUY, headers=auth)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["id"]
    return order_id


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "ordergate")
def test_every_command_explains_itself_with_help(command: list[str]) -> None:
    result = ordergate(*command, "--help")

    assert result.returncode == 0, result.stderr
    assert f"Usage: ordergate {' '.join(command)}".rstrip() in " ".join(result.stdout.split())
    if command in ([], ["migrate"]):
        assert "3 PostgreSQL or Redis could not be reached" in " ".join(result.stdout.split())


async def test_orders_show_prints_the_order_its_owner_and_events(
    client: httpx.AsyncClient,
) -> None:
    email, auth = await _trader(client)
    order_id = await _place(client, auth)
    assert (await client.delete(f"/api/v1/orders/{order_id}", headers=auth)).status_code == 202

    shown = ordergate("orders", "show", order_id, "--json")
    table = ordergate("orders", "show", order_id)

    body = json_of(shown)
    order, events = body["order"], body["events"]
    assert (order["id"], order["status"], order["email"], order["price"]) == (
        order_id, "CANCELED", email, "100")
    assert [(e["version"], e["to_status"]) for e in events] == [(1, "PENDING_NEW"),
                                                               (2, "CANCELED")]
    assert table.returncode == 0, table.stderr
    assert all(text in table.stdout for text in (order_id, email, "CANCELED", "PENDING_NEW"))


def test_orders_show_of_an_unknown_id_exits_1_and_of_a_malformed_id_exits_2() -> None:
    unknown = str(uuid.uuid4())

    missing = ordergate("orders", "show", unknown)
    malformed = ordergate("orders", "show", "ORD-12")

    assert one_line_failure(missing, 1) == f"ordergate: no order has the id {unknown}"
    assert malformed.returncode == 2, malformed.stderr
    assert "ORD-12" in malformed.stderr or "UUID" in malformed.stderr
    assert "Traceback" not in malformed.stderr


async def test_orders_list_filters_by_status_and_user_newest_first(
    client: httpx.AsyncClient,
) -> None:
    email, auth = await _trader(client)
    _, other = await _trader(client)
    working = [await _place(client, auth) for _ in range(2)]
    canceled = await _place(client, auth)
    await client.delete(f"/api/v1/orders/{canceled}", headers=auth)
    await _place(client, other)

    def listed(*args: str) -> list[tuple[str, str]]:
        items = json_of(ordergate("orders", "list", *args, "--json"))["items"]
        return [(item["id"], item["status"]) for item in items]

    assert listed("--user", email, "--status", "pending_new") == [
        (working[1], "PENDING_NEW"), (working[0], "PENDING_NEW")]
    assert listed("--user", email.upper(), "--status", "CANCELED") == [(canceled, "CANCELED")]
    assert listed("--user", email, "--limit", "1") == [(canceled, "CANCELED")]
    everyone = listed("--status", "CANCELED", "--limit", "1000")
    assert (canceled, "CANCELED") in everyone
    assert {status for _, status in everyone} == {"CANCELED"}
    table = ordergate("orders", "list", "--user", email)
    assert table.returncode == 0, table.stderr
    assert all(text in table.stdout for text in (canceled, working[0], email))


def test_orders_list_of_an_unknown_user_exits_1_and_a_bad_status_exits_2() -> None:
    nobody = ordergate("orders", "list", "--user", "nobody-at-all@example.com")
    bad_status = ordergate("orders", "list", "--status", "DONE")

    assert one_line_failure(nobody, 1) == (
        "ordergate: no user has the e-mail address or id 'nobody-at-all@example.com'")
    assert bad_status.returncode == 2
    assert "DONE" in bad_status.stderr


async def test_queue_status_shows_each_queue_depth_as_redis_holds_it(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        for _ in range(3):  # read until no publish landed between the two reads
            before = {queue: await redis.llen(queue) for queue in QUEUES}
            result = ordergate("queue", "status", "--json")
            after = {queue: await redis.llen(queue) for queue in QUEUES}
            if before == after:
                break
    finally:
        await redis.aclose()

    status = json.loads(result.stdout)
    assert status["queues"] == before == after
    assert isinstance(status["orders_waiting_for_dispatch"], int)
    assert set(status["brokers"]) == {"angelone", "groww", "ibkr", "upstox", "zerodha"}
    # No worker runs in these tests: exit 1 says nothing takes the queued work.
    assert result.returncode == (0 if status["workers_online"] else 1), result.stderr
    table = ordergate("queue", "status")
    assert all(queue in table.stdout for queue in QUEUES)


def test_queue_status_names_the_workers_online_and_exits_0(redis_url: str) -> None:
    client = SyncRedis.from_url(redis_url)
    name = f"cli-test-{uuid.uuid4().hex[:8]}@host"
    heartbeat.beat(client, name)  # what a worker does every few seconds
    try:
        result = ordergate("queue", "status", "--json")
        table = ordergate("queue", "status")
    finally:
        heartbeat.leave(client, name)
        client.close()

    status = json_of(result)
    assert name in status["workers"]
    assert status["workers_online"] >= 1
    assert table.returncode == 0, table.stderr
    assert name in table.stdout


def test_an_unreachable_redis_is_exit_3_naming_redis() -> None:
    result = ordergate("queue", "status", env={"REDIS_URL": "redis://127.0.0.1:1/0"})

    line = one_line_failure(result, 3)
    assert line.startswith("ordergate: cannot reach Redis at redis://127.0.0.1:1/0: "), line


@pytest.fixture
async def empty_database(database_url: str) -> AsyncIterator[str]:
    """A database of its own with no schema yet, dropped afterwards."""
    parts = urlsplit(database_url.replace("+asyncpg", ""))
    name = f"{parts.path.lstrip('/')}_cli"
    admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(parts._replace(path=f"/{name}"))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def test_migrate_builds_an_empty_database_then_changes_nothing(empty_database: str) -> None:
    env = {"DATABASE_URL": empty_database}

    first = ordergate("migrate", "--json", env=env)
    second = ordergate("migrate", "--json", env=env)
    human = ordergate("migrate", env=env)

    done = json_of(first)
    assert done["from"] is None
    assert len(done["applied"]) > 1
    assert done["applied"][-1] == done["to"]
    assert json_of(second) == {"from": done["to"], "to": done["to"], "applied": []}
    assert human.returncode == 0
    assert human.stdout.strip() == (
        f"the schema is at {done['to']}, the newest revision: nothing to do")


def test_run_migrate_only_with_both_urls_migrates_them_and_exits_0() -> None:
    result = ordergate("run", "--migrate-only")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "==> migrate" in result.stdout


@pytest.mark.parametrize("command", [["migrate"], ["orders", "list"], ["seed"],
                                     ["queue", "status"], ["rotate-keys"]])
def test_an_unreachable_database_is_exit_3_and_one_line_without_the_password(
    command: list[str],
) -> None:
    result = ordergate(*command, env={"DATABASE_URL": UNREACHABLE_DB})

    line = one_line_failure(result, 3)
    assert line.startswith("ordergate: cannot reach the database at "
                           "postgresql+asyncpg://postgres:***@127.0.0.1:1/nowhere: "), line
    assert "s3cret-pw" not in result.stdout + result.stderr


def test_a_refused_setting_is_exit_4_naming_it() -> None:
    result = ordergate("orders", "list", env={"DB_POOL_SIZE": "plenty"})

    line = one_line_failure(result, 4)
    assert line.startswith("ordergate: the configuration is refused: DB_POOL_SIZE: "), line
    assert "plenty" not in line


def test_seed_creates_the_demo_trader_its_portfolios_and_orders_once() -> None:
    email = f"demo-{uuid.uuid4().hex[:8]}@example.com"

    # A database of its own: the seed's demo ticks would be counted by other tests.
    with fresh_database() as url:
        env = {"DEMO_EMAIL": email, "DATABASE_URL": url}
        first = ordergate("seed", env=env)
        again = ordergate("seed", env=env)
        orders = ordergate("orders", "list", "--user", email, "--json", env=env)

    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"login {email} / ")
    assert (again.returncode, again.stdout) == (0, first.stdout)
    items = json_of(orders)["items"]
    assert sorted(item["symbol"] for item in items) == ["AAPL", "MSFT", "NVDA"]
    portfolio = {item["symbol"]: item["portfolio_id"] for item in items}
    assert portfolio["AAPL"] == portfolio["MSFT"] != portfolio["NVDA"]
    assert None not in portfolio.values()
