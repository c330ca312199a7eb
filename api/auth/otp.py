"""Login by a one-time code mailed to the account's address. Never commits.

A request only queues the worker task that draws, stores and mails the code (worker/handlers/
mail.py); the API never sees the code in clear. Every failure of a login, whether no such
account, no code, a wrong, used, expired or burnt code, is the same 401: none tells an
attacker who has an account or how close a guess was.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection

from api.audit import Who
from api.auth.service import Authenticated, TokenPair, start_session
from shared.clock import Clock
from shared.db.repositories import login_codes, users
from shared.domain.audit import Action
from shared.domain.login_codes import Verdict, check
from shared.messaging import enqueue, tasks
from shared.settings import Settings

log = logging.getLogger(__name__)
BAD_CODE = "the login code is incorrect or expired; request a new one"


async def queue_code(conn: AsyncConnection, redis: Redis, settings: Settings,
                     email: str, who: Who) -> None:
    """Queue a login code's mail if an account has `email`; nothing otherwise. Audited
    either way, as the same work: the answer's timing tells nothing.

    A publish Redis refuses is logged and swallowed: a 503 here (and never for an unknown
    address) would tell who has an account. The user asks again.
    An account whose address is not yet proven is mailed as any other: its first login with
    the code proves it (REQUIRE_EMAIL_VERIFICATION).
    """
    user = await users.get_by_email(conn, email)
    await who.record(conn, Action.OTP_REQUESTED, user_id=user.id if user else None,
                     details={"email": email})
    if user is not None:
        await queue_mail(redis, settings, user.id, tasks.MAIL_FOR_LOGIN)


async def queue_mail(redis: Redis, settings: Settings, user_id: uuid.UUID, purpose: str) -> None:
    """Queue the worker task that mails the account a code, for a login or to prove its
    address (tasks.MAIL_FOR_*); a publish Redis refuses is logged and swallowed."""
    try:
        async with asyncio.timeout(settings.publish_timeout_seconds):
            # A mail still queued when its code would have expired is not worth sending.
            await enqueue.send(redis, tasks.SEND_LOGIN_CODE, [str(user_id), purpose],
                               tasks.DEFAULT_QUEUE, expires_in=settings.otp_ttl_seconds)
    except Exception as exc:  # noqa: BLE001 - any failure: the same answer, no mail
        log.warning("could not queue the %s code mail of user %s: %s", purpose, user_id, exc)


async def login(conn: AsyncConnection, settings: Settings, clock: Clock, email: str,
                candidate: str, who: Who) -> TokenPair | None:
    """Spend the account's code and start a session; None for any failure. Audited.

    A wrong try is counted in this transaction: the caller must commit even on None.
    """
    user = await users.get_by_email(conn, email)
    code = await login_codes.lock(conn, user.id) if user is not None else None
    now = clock.now()
    verdict = None
    if user is not None and code is not None:
        verdict = check(code, candidate, key=settings.jwt_secret, now=now,
                        max_attempts=settings.otp_max_attempts)
        if verdict is Verdict.WRONG:
            await login_codes.record_failure(conn, user.id)
            log.warning("security: wrong login code for user %s (try %d of %d)", user.id,
                        code.failed_attempts + 1, settings.otp_max_attempts)
    if user is None or verdict is not Verdict.ACCEPTED:
        await who.record(conn, Action.LOGIN_FAILED, user_id=user.id if user else None,
                         details={"method": "otp", "email": email,
                                  "reason": verdict or "no_code"})
        return None
    await login_codes.mark_used(conn, user.id, now)
    pair = await start_session(conn, settings, Authenticated(user=user, new_hash=None))
    who = who.as_user(user.id)
    # The code reached this mailbox: the address is proven, whatever the setting says now,
    # so that turning REQUIRE_EMAIL_VERIFICATION on later asks nothing more of this account.
    if await users.mark_email_verified(conn, user.id, now):
        await who.record(conn, Action.EMAIL_VERIFIED, details={"email": email})
    await who.record(conn, Action.LOGIN, details={"method": "otp"})
    return pair
