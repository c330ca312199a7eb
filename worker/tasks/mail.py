"""Celery task: mail a one-time login code (queued by POST /api/v1/auth/request-otp, and by
POST /api/v1/auth/register when REQUIRE_EMAIL_VERIFICATION is on)."""

from __future__ import annotations

import uuid

from celery import shared_task

from shared.messaging import tasks
from worker.handlers import mail
from worker.runtime import get_runtime


@shared_task(name=tasks.SEND_LOGIN_CODE, autoretry_for=mail.DELIVERY_ERRORS,
             retry_backoff=True, max_retries=3)
def send_login_code(user_id: str, purpose: str = tasks.MAIL_FOR_LOGIN) -> bool:
    """Mail the account a new login code; a failed delivery is retried with a fresh code."""
    runtime = get_runtime()
    return runtime.run(mail.send_login_code(runtime, uuid.UUID(user_id), purpose=purpose))
