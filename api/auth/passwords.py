"""Password hashing: argon2id for new hashes; legacy bcrypt hashes verify and are upgraded.

Hashing costs ~90 ms of CPU and 64 MiB, so it runs on a small dedicated thread pool: the event
loop never blocks, and a burst of logins queues here instead of exhausting memory or starving
the default executor.
"""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

from passlib.context import CryptContext

_context: Final = CryptContext(
    schemes=["argon2", "bcrypt"],
    default="argon2",
    deprecated="auto",
    argon2__type="ID",
)
_executor: Final = ThreadPoolExecutor(
    max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="password-hash"
)
# bcrypt reads at most 72 bytes; bcrypt>=5 raises on longer input instead of truncating.
_BCRYPT_MAX_BYTES: Final = 72


@dataclass(frozen=True)
class Verification:
    """The outcome of checking a password; `new_hash` is set when the stored hash is outdated."""

    ok: bool
    new_hash: str | None = None


def hash_password_sync(password: str) -> str:
    """Hash a password with the current default scheme (argon2id); blocks for ~0.1 s."""
    return str(_context.hash(password))


def verify_password_sync(password: str, stored_hash: str | None) -> Verification:
    """Check a password against a stored hash; with no hash, burn the same time and fail."""
    if stored_hash is None:
        _context.verify(password, _dummy_hash())
        return Verification(ok=False)
    try:
        scheme = _context.identify(stored_hash)
    except ValueError:
        return Verification(ok=False)
    if scheme is None:
        return Verification(ok=False)
    secret: str | bytes = password
    if scheme == "bcrypt":
        # Legacy bcrypt silently used only the first 72 bytes; verify exactly as it did.
        secret = password.encode("utf-8")[:_BCRYPT_MAX_BYTES]
    try:
        ok = bool(_context.verify(secret, stored_hash))
    except ValueError:
        # A malformed stored hash is a failed login, never a 500.
        return Verification(ok=False)
    if ok and _context.needs_update(stored_hash):
        return Verification(ok=True, new_hash=hash_password_sync(password))
    return Verification(ok=ok)


async def hash_password(password: str) -> str:
    """Hash a password off the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, hash_password_sync, password)


async def verify_password(password: str, stored_hash: str | None) -> Verification:
    """Verify a password off the event loop; pass None for an unknown user (same cost)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, verify_password_sync, password, stored_hash)


@functools.cache
def _dummy_hash() -> str:
    # Made with the live parameters so an unknown email costs what a wrong password costs.
    return hash_password_sync("not a real password, only here to spend time")
