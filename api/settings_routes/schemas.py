"""Bodies of the settings endpoints. PUT replaces the whole document: every field is required
(null where a field may be empty), and an unknown field is refused."""

from __future__ import annotations

import uuid
import zoneinfo
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from shared.domain.enums import OrderType, TimeInForce
from shared.domain.profile import MAX_DISPLAY_NAME_LENGTH, display_name, mobile_number

MAX_TIMEZONE_LENGTH = 64


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    # available_timezones() walks the tz database: once. A lookup in the set never opens a
    # file for a name a client made up, as ZoneInfo(name) would.
    return frozenset(zoneinfo.available_timezones())


def iana_zone(name: str) -> str:
    """Return `name` if it is an IANA time zone (Asia/Kolkata, America/New_York, UTC)."""
    if name not in _zones():
        raise ValueError(f"timezone must be an IANA time zone such as Asia/Kolkata or UTC,"
                         f" was {name[:MAX_TIMEZONE_LENGTH]!r}")
    return name


DisplayName = Annotated[
    str, Field(max_length=4 * MAX_DISPLAY_NAME_LENGTH, examples=["Asha Rao"],
               description=f"1 to {MAX_DISPLAY_NAME_LENGTH} characters"),
    AfterValidator(display_name)]
Mobile = Annotated[
    str, Field(max_length=32, examples=["+919876543210"],
               description="international form: +, country code, number (spaces, dashes,"
                           " dots and brackets are dropped); stored as E.164"),
    AfterValidator(mobile_number)]
Timezone = Annotated[
    str, Field(max_length=MAX_TIMEZONE_LENGTH, examples=["Asia/Kolkata"],
               description="an IANA time zone name"),
    AfterValidator(iana_zone)]


class Profile(BaseModel):
    """Who you are, as the apps show it."""

    model_config = ConfigDict(extra="forbid")

    name: DisplayName | None
    mobile: Mobile | None
    timezone: Timezone


class ProfileOut(Profile):
    """Your profile; the defaults until you first save it."""

    model_config = ConfigDict(extra="ignore")

    updated_at: AwareDatetime | None = Field(description="null until the first save")


class Preferences(BaseModel):
    """How the apps start a new order for you. ordergate stores them; it does not apply them
    to orders (an order names its own account, type and time in force)."""

    model_config = ConfigDict(extra="forbid")

    default_account_id: uuid.UUID | None = Field(
        description="one of your accounts (a broker connection's id); null: your paper account")
    default_order_type: OrderType
    default_time_in_force: TimeInForce
    order_confirmations: StrictBool = Field(
        description="whether the apps ask before sending an order")


class PreferencesOut(Preferences):
    """Your preferences; the defaults (paper, LIMIT, DAY, confirmations on) until you first
    save them."""

    model_config = ConfigDict(extra="ignore")

    updated_at: AwareDatetime | None = Field(description="null until the first save")
