"""The shape of a mobile number, a display name and a time zone in a user's profile."""

from __future__ import annotations

import pytest

from api.settings_routes.schemas import iana_zone
from shared.domain.profile import MAX_DISPLAY_NAME_LENGTH, display_name, mobile_number


@pytest.mark.parametrize(("raw", "stored"), [
    ("+919876543210", "+919876543210"),
    ("+91 98765-43210", "+919876543210"),
    ("+1 (555) 010.2030", "+15550102030"),
    ("+4420", None),
])
def test_a_mobile_number_is_stored_in_e164_form(raw: str, stored: str | None) -> None:
    if stored is None:
        with pytest.raises(ValueError, match="international number"):
            mobile_number(raw)
    else:
        assert mobile_number(raw) == stored


@pytest.mark.parametrize("raw", [
    "9876543210",  # no country code
    "+0123456789",  # a country code never starts with 0
    "+1234567890123456",  # 16 digits
    "+91 98765 4321O",  # a letter O
    "+٩١٩٨٧٦٥٤٣٢١٠",  # Arabic-Indic digits
    "+91\n9876543210",
    "",
])
def test_a_number_of_another_shape_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="international number"):
        mobile_number(raw)


def test_a_display_name_is_trimmed_and_bounded() -> None:
    assert display_name("  Asha Rao ") == "Asha Rao"
    assert display_name("x" * MAX_DISPLAY_NAME_LENGTH) == "x" * MAX_DISPLAY_NAME_LENGTH
    with pytest.raises(ValueError, match="at most"):
        display_name("x" * (MAX_DISPLAY_NAME_LENGTH + 1))
    with pytest.raises(ValueError, match="empty"):
        display_name("   ")
    with pytest.raises(ValueError, match="control"):
        display_name("Asha\x1bRao")


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/New_York", "UTC", "Europe/London"])
def test_an_iana_zone_is_accepted(zone: str) -> None:
    assert iana_zone(zone) == zone


@pytest.mark.parametrize("zone", ["Mars/Olympus", "asia/kolkata", "IST", "+05:30",
                                  "../../etc/passwd", "", "Asia/Kolkata "])
def test_anything_else_is_not_a_zone(zone: str) -> None:
    with pytest.raises(ValueError, match="IANA time zone"):
        iana_zone(zone)
