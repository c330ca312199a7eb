"""Every order body of every order route, in every status, matches what /openapi.json declares.

The order routes answer with hand-built JSONResponses (one resource shape for the API, the
results cache and the stream), so FastAPI never checks them against `response_model`: the
document could say one thing and the bodies another. Here the document is read from the real
app, its `$ref`s are resolved, and each body is validated with a JSON Schema 2020-12 validator
(OpenAPI 3.1's dialect) against the schema declared for that route and status code, with
`format` asserted (a `date-time` must be RFC 3339, offset included) and object schemas closed
(a field the document does not list is a disagreement too).

Orders reach their statuses through the code that moves them in production where there is
one: the API, and the worker's handlers called in-process (paper exchange, and the Groww stub
for orders at a broker). EXPIRED has no task yet, so the test expires an order the only way an
order changes: `Change(order).then(Expired(...))` saved by the repository, then published.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from jsonschema import Draft202012Validator, FormatChecker
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.repositories import orders
from shared.domain import events as ev
from shared.domain.enums import OrderStatus
from shared.domain.orders import Change
from shared.messaging.publish import order_cache_key, publish_order_changes
from shared.settings import Settings
from tests.helpers import set_quote
from tests.stubs.groww.harness import GrowwStub
from worker.handlers.broker_cancel import cancel_at_broker
from worker.handlers.broker_orders import place_orders, sync_order
from worker.handlers.cancel import cancel_order
from worker.handlers.fills import record_execution
from worker.handlers.submit import submit_orders
from worker.runtime import Runtime

pytestmark = pytest.mark.integration

ORDERS = "/api/v1/orders"
PAPER_LIMIT = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "10",
               "price": "100.00"}  # rests: the ask is 200.02
PAPER_MARKET = {"symbol": "AAPL", "side": "BUY", "order_type": "MARKET", "quantity": "10"}
GROWW_LIMIT = {"symbol": "INFY", "side": "BUY", "order_type": "LIMIT", "quantity": "10",
               "price": "1860.00", "broker": "groww"}

# RFC 3339 §5.6 date-time (what OpenAPI's "date-time" means): the offset is not optional.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
FORMATS = FormatChecker()  # this instance's own copy of every format jsonschema checks


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    # jsonschema checks "date-time" only with an optional package; check it here, no less.
    if not isinstance(value, str):
        return True  # "format" applies to strings; "type" judges the rest
    if _RFC3339.fullmatch(value) is None:
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # a real date and time
    return True


def _pointer(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references are expected, got {ref}"
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _resolve(node: Any, document: dict[str, Any], trail: tuple[str, ...] = ()) -> Any:
    """Inline every `$ref`, and close object schemas (no properties beyond those declared)."""
    if isinstance(node, list):
        return [_resolve(item, document, trail) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        assert ref not in trail, f"recursive schema {' → '.join((*trail, ref))}"
        target = _resolve(_pointer(document, ref), document, (*trail, ref))
        siblings = {k: v for k, v in node.items() if k != "$ref"}  # 3.1 allows them
        return {"allOf": [target], **_resolve(siblings, document, trail)} if siblings else target
    resolved = {key: _resolve(value, document, trail) if key != "properties" else
                {name: _resolve(sub, document, trail) for name, sub in value.items()}
                for key, value in node.items()}
    if resolved.get("type") == "object" and "properties" in resolved:
        resolved.setdefault("additionalProperties", False)
    return resolved


class OpenApi:
    """The app's OpenAPI document, and a check of a response against what it declares."""

    def __init__(self, document: dict[str, Any]) -> None:
        assert document["openapi"].startswith("3.1"), "3.1 schemas are JSON Schema 2020-12"
        self.document = document
        # Literal paths first: a literal segment wins over a {parameter} one.
        self._paths: list[str] = sorted(document["paths"], key=lambda p: p.count("{"))

    def template(self, path: str) -> str:
        for template in self._paths:
            if re.fullmatch(re.sub(r"\\\{[^/]+\\\}", "[^/]+", re.escape(template)), path):
                return template
        raise AssertionError(f"{path} is not in the document")

    def schema(self, method: str, template: str, status: int) -> dict[str, Any] | None:
        """The resolved body schema declared for this route and status; None if it has none."""
        responses = self.document["paths"][template][method]["responses"]
        assert str(status) in responses, (
            f"{method.upper()} {template} answered {status}, which the document does not "
            f"declare (it declares {sorted(responses)})")
        media = responses[str(status)].get("content", {}).get("application/json")
        if media is None or "schema" not in media:
            return None
        schema: dict[str, Any] = _resolve(media["schema"], self.document)
        Draft202012Validator.check_schema(schema)
        return schema

    def check(self, response: httpx.Response) -> Any:
        """Validate the body against the schema declared for its route and status; return it.

        The status must be declared, and so must its body: errors too (the one error body).
        """
        method = response.request.method.lower()
        template = self.template(response.request.url.path)
        schema = self.schema(method, template, response.status_code)
        body = response.json()
        assert schema is not None, (
            f"{method.upper()} {template} {response.status_code} declares no body schema")
        problems = _problems(schema, body)
        assert not problems, (f"{method.upper()} {template} {response.status_code} disagrees "
                              f"with its OpenAPI schema:\n" + "\n".join(problems))
        return body


