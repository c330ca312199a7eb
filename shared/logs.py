"""Structured logs: every line one JSON object, secrets taken out before it is written.

Both the API and the worker log through the standard library (their own modules, uvicorn,
Celery, httpx); structlog's ProcessorFormatter renders every record the same way and adds
what `bind` put in the context: the request id in the API, and in the worker the request id
that caused the task (carried in its message headers) with the order ids it works on.
`logging.json` is the one configuration: uvicorn's `--log-config` reads it, and so does
`configure()` in every other process. It turns uvicorn's access log off: the API logs each
request itself (`api.access`, with its route template and request id).
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

CONFIG_FILE = Path(__file__).with_name("logging.json")
REDACTED = "[redacted]"

# A field so named holds a secret whatever it looks like (a broker's api_secret is just hex).
_SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)?$|secret|token|authori[sz]ation|api_?key|cookie|credential|"
    r"signature|totp|otp_code|^pin$|private_key", re.IGNORECASE)
# Secrets recognisable by their shape, wherever they appear in a message or a traceback.
_IN_TEXT: tuple[tuple[re.Pattern[str], str], ...] = (
    # The password of a URL: postgresql://user:pw@host, redis://:pw@host.
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*):[^@\s/]+@", re.IGNORECASE),
     rf"\1:{REDACTED}@"),
    # Authorization schemes: Bearer and Basic credentials, Kite's "token api_key:access_token".
    (re.compile(r"\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{16,}", re.IGNORECASE),
     rf"\1\2{REDACTED}"),
    (re.compile(r"\b(token\s+)[A-Za-z0-9]+:[A-Za-z0-9]+", re.IGNORECASE), rf"\1{REDACTED}"),
    # A JWT anywhere (access and refresh tokens, broker session tokens).
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # An ordergate API key.
    (re.compile(r"\bog_[0-9a-f]{32}_[A-Za-z0-9_-]+"), REDACTED),
    # key=value in a query string or form body (a WebSocket's ?token=, a login form).
    (re.compile(r"([?&;\s]|^)((?:access_|refresh_|request_)?token|api_?key|api_secret|"
                r"password|secret|signature|checksum|code)=[^&\s\"']+", re.IGNORECASE),
     rf"\1\2={REDACTED}"),
    # "password": "…" in JSON or a dict's repr quoted into a message.
    (re.compile(r"""(["'][A-Za-z_]*(?:password|secret|token|api_?key|authorization)"""
                r"""[A-Za-z_]*["']\s*:\s*)(["'])(?:(?!\2).)*\2""", re.IGNORECASE),
     rf"\1\2{REDACTED}\2"),
)


# Every pattern above needs one of these: most text has none and is passed over in one search.
_MAYBE_SECRET = re.compile(r"://|bearer|basic|token|eyJ|og_|=|password|secret|api_?key|"
                           r"authorization", re.IGNORECASE)


def scrub(text: str) -> str:
    """Take every secret recognisable by its shape out of `text`."""
    if not _MAYBE_SECRET.search(text):
        return text
    for pattern, replacement in _IN_TEXT:
        text = pattern.sub(replacement, text)
    return text


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {key: REDACTED if is_secret_name(key) else _redacted(item)
                for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(item) for item in value]
    return value


def is_secret_name(key: object) -> bool:
    """Whether a field (or a path parameter) so named holds a secret."""
    return isinstance(key, str) and bool(_SECRET_NAME.search(key))


def redact(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """structlog processor: no secret leaves in a field, a message or a traceback."""
    for key, value in event.items():
        event[key] = REDACTED if is_secret_name(key) and key != "event" else _redacted(value)
    return event


def _drop_duplicates(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    # uvicorn repeats its message with terminal colours, Celery a failure's traceback in its
    # `data`: the line has both already.
    event.pop("color_message", None)
    data = event.get("data")
    if isinstance(data, dict) and "exception" in event:
        event["data"] = {key: value for key, value in data.items() if key != "traceback"}
    return event


# Run on every record, from structlog or the standard library alike, in this order: the
# traceback is made text before redaction so that a secret in an exception is caught too.
_CHAIN: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    structlog.processors.format_exc_info,
    _drop_duplicates,
    redact,
]


def formatter() -> logging.Formatter:
    """The formatter of every handler: one JSON object per record (`logging.json` names it)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_CHAIN,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer(default=str)])


def configure(level: str) -> None:
    """Send this process's logs, its libraries' included, through the JSON formatter."""
    config: dict[str, Any] = json.loads(CONFIG_FILE.read_text())
    config["root"]["level"] = level.upper()
    logging.config.dictConfig(config)
    logging.captureWarnings(True)  # a library's warning is a log line like any other


def bind(**values: Any) -> None:
    """Add fields to every line this context (request, task) logs from now on."""
    structlog.contextvars.bind_contextvars(**values)


def unbind_all() -> None:
    """Forget what `bind` added (a task is over)."""
    structlog.contextvars.clear_contextvars()


@contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Add fields to every line logged inside the block."""
    with structlog.contextvars.bound_contextvars(**values):
        yield


def bound_value(name: str) -> Any:
    """A field `bind` put in the current context, or None."""
    context: MutableMapping[str, Any] = structlog.contextvars.get_contextvars()
    return context.get(name)
