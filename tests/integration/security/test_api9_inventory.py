"""OWASP API9:2023 Improper Inventory Management: every route the app serves is in its
OpenAPI document, but for the few left out on purpose, listed here with the reason; and the
document names no route that does not exist. A new route that forgets its documentation
fails here."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

pytestmark = pytest.mark.integration

UNDOCUMENTED = {
    "/openapi.json": "the document itself",
    "/docs": "Swagger UI, an HTML page that reads the document",
    "/docs/oauth2-redirect": "Swagger UI's login redirect",
    "/redoc": "ReDoc, an HTML page that reads the document",
    "/console": "the trader console, an HTML page (README: Trader console)",
    "/console/assets": "the console's static files",
    "/api/v1/stream": "the WebSocket stream: OpenAPI has no WebSockets (README: Streams)",
}


def _served(app: FastAPI) -> set[tuple[str, str]]:
    served: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            served.add(("MOUNT", str(route.path)))
            continue
        methods = route.methods or {"WEBSOCKET"}
        served |= {(method, str(route.path_format)) for method in methods if method != "HEAD"}
    return served


async def test_api9_every_route_served_is_documented_or_left_out_on_purpose(
    client: httpx.AsyncClient, app: FastAPI,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    documented = {(method.upper(), path) for path, operations in schema["paths"].items()
                  for method in operations}
    served = _served(app)
    assert {(m, p) for m, p in served - documented if p not in UNDOCUMENTED} == set()
    assert documented - served == set()
    assert {p for _, p in served} >= set(UNDOCUMENTED)  # nothing listed here is stale
    assert len(documented) > 60


async def test_api9_one_version_of_the_api_is_served(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    prefixes = {path.split("/")[2] for path in schema["paths"] if path.startswith("/api/")}
    assert prefixes == {"v1"}
    assert (await client.get("/api/v0/orders")).status_code == 404
