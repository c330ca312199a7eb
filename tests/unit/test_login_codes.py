"""The pure rules of one-time login codes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.domain.login_codes import LoginCode, Verdict, check, code_hash, new_code

KEY = "a server secret of at least thirty-two bytes"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _code(code: str, **changes: object) -> LoginCode:
    user_id = uuid.uuid4()
    fields: dict[str, object] = {
        "user_id": user_id, "code_hash": code_hash(KEY, user_id, code), "issued_at": NOW,
        "expires_at": NOW + timedelta(minutes=5), "failed_attempts": 0, "used_at": None,
        **changes}
    return LoginCode(**fields)  # type: ignore[arg-type]


def test_codes_are_six_ascii_digits_with_leading_zeros_kept() -> None:
    codes = {new_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isascii() and c.isdigit() for c in codes)
    assert len(codes) > 190


def test_the_stored_hash_depends_on_the_key_and_the_account() -> None:
    user = uuid.uuid4()
    assert code_hash(KEY, user, "123456") == code_hash(KEY, user, "123456")
    assert code_hash(KEY, user, "123456") != code_hash(KEY, uuid.uuid4(), "123456")
    assert code_hash(KEY, user, "123456") != code_hash(KEY + "x", user, "123456")
    assert "123456" not in code_hash(KEY, user, "123456")


def test_the_right_code_is_accepted_and_a_wrong_one_counts() -> None:
    code = _code("042917")
    assert check(code, "042917", key=KEY, now=NOW, max_attempts=5) is Verdict.ACCEPTED
    assert check(code, "042918", key=KEY, now=NOW, max_attempts=5) is Verdict.WRONG


def test_a_used_expired_or_burnt_code_is_spent_even_when_right() -> None:
    for code, now in ((_code("042917", used_at=NOW), NOW),
                      (_code("042917"), NOW + timedelta(minutes=5)),
                      (_code("042917", failed_attempts=5), NOW)):
        assert check(code, "042917", key=KEY, now=now, max_attempts=5) is Verdict.SPENT
    almost = _code("042917", failed_attempts=4)
    assert check(almost, "042917", key=KEY, now=NOW, max_attempts=5) is Verdict.ACCEPTED
