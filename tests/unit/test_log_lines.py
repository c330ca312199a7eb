"""Log lines are JSON, carry what the context bound, and never a secret."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest

from shared import logs

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
API_KEY = "og_0123456789abcdef0123456789abcdef_" + "A" * 43


@pytest.mark.parametrize(("message", "secret"), [
    ("connecting to postgresql://og:%s@db:5432/og failed", "pg-secret-pw"),
    ("redis at redis://:%s@cache:6379/0 is down", "redis-secret-pw"),
    ("GET /api/v1/stream?token=%s&last_seq=4", JWT),
    ("Authorization: Bearer %s", API_KEY),
    ("Authorization: token kiteapikey:%s", "kiteaccesstoken99"),
    ("login body {'email': 'a@example.com', 'password': '%s'}", "hunter2 hunter2"),
    ('upstream answered {"access_token": "%s", "status": "ok"}', "upstox-token-123"),
    ("callback /brokers/upstox/callback?code=%s&state=s", "oauth-code-456"),
    ("refresh with %s", JWT),
])
def test_a_secret_in_a_message_is_redacted(message: str, secret: str) -> None:
    rendered = _render(message % secret)
    assert secret not in rendered
    assert logs.REDACTED in rendered


@pytest.mark.parametrize("field", ["password", "api_secret", "access_token", "refresh_token",
                                   "authorization", "api_key", "webhook_secret", "totp_secret"])
def test_a_field_named_for_a_secret_is_redacted_whatever_its_value(field: str) -> None:
    rendered = _render("connecting", {field: "plain-looking-value"})
    assert "plain-looking-value" not in rendered
    assert json.loads(rendered)[field] == logs.REDACTED


def test_a_secret_nested_in_a_field_or_in_a_traceback_is_redacted() -> None:
    rendered = _render("call failed", {"body": {"credentials": {"api_secret": "nested-s3cret"},
                                               "note": f"token={JWT}"}})
    assert "nested-s3cret" not in rendered
    assert JWT not in rendered
    try:
        raise ConnectionError("redis://:tb-secret@cache:6379/0 refused")
    except ConnectionError:
        rendered = _render("publish failed", exc_info=True)
    assert "tb-secret" not in rendered
    assert "ConnectionError" in json.loads(rendered)["exception"]


def test_ordinary_words_and_codes_survive_redaction() -> None:
    rendered = json.loads(_render("the access token generation check failed for code=",
                                  {"code": "invalid_credentials", "order_id": "o-9"}))
    assert rendered["event"] == "the access token generation check failed for code="
    assert (rendered["code"], rendered["order_id"]) == ("invalid_credentials", "o-9")


def test_bound_fields_appear_on_every_line_of_the_context() -> None:
    with logs.bound(request_id="req-7"):
        first = json.loads(_render("one"))
        second = json.loads(_render("two", {"order_id": "o-1"}))
    after = json.loads(_render("three"))
    assert (first["request_id"], second["request_id"], second["order_id"]) == (
        "req-7", "req-7", "o-1")
    assert "request_id" not in after
    assert {"ts", "level", "logger"} <= set(first)


def _render(message: str, extra: dict[str, Any] | None = None, *, exc_info: bool = False) -> str:
    record = logging.LogRecord("test", logging.INFO, __file__, 1, message, None,
                               sys.exc_info() if exc_info else None)
    record.__dict__.update(extra or {})
    return logs.formatter().format(record)