def _problems(schema: dict[str, Any], body: Any) -> list[str]:
    validator = Draft202012Validator(schema, format_checker=FORMATS)
    return sorted(f"  at /{'/'.join(map(str, error.absolute_path))}: {error.message}"
                  for error in validator.iter_errors(body))


@pytest.fixture
async def api(client: httpx.AsyncClient) -> OpenApi:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return OpenApi(response.json())


class Trader:
    """One user's calls, each response checked against the document on the way back."""

    def __init__(self, client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi) -> None:
        self.client, self.auth, self.api = client, auth, api

    async def place(self, body: dict[str, Any], *, key: str | None = None) -> Any:
        headers = {**self.auth, **({"Idempotency-Key": key} if key else {})}
        response = await self.client.post(ORDERS, json=body, headers=headers)
        assert response.status_code == 202, response.text
        return self.api.check(response)

    async def cancel(self, order_id: str) -> Any:
        response = await self.client.delete(f"{ORDERS}/{order_id}", headers=self.auth)
        assert response.status_code == 202, response.text
        return self.api.check(response)

    async def patch(self, order_id: str, body: dict[str, Any], status: int) -> Any:
        response = await self.client.patch(f"{ORDERS}/{order_id}", json=body,
                                           headers=self.auth)
        assert response.status_code == status, response.text
        return self.api.check(response)

    async def get(self, path: str, **params: str) -> Any:
        response = await self.client.get(path, params=params, headers=self.auth)
        assert response.status_code == 200, response.text
        return self.api.check(response)


async def _expire(engine: AsyncEngine, redis: Redis, order_id: str) -> None:
    """Expire a working order through the domain, as the expiry task does, then publish."""
    async with engine.begin() as conn:
        order = await orders.lock(conn, uuid.UUID(order_id))
        assert order is not None
        change = Change(order).then(ev.Expired("the DAY order's session ended"))
        await orders.release_reservation(conn, order, change.after)
        saved = await orders.save(conn, change, dispatch=orders.Dispatch.done(), actor="expiry")
    await publish_order_changes(redis, [saved], Settings().order_cache_ttl_seconds)


