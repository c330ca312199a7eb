"""Mail a one-time login code: draw it, store its hash, and send it by SMTP.

The code is drawn here, in the worker, not in the API: it then never travels through Redis,
where task arguments are readable (Flower shows them). It appears in no log line either.
A code that cannot be delivered is withdrawn before the error propagates, so the task's
retry (or the user's next request) is not throttled by a code nobody received.
"""

from __future__ import annotations

import functools
import logging
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import clock_from
from shared.db.repositories import login_codes, users
from shared.domain.login_codes import code_hash, new_code
from shared.messaging import tasks
from shared.settings import Settings
from worker.runtime import Runtime

log = logging.getLogger(__name__)
# What a failed delivery raises: the task retries on these.
DELIVERY_ERRORS = (aiosmtplib.SMTPException, OSError)


async def send_login_code(runtime: Runtime, user_id: uuid.UUID, now: datetime | None = None,
                          purpose: str = tasks.MAIL_FOR_LOGIN) -> bool:
    """Mail the account a new login code, worded for `purpose` (tasks.MAIL_FOR_*); False
    when none was due (throttled, or no account)."""
    settings = runtime.settings
    code = new_code()
    digest = code_hash(settings.jwt_secret, user_id, code)
    email = await runtime.in_transaction(functools.partial(
        _issue, settings=settings, user_id=user_id, digest=digest,
        now=now or clock_from(settings).now()))
    if email is None:
        return False
    try:
        await deliver(settings, login_code_message(settings, email, code, purpose))
    except DELIVERY_ERRORS:
        await runtime.in_transaction(functools.partial(
            login_codes.withdraw, user_id=user_id, code_hash=digest))
        raise
    log.info("login code mailed to user %s", user_id)
    return True


async def _issue(conn: AsyncConnection, *, settings: Settings, user_id: uuid.UUID, digest: str,
                 now: datetime) -> str | None:
    email = await users.email_of(conn, user_id)
    if email is None:  # the account was deleted after the request
        return None
    issued = await login_codes.issue(
        conn, user_id=user_id, code_hash=digest, now=now,
        ttl=timedelta(seconds=settings.otp_ttl_seconds),
        resend_after=timedelta(seconds=settings.otp_resend_seconds))
    if not issued:
        log.info("login code for user %s not mailed: one was sent less than %d s ago",
                 user_id, settings.otp_resend_seconds)
        return None
    return email


def login_code_message(settings: Settings, recipient: str, code: str,
                       purpose: str = tasks.MAIL_FOR_LOGIN) -> EmailMessage:
    """The mail carrying `code`: a plain-text part and an HTML part."""
    minutes = max(1, settings.otp_ttl_seconds // 60)
    if purpose == tasks.MAIL_FOR_VERIFICATION:
        subject = "Confirm your ordergate address"
        lead = "Welcome to ordergate. To confirm this address, log in with the code"
        ignore = ("If you did not sign up, ignore this mail: the account cannot log in"
                  " with a password or trade until this code is used.")
    else:
        subject, lead = "Your ordergate login code", "Your ordergate login code is"
        ignore = ("If you did not ask for it, ignore this mail: nobody can log in without"
                  " the code.")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.smtp_sender
    message["To"] = recipient
    message.set_content(f"{lead} {code}\n\nIt works once, within {minutes} minutes. {ignore}\n")
    message.add_alternative(
        "<html><body>"
        f"<p>{lead}</p><p style=\"font-size:24px\"><b>{code}</b></p>"
        f"<p>It works once, within {minutes} minutes. {ignore}</p>"
        "</body></html>", subtype="html")
    return message


async def deliver(settings: Settings, message: EmailMessage) -> None:
    """Send one message through the SMTP server of the settings."""
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    await aiosmtplib.send(
        message, hostname=settings.smtp_host, port=settings.smtp_port,
        username=settings.smtp_username, password=password,
        use_tls=settings.smtp_security == "tls",
        # False, not None: aiosmtplib would otherwise upgrade whenever the server offers it.
        start_tls=settings.smtp_security == "starttls",
        timeout=settings.smtp_timeout_seconds)
