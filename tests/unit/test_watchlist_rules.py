"""How a watchlist name is written, and when two names are the same name."""

from __future__ import annotations

import pytest

from shared.domain.watchlists import MAX_NAME_LENGTH, name_key, watchlist_name


@pytest.mark.parametrize(("raw", "shown"), [
    ("Tech", "Tech"),
    ("  Tech \u00a0 giants  ", "Tech giants"),
    ("Ｔｅｃｈ", "Tech"),  # full-width letters are the letters
    ("x" * MAX_NAME_LENGTH, "x" * MAX_NAME_LENGTH),
])
def test_a_name_is_trimmed_collapsed_and_normalised(raw: str, shown: str) -> None:
    assert watchlist_name(raw) == shown


@pytest.mark.parametrize(("raw", "reason"), [
    ("", "empty"),
    (" \u3000 ", "empty"),
    ("x" * (MAX_NAME_LENGTH + 1), f"at most {MAX_NAME_LENGTH} characters"),
    ("bell\x07", "control characters"),
    ("nul\x00", "control characters"),
    ("c1\x85", "control characters"),
])
def test_a_bad_name_is_refused_saying_why(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        watchlist_name(raw)


@pytest.mark.parametrize(("one", "other"), [
    ("Tech", "TECH"),
    ("Straße", "STRASSE"),
    ("Ｔｅｃｈ", "tech"),
    ("Tech  giants", "tech giants"),
])
def test_names_that_differ_only_in_case_or_width_share_a_key(one: str, other: str) -> None:
    assert name_key(one) == name_key(other)


def test_different_names_have_different_keys() -> None:
    assert name_key("Tech") != name_key("Tech 2")