async def test_every_order_body_in_every_status_matches_the_openapi_schema(
        client: httpx.AsyncClient, auth: dict[str, str], engine: AsyncEngine, app: FastAPI,
        api: OpenApi, runtime: Runtime, groww: GrowwStub, account: uuid.UUID) -> None:
    redis: Redis = app.state.redis
    me = Trader(client, auth, api)
    await set_quote(engine, "AAPL", "199.98", "200.02")
    made: list[str] = []
    paced: list[float] = []
    from_cache: dict[str, Any] = {}  # GET /orders/{id} bodies, per order, by the path taken
    from_db: dict[str, Any] = {}

    async def observe(order_id: str) -> None:
        """GET the order from the results cache, then (its key deleted) from the database."""
        key = order_cache_key(order_id)
        if await redis.exists(key):  # the snapshot lives a few seconds: read it at once
            from_cache[order_id] = await me.get(f"{ORDERS}/{order_id}")
            await redis.delete(key)
        from_db[order_id] = await me.get(f"{ORDERS}/{order_id}")

    async def paper_order(body: dict[str, Any] = PAPER_LIMIT, **extra: Any) -> str:
        placed = await me.place({**body, **extra})
        made.append(placed["id"])
        assert (await submit_orders(runtime, [placed["id"]])) == 1
        return str(placed["id"])

    async def groww_order(**extra: Any) -> str:
        # Groww allows 10 requests a second per account, and an order here takes up to four:
        # one order a second keeps every call inside the budget (none left waiting).
        await asyncio.sleep(max(0.0, paced[-1] + 1.0 - time.monotonic()) if paced else 0.0)
        paced.append(time.monotonic())
        placed = await me.place({**GROWW_LIMIT, **extra})
        made.append(placed["id"])
        await place_orders(runtime, [placed["id"]])
        return str(placed["id"])

    async def at_broker(order_id: str) -> str:
        async with engine.connect() as conn:
            order = await orders.get(conn, uuid.UUID(order_id))
        assert order is not None
        assert order.broker_order_id is not None
        return order.broker_order_id

    # POST: a new order, and the replay of its Idempotency-Key (the order as first accepted).
    new = await me.place({**PAPER_LIMIT, "client_order_id": "schema-1"}, key="schema-key-1")
    replay = await me.place({**PAPER_LIMIT, "client_order_id": "schema-1"}, key="schema-key-1")
    assert replay["id"] == new["id"]
    assert new["status"] == "PENDING_NEW"
    made.append(new["id"])  # no worker runs here: it stays PENDING_NEW
    await observe(new["id"])

    # Paper: the exchange rests, fills, cancels; the worker's handlers move the orders.
    await observe(await paper_order())  # ACCEPTED
    partial = await paper_order()
    assert await record_execution(runtime, uuid.UUID(partial), ev.Filled(
        trade_id=f"EXEC-{partial}", quantity=Decimal(4), price=Decimal("100.00"),
        at=datetime.now(UTC)))
    await observe(partial)  # PARTIALLY_FILLED
    await observe(await paper_order(PAPER_MARKET))  # FILLED
    asked = await paper_order()
    assert (await me.cancel(asked))["status"] == "PENDING_CANCEL"
    assert (await me.cancel(asked))["status"] == "PENDING_CANCEL"  # asked again: same answer
    await observe(asked)
    canceled = await paper_order()
    await me.cancel(canceled)
    assert await cancel_order(runtime, canceled)
    await observe(canceled)  # CANCELED by the worker
    unsent = await me.place(PAPER_LIMIT)
    made.append(unsent["id"])
    assert (await me.cancel(unsent["id"]))["status"] == "CANCELED"  # by the API, never sent
    await observe(unsent["id"])
    await observe(await paper_order(time_in_force="IOC"))  # CANCELED: an unmarketable IOC
    expired = await paper_order()
    await _expire(engine, redis, expired)
    await observe(expired)  # EXPIRED
    # A buy stop already hit when it arrives, whose limit the ask is above: it waits triggered.
    await observe(await paper_order(order_type="STOP_LIMIT", stop_price="200.00",
                                    price="199.00"))  # TRIGGERED
    replaced = await paper_order()
    await me.patch(replaced, {"price": "99.50"}, status=200)
    await observe(replaced)  # ACCEPTED on its new terms

    # Groww: orders at a broker carry its order id, its status word, and a product.
    await observe(await groww_order())  # SUBMITTED: placed, and the broker says NEW
    part_at_broker = await groww_order()
    groww.fill(await at_broker(part_at_broker), Decimal(4), Decimal("1859.50"))
    await sync_order(runtime, uuid.UUID(part_at_broker))
    await observe(part_at_broker)  # PARTIALLY_FILLED
    full_at_broker = await groww_order()
    groww.fill(await at_broker(full_at_broker), Decimal(10), Decimal("1860"))
    await sync_order(runtime, uuid.UUID(full_at_broker))
    await observe(full_at_broker)  # FILLED
    pending_at_broker = await groww_order()
    assert (await me.cancel(pending_at_broker))["status"] == "PENDING_CANCEL"
    await observe(pending_at_broker)
    canceled_at_broker = await groww_order()
    await me.cancel(canceled_at_broker)
    assert await cancel_at_broker(runtime, canceled_at_broker)
    await observe(canceled_at_broker)  # CANCELED
    replacing = await groww_order()
    await sync_order(runtime, uuid.UUID(replacing))  # acknowledged: it may be replaced
    assert (await me.patch(replacing, {"price": "1859.00"}, status=202))["status"] == (
        "PENDING_REPLACE")
    await observe(replacing)
    groww.reject_next_place("Insufficient funds")
    rejected = await groww_order()
    await sync_order(runtime, uuid.UUID(rejected))
    await observe(rejected)  # REJECTED

    assert sorted(from_db) == sorted(made)
    statuses = {body["status"] for body in from_db.values()}
    assert statuses == set(OrderStatus), f"never reached: {set(OrderStatus) - statuses}"
    cached = {body["status"] for body in from_cache.values()}
    assert cached == set(OrderStatus) - {"PENDING_NEW"}, "each moved order was published"
    for order_id, body in from_cache.items():
        assert body == from_db[order_id], "the cache and the database show the same order"
    assert {b["broker"] for b in from_db.values()} == {"paper", "groww"}
    assert {b["product"] for b in from_db.values()} == {None, "CNC"}

    # GET /orders: every page of every filter.
    for status in OrderStatus:
        page = await me.get(ORDERS, status=status.value)
        assert page["items"]
        assert {o["status"] for o in page["items"]} == {status.value}
    listed: list[str] = []
    page = await me.get(ORDERS, limit="4")
    while True:
        listed += [o["id"] for o in page["items"]]
        if page["next_cursor"] is None:
            break
        page = await me.get(ORDERS, limit="4", cursor=page["next_cursor"])
    assert sorted(listed) == sorted(made)

    # The fills routes of the same router: each order's fills, and every page of all of them.
    booked = 0
    for order_id in made:
        booked += len((await me.get(f"{ORDERS}/{order_id}/fills"))["items"])
    assert booked == 4  # one trade each: the two partly and the two fully filled orders
    fills: list[str] = []
    page = await me.get("/api/v1/fills", limit="2")
    while True:
        fills += [f["id"] for f in page["items"]]
        if page["next_cursor"] is None:
            break
        page = await me.get("/api/v1/fills", limit="2", cursor=page["next_cursor"])
    assert len(set(fills)) == booked


