"""Password hashing: argon2id for new hashes; legacy bcrypt accepted and upgraded; off-loop."""

from __future__ import annotations

import asyncio

import bcrypt
import pytest

from api.auth import passwords


def _legacy_bcrypt(password: bytes) -> str:
    # What an older system stored: bcrypt<5 silently used the first 72 bytes.
    return bcrypt.hashpw(password[:72], bcrypt.gensalt(rounds=4)).decode("ascii")


def test_new_hashes_are_argon2id_and_verify() -> None:
    stored = passwords.hash_password_sync("correct horse battery")

    assert stored.startswith("$argon2id$")
    assert passwords.verify_password_sync("correct horse battery", stored).ok
    assert passwords.verify_password_sync("correct horse battery", stored).new_hash is None


def test_wrong_password_is_refused() -> None:
    stored = passwords.hash_password_sync("correct horse battery")

    assert not passwords.verify_password_sync("correct horse batteries", stored).ok


def test_the_same_password_hashes_differently_each_time() -> None:
    assert passwords.hash_password_sync("same secret 1") != passwords.hash_password_sync(
        "same secret 1"
    )


@pytest.mark.parametrize(
    "password",
    ["plain ascii pw", "pässwörd-ünïcødé-密码", "x" * 128, "é" * 100],
    ids=["ascii", "unicode", "128-chars", "200-bytes"],
)
def test_long_and_unicode_passwords_hash_and_verify(password: str) -> None:
    stored = passwords.hash_password_sync(password)

    assert passwords.verify_password_sync(password, stored).ok
    assert not passwords.verify_password_sync(password[:-1], stored).ok


def test_legacy_bcrypt_hash_verifies_and_asks_for_an_argon2id_rehash() -> None:
    stored = _legacy_bcrypt(b"old but gold password")

    result = passwords.verify_password_sync("old but gold password", stored)

    assert result.ok
    assert result.new_hash is not None
    assert result.new_hash.startswith("$argon2id$")
    assert passwords.verify_password_sync("old but gold password", result.new_hash).ok


def test_legacy_bcrypt_hash_of_a_password_over_72_bytes_still_verifies() -> None:
    # bcrypt 5 raises on >72 bytes; the old hash was made from the first 72 bytes.
    password = "a long passphrase " * 6  # 108 bytes
    stored = _legacy_bcrypt(password.encode())

    result = passwords.verify_password_sync(password, stored)

    assert result.ok
    assert result.new_hash is not None
    assert passwords.verify_password_sync(password, result.new_hash).ok


def test_legacy_bcrypt_hash_refuses_a_wrong_password_and_asks_no_rehash() -> None:
    result = passwords.verify_password_sync("not it at all", _legacy_bcrypt(b"old but gold"))

    assert result == passwords.Verification(ok=False)


@pytest.mark.parametrize("stored", [None, "", "not-a-hash", "$argon2id$v=19$broken"])
def test_missing_or_malformed_stored_hash_fails_without_raising(stored: str | None) -> None:
    assert passwords.verify_password_sync("whatever password", stored) == passwords.Verification(
        ok=False
    )


async def test_hashing_runs_off_the_event_loop() -> None:
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    async def hash_then_stop() -> str:
        try:
            return await passwords.hash_password("correct horse battery")
        finally:
            done.set()

    stored, _ = await asyncio.gather(hash_then_stop(), ticker())

    assert ticks > 1, "the event loop was blocked while hashing"
    assert (await passwords.verify_password("correct horse battery", stored)).ok
