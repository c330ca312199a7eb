"""The API key format and the per-call rules: parsing, matching, allow-lists, last use."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from api.apikeys import keys


def test_an_issued_key_names_its_id_and_is_stored_only_as_its_hash() -> None:
    issued = keys.issue()

    assert keys.is_api_key(issued.token)
    assert keys.key_id_of(issued.token) == issued.key_id
    assert issued.token not in issued.secret_hash
    assert keys.matches(issued.token, issued.secret_hash)
    assert issued.token.startswith(keys.display_prefix(issued.key_id))


def test_two_keys_never_share_a_secret() -> None:
    first, second = keys.issue(), keys.issue()

    assert first.token.split("_", 2)[2] != second.token.split("_", 2)[2]
    assert not keys.matches(first.token, second.secret_hash)


@pytest.mark.parametrize("token", [
    "og_", "og_" + "0" * 32, f"og_{uuid.uuid4().hex}_short", f"og_{uuid.uuid4()}_{'a' * 43}",
    f"og_{uuid.uuid4().hex.upper()}_{'a' * 43}", f"og_{uuid.uuid4().hex}_{'a' * 43}=",
    "eyJhbGciOiJIUzI1NiJ9.e30.x",
])
def test_a_malformed_key_names_no_id(token: str) -> None:
    assert keys.key_id_of(token) is None


def test_an_unknown_key_never_matches() -> None:
    assert not keys.matches(keys.issue().token, None)


@pytest.mark.parametrize(("allowed", "host", "ok"), [
    (None, None, True),
    (None, "203.0.113.9", True),
    (["10.0.0.0/8"], "10.255.0.1", True),
    (["10.0.0.0/8"], "11.0.0.1", False),
    (["10.0.0.0/8"], "::ffff:10.0.0.1", True),  # an IPv4 peer on a dual-stack socket
    (["2001:db8::/32"], "2001:db8::7", True),
    (["2001:db8::/32"], "10.0.0.1", False),
    (["10.0.0.0/8"], None, False),
    (["10.0.0.0/8"], "testclient", False),
])
def test_the_allow_list_admits_only_its_addresses(allowed: list[str] | None, host: str | None,
                                                  ok: bool) -> None:
    assert keys.address_allowed(allowed, host) is ok


@pytest.mark.parametrize("text", ["10.0.0.1/8", "300.1.1.1", "10.0.0.0/33", "", "localhost"])
def test_an_allow_list_entry_must_be_an_address_or_an_exact_network(text: str) -> None:
    with pytest.raises(ValueError, match="CIDR"):
        keys.parse_network(text)


def test_expiry_and_last_use_follow_the_clock() -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

    assert not keys.is_expired(None, now)
    assert keys.is_expired(now, now)
    assert not keys.is_expired(now + timedelta(seconds=1), now)
    assert keys.last_used_due(None, now)
    assert not keys.last_used_due(now - timedelta(seconds=59), now)
    assert keys.last_used_due(now - keys.LAST_USED_RESOLUTION, now)
