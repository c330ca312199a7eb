"""The API's one JSON body parser: strict JSON, exact numbers, no duplicates, bounded depth."""

from __future__ import annotations

from decimal import Decimal

import pytest

from api.errors import ApiError
from api.json_body import MAX_DEPTH, parse_body


def _refused(raw: bytes) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_body(raw)
    assert caught.value.status == 400
    return caught.value


def test_numbers_keep_every_digit() -> None:
    value = parse_body(b'{"q": 123456789.123456789, "n": 7, "big": 1' + b"0" * 80 + b"}")
    assert value == {"q": Decimal("123456789.123456789"), "n": 7, "big": Decimal(10) ** 80}
    assert isinstance(value["q"], Decimal)
    assert type(value["n"]) is int


@pytest.mark.parametrize(
    ("raw", "key"),
    [(b'{"side": "SELL", "side": "BUY"}', "side"),
     (b'{"a": [{"x": 1}, {"y": 1, "y": 2}]}', "y"),
     (b'{"outer": {"inner": {"k": 1, "k": 1}}}', "k")],
)
def test_a_duplicate_key_anywhere_is_refused_by_name(raw: bytes, key: str) -> None:
    error = _refused(raw)
    assert error.code == "duplicate_key"
    assert error.details == {"field": key}
    assert f'"{key}"' in error.message


def test_the_same_key_in_sibling_objects_is_fine() -> None:
    assert parse_body(b'[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]


def test_nesting_up_to_the_limit_parses_and_one_more_is_refused() -> None:
    assert parse_body(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    deeper = b'{"a": ' * MAX_DEPTH + b"[]" + b"}" * MAX_DEPTH
    error = _refused(deeper)
    assert error.code == "invalid_json"
    assert f"deeper than {MAX_DEPTH}" in error.message


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_a_megabyte_of_open_brackets_is_invalid_json(opener: bytes) -> None:
    assert _refused(opener * (1_000_000 // len(opener))).code == "invalid_json"


def test_brackets_inside_strings_are_text_not_nesting() -> None:
    text = '["' + "[" * 100 + '\\"{' * 50 + '"]'
    assert parse_body(text.encode()) == ["[" * 100 + '"{' * 50]


def test_many_shallow_containers_are_fine() -> None:
    assert len(parse_body(b"[" + b",".join([b"[]"] * 10_000) + b"]")) == 10_000


@pytest.mark.parametrize("raw", [b"{not json", b'{"q": NaN}', b'{"q": -Infinity}', b"\xff\xfe{",
                                 '{"a": 1}'.encode("utf-16"), b'{"a": 1} trailing', b""])
def test_anything_but_strict_json_is_invalid_json(raw: bytes) -> None:
    assert _refused(raw).code == "invalid_json"


@pytest.mark.parametrize(("raw", "field"), [
    (b'{"symbol": "\\ud800"}', "symbol"), (b'{"notes": {"x": ["ok", "a\\uDFFFb"]}}', "notes.x.1"),
    (b'{"\\ud83d": 1}', "\\ud83d"), (b'{"a": "\\u0000"}', "a")])
def test_text_postgresql_cannot_store_is_refused_naming_its_field(raw: bytes, field: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_body(raw)
    assert caught.value.status == 422
    assert caught.value.details == {"field": field.encode().decode("unicode_escape")}


def test_a_surrogate_pair_is_one_storable_character() -> None:
    assert parse_body(b'{"name": "\\ud83d\\ude00"}') == {"name": "\U0001f600"}
