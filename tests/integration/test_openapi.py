"""The OpenAPI document describes the API truthfully: every reference resolves."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.ratelimit import is_metered
from shared.brokers.catalog import REAL_BROKERS, Broker

pytestmark = pytest.mark.integration


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


async def test_openapi_documents_the_order_body_and_every_reference_resolves(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    components = schema["components"]["schemas"]
    for ref in _refs(schema):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in components, ref
    body = components["PlaceOrder"]
    assert set(body["required"]) == {"symbol", "side", "order_type", "quantity"}
    submit = schema["paths"]["/api/v1/orders"]["post"]
    assert submit["summary"].startswith("Submit an order")
    assert {"202", "401", "409", "422"} <= set(submit["responses"])


async def test_every_error_answer_is_documented_with_the_one_error_body(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components  # FastAPI's own 422 body is never sent
    error = components["ErrorBody"]
    assert error["required"] == ["error"]
    detail = components[error["properties"]["error"]["$ref"].rsplit("/", 1)[1]]
    assert set(detail["required"]) == {"code", "message", "details", "request_id"}
    answers = [(path, method, status, answer)
               for path, operations in schema["paths"].items()
               for method, operation in operations.items()
               for status, answer in operation["responses"].items() if status[0] in "45"]
    assert len(answers) > 50
    undocumented = [(path, method, status) for path, method, status, answer in answers
                    if answer.get("content", {}).get("application/json", {}).get("schema")
                    != {"$ref": "#/components/schemas/ErrorBody"}]
    assert undocumented == [("/ready", "get", "503")]  # a probe's answer, not an error


async def test_the_answers_of_the_edge_are_documented_on_every_route_they_reach(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"503", "504"} <= statuses, (path, method)
            if path.startswith("/api/") and not path.startswith("/api/v1/webhooks/"):
                assert "429" in statuses, (path, method)
            if operation.get("security"):
                assert "401" in statuses, (path, method)
            sent = operation.get("requestBody", {}).get("content", {})
            if sent:
                assert {"408", "413"} <= statuses, (path, method)
            if "application/json" in sent:
                assert {"400", "415"} <= statuses, (path, method)
    place = schema["paths"]["/api/v1/orders"]["post"]["responses"]
    assert "unsupported_media_type" in place["415"]["description"]
    assert "invalid_json" in place["400"]["description"]


async def test_every_metered_route_documents_its_budget_headers_and_every_secured_one_403(
    client: httpx.AsyncClient,
) -> None:
    """A 429 says when to come back (Retry-After) and which budget it met (RateLimit-*), a 503
    when to retry, an answer that was metered what is left; a route that takes credentials
    can refuse an API key (403: `ip_not_allowed` on any, `insufficient_scope` on writes)."""
    budget = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}
    schema = (await client.get("/openapi.json")).json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            where = (path, method)
            assert "Retry-After" in responses["503"].get("headers", {}), where
            if is_metered(path):
                assert {"Retry-After", *budget} <= set(responses["429"].get("headers", {})), where
                for status, answer in responses.items():
                    if status.startswith("2"):
                        assert budget <= set(answer.get("headers", {})), (where, status)
            if operation.get("security"):
                assert {"401", "403"} <= set(responses), where
                assert "ip_not_allowed" in responses["403"]["description"], where


async def test_readiness_documents_the_body_it_answers_with_when_ready_and_when_not(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    answers = schema["paths"]["/ready"]["get"]["responses"]
    for status in ("200", "503"):
        assert answers[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Readiness"}, status
    readiness = schema["components"]["schemas"]["Readiness"]
    assert set(readiness["properties"]["status"]["enum"]) == {"ready", "degraded", "unavailable"}


async def test_every_path_parameter_naming_a_broker_lists_the_brokers_it_takes(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    brokers = [(path, parameter["schema"])
               for path, operations in schema["paths"].items()
               for operation in operations.values()
               for parameter in operation.get("parameters", ())
               if parameter["name"] == "broker"]
    assert len(brokers) >= 7
    components = schema["components"]["schemas"]
    for path, parameter in brokers:
        listed = (components[parameter["$ref"].rsplit("/", 1)[1]]["enum"]
                  if "$ref" in parameter else parameter["enum"])
        # Only an admin's dispatch pause takes the built-in paper broker too.
        takes = Broker if path.startswith("/api/v1/admin/brokers/") else REAL_BROKERS
        assert sorted(listed) == sorted(b.value for b in takes), path
