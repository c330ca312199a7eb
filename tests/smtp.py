"""A real SMTP server on localhost (aiosmtpd) that keeps what it is sent, for mail tests."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from redis.asyncio import Redis

from shared.messaging import tasks

_CODE = re.compile(r"\b([0-9]{6})\b")


@dataclass
class Inbox:
    """Every message the server accepted, in arrival order."""

    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """aiosmtpd's hook: keep the delivered message."""
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append(parsed)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        """The messages addressed to `address`."""
        with self._lock:
            return [m for m in self.messages if m["To"] == address]


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and the HTML body of a message."""
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None, "the mail needs a plain-text part"
    assert html is not None, "the mail needs an HTML part"
    assert isinstance(plain, EmailMessage)
    assert isinstance(html, EmailMessage)
    return str(plain.get_content()), str(html.get_content())


def code_in(message: EmailMessage) -> str:
    """The 6-digit code a login mail carries (the same in both parts)."""
    plain, html = parts(message)
    codes = {match for text in (plain, html) for match in _CODE.findall(text)}
    assert len(codes) == 1, f"expected one code in the mail, found {codes}"
    code: str = codes.pop()
    return code


async def take_mail_tasks(redis: Redis) -> list[list[str]]:
    """Take the mail tasks the API queued off the queue (no worker runs in these tests): the
    arguments of each, the user id first."""
    found = []
    queued: list[str] = [raw.decode() if isinstance(raw, bytes) else raw
                         for raw in await redis.lrange(tasks.DEFAULT_QUEUE, 0, -1)]
    for raw in queued:
        envelope = json.loads(raw)
        if envelope["headers"]["task"] != tasks.SEND_LOGIN_CODE:
            continue
        assert envelope["headers"]["expires"] is not None  # a stale mail is never sent
        args, _, _ = json.loads(base64.b64decode(envelope["body"]))
        found.append([str(arg) for arg in args])
        await redis.lrem(tasks.DEFAULT_QUEUE, 1, raw)
    return found


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_server() -> Iterator[Inbox]:
    """Run an SMTP server on a free localhost port until the block ends."""
    inbox = Inbox(port=free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
