"""OWASP API8:2023 Security Misconfiguration: hardening headers on every answer, errors
included; no CORS unless origins are listed; an unexpected failure says nothing about the
code; production refuses to start on development secrets or debug logging."""

from __future__ import annotations

import httpx
import pytest

from api.main import create_app
from shared.settings import DEV_JWT_SECRET, Settings, production_problems

pytestmark = pytest.mark.integration
HARDENING = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
             "x-frame-options": "DENY", "cache-control": "no-store"}


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/me"), ("GET", "/api/v1/orders/not-an-id"), ("PUT", "/api/v1/orders"),
    ("POST", "/api/v1/auth/login"), ("GET", "/health"), ("GET", "/api/v1/account"),
])
async def test_api8_every_answer_carries_the_hardening_headers_and_no_cors(
    client: httpx.AsyncClient, auth: dict[str, str], method: str, path: str,
) -> None:
    response = await client.request(method, path, headers={
        **auth, "Origin": "https://evil.example.com", "Content-Type": "application/json"},
        content=b"{}")
    for header, value in HARDENING.items():
        assert response.headers[header] == value, (path, header)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "access-control-allow-origin" not in response.headers
    assert "server" not in {k.lower() for k in response.headers} or \
        "python" not in response.headers["server"].lower()


async def test_api8_an_unexpected_failure_is_a_bare_500_without_a_trace() -> None:
    app = create_app(Settings())

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("connection string postgresql://app:hunter2@db/og")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=transport, base_url="http://testserver") as api:
        response = await api.get("/boom")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    assert error["request_id"] == response.headers["x-request-id"]
    for header, value in HARDENING.items():
        assert response.headers[header] == value, header
    for leak in ("RuntimeError", "hunter2", "Traceback", "boom", ".py"):
        assert leak not in response.text


def test_api8_production_refuses_development_secrets_debug_and_plain_http() -> None:
    unsafe = Settings().model_copy(update={
        "environment": "production", "jwt_secret": DEV_JWT_SECRET, "log_level": "DEBUG",
        "public_base_url": "http://api.example.com"})
    problems = " ".join(production_problems(unsafe))
    for named in ("JWT_SECRET", "CREDENTIALS_KEYS", "BROKER_WEBHOOK_SECRET", "LOG_LEVEL",
                  "PUBLIC_BASE_URL"):
        assert named in problems
    assert DEV_JWT_SECRET not in problems


async def test_api8_the_interactive_docs_load_nothing_from_another_site(
    client: httpx.AsyncClient,
) -> None:
    console = await client.get("/console")
    assert console.status_code == 200
    assert "default-src 'none'" in console.headers["content-security-policy"]
    assert "https://" not in console.text
