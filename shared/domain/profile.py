"""Pure rules of a user's profile: the shape of a mobile number and of a display name."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

MAX_DISPLAY_NAME_LENGTH: Final = 100
# E.164: a plus, a country code that does not start with 0, at most 15 digits in all. Seven
# digits at least: no country's full number is shorter.
_E164: Final = re.compile(r"\+[1-9][0-9]{6,14}")
# What people write between digits: "+91 98765-43210", "+1 (555) 010.2030".
_SEPARATORS: Final = re.compile(r"[ \-.()]")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def mobile_number(raw: str) -> str:
    """Return a mobile number in E.164 form (+919876543210); ValueError if it has another
    shape (no leading +, letters, too few or too many digits)."""
    compact = _SEPARATORS.sub("", raw)
    # fullmatch with [0-9], not \\d: "+٩١..." (Arabic-Indic digits) is not a phone number here.
    if not _E164.fullmatch(compact):
        raise ValueError("mobile must be an international number: +, the country code and"
                         " 7 to 15 digits in all, e.g. +919876543210")
    return compact


def display_name(raw: str) -> str:
    """Return a display name trimmed and NFC-normalised; ValueError if it is empty, longer
    than MAX_DISPLAY_NAME_LENGTH or holds control characters."""
    if _CONTROL.search(raw):
        raise ValueError("name may not contain control characters")
    text = unicodedata.normalize("NFC", raw).strip()
    if not text:
        raise ValueError("name may not be empty; send null for no name")
    if len(text) > MAX_DISPLAY_NAME_LENGTH:
        raise ValueError(f"name is at most {MAX_DISPLAY_NAME_LENGTH} characters, was {len(text)}")
    return text