async def test_error_bodies_of_the_order_routes_match_what_the_document_declares(
        client: httpx.AsyncClient, auth: dict[str, str], engine: AsyncEngine, api: OpenApi,
        runtime: Runtime) -> None:
    await set_quote(engine, "AAPL", "199.98", "200.02")
    me = Trader(client, auth, api)
    filled = await me.place(PAPER_MARKET, key="schema-error-key")
    await submit_orders(runtime, [filled["id"]])
    await me.place({**PAPER_LIMIT, "client_order_id": "schema-taken"})
    absent = f"{ORDERS}/{uuid.uuid4()}"
    calls: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("GET", absent, {}, 404, "not_found"),
        ("GET", f"{ORDERS}/not-an-id", {}, 404, "not_found"),
        ("DELETE", absent, {}, 404, "not_found"),
        ("DELETE", f"{ORDERS}/{filled['id']}", {}, 409, "order_not_cancelable"),
        ("POST", ORDERS, {"json": {**PAPER_LIMIT, "quantity": "2"},
                          "headers": {"Idempotency-Key": "schema-error-key"}},
         422, "idempotency_key_reused"),
        ("POST", ORDERS, {"json": {**PAPER_LIMIT, "client_order_id": "schema-taken"}},
         409, "duplicate_client_order_id"),
        ("POST", ORDERS, {"json": {"symbol": "AAPL"}}, 422, "invalid_request"),
        ("POST", ORDERS, {"json": {**PAPER_LIMIT, "quantity": "1e30"}}, 422, "invalid_request"),
        ("GET", ORDERS, {"params": {"limit": "0"}}, 422, "invalid_request"),
        ("GET", ORDERS, {"params": {"cursor": "not-a-cursor"}}, 422, "invalid_cursor"),
        ("GET", ORDERS, {"params": {"status": "HALTED"}}, 422, "invalid_request"),
    ]
    for method, path, extra, status, code in calls:
        headers = {**auth, **extra.pop("headers", {})}
        response = await client.request(method, path, headers=headers, **extra)
        assert response.status_code == status, (method, path, response.text)
        assert api.check(response)["error"]["code"] == code
    unauthenticated = await client.get(ORDERS)
    assert api.check(unauthenticated)["error"]["code"] == "unauthenticated"


async def test_the_check_refuses_a_body_that_disagrees_with_the_schema(
        client: httpx.AsyncClient, auth: dict[str, str], engine: AsyncEngine,
        api: OpenApi) -> None:
    await set_quote(engine, "AAPL", "199.98", "200.02")
    body = await Trader(client, auth, api).place(PAPER_LIMIT)
    schema = api.schema("post", ORDERS, 202)
    assert schema is not None
    assert _problems(schema, body) == []
    wrong: dict[str, dict[str, Any]] = {
        "a field missing": {k: v for k, v in body.items() if k != "status"},
        "a field the document does not list": {**body, "reserved_cash": "1000"},
        "null in a non-null field": {**body, "quantity": None},
        "a number for a string": {**body, "account_id": 7},
        "an id that is no UUID": {**body, "account_id": "paper"},
        "an amount with an exponent": {**body, "quantity": "1E+1"},
        "an amount as a JSON number": {**body, "price": 100},
        "a status outside the enum": {**body, "status": "HALTED"},
        "a date-time without its offset": {**body, "created_at": "2026-01-02T03:04:05"},
        "a date-time that is no date": {**body, "updated_at": "2026-13-45T03:04:05Z"},
    }
    for what, bad in wrong.items():
        assert _problems(schema, bad), f"the check let {what} through"
    page = api.schema("get", ORDERS, 200)
    assert page is not None
    assert _problems(page, {"items": [body], "next_cursor": None}) == []
    assert _problems(page, {"items": [{**body, "side": "HOLD"}], "next_cursor": None})


async def test_a_malformed_order_body_answers_a_status_the_document_declares(
        client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi) -> None:
    for content in (b"{", b'{"side": "BUY", "side": "SELL"}'):
        response = await client.post(ORDERS, content=content,
                                     headers={**auth, "Content-Type": "application/json"})
        assert response.status_code == 400, response.text
        assert api.check(response)["error"]["code"] in {"invalid_json", "duplicate_key"}
