"""Pure rules of one-time login codes: six digits, kept only as a keyed hash, good for one
login, for a few minutes, and for a few tries."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

CODE_DIGITS: Final = 6


class Verdict(StrEnum):
    """What a presented code amounts to."""

    ACCEPTED = "accepted"
    WRONG = "wrong"  # counts as a failed try
    SPENT = "spent"  # used, expired or burnt: no try counts any more


@dataclass(frozen=True)
class LoginCode:
    """The code an account holds now (at most one); `code_hash` from `code_hash()`."""

    user_id: uuid.UUID
    code_hash: str
    issued_at: datetime
    expires_at: datetime
    failed_attempts: int
    used_at: datetime | None


def new_code() -> str:
    """Draw a code of CODE_DIGITS digits from the operating system's CSPRNG."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(key: str, user_id: uuid.UUID, code: str) -> str:
    """The only form in which a code is stored: an HMAC-SHA256 under a server secret.

    Keyed, because all million codes hash in a second: a plain digest in a leaked row would
    give the code away. The user id binds the hash to one account.
    """
    message = f"ordergate-login-code:{user_id}:{code}".encode()
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def check(code: LoginCode, candidate: str, *, key: str, now: datetime,
          max_attempts: int) -> Verdict:
    """Judge `candidate` against the account's code at `now`."""
    if code.used_at is not None or now >= code.expires_at or code.failed_attempts >= max_attempts:
        return Verdict.SPENT
    if hmac.compare_digest(code.code_hash, code_hash(key, code.user_id, candidate)):
        return Verdict.ACCEPTED
    return Verdict.WRONG
