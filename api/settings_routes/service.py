"""Read and replace a user's profile and preferences.

Never commits: the router owns the transactions.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from api.settings_routes.schemas import Preferences, PreferencesOut, Profile, ProfileOut
from shared.db.repositories import user_settings
from shared.domain.errors import NotFound


async def get_profile(conn: AsyncConnection, user_id: uuid.UUID) -> ProfileOut:
    """The user's profile, or the defaults."""
    return _profile(await user_settings.get(conn, user_id))


async def put_profile(conn: AsyncConnection, user_id: uuid.UUID, body: Profile) -> ProfileOut:
    """Replace the user's profile."""
    row = await user_settings.put(conn, user_id, {
        "display_name": body.name, "mobile": body.mobile, "timezone": body.timezone})
    return _profile(row)


async def get_preferences(conn: AsyncConnection, user_id: uuid.UUID) -> PreferencesOut:
    """The user's preferences, or the defaults."""
    return _preferences(await user_settings.get(conn, user_id))


async def put_preferences(conn: AsyncConnection, user_id: uuid.UUID,
                          body: Preferences) -> PreferencesOut:
    """Replace the user's preferences; 404 if the default account is not one of theirs."""
    account_id = body.default_account_id
    if account_id is not None and not await user_settings.own_account(conn, user_id,
                                                                      account_id):
        raise NotFound(f"account {account_id} not found",
                       details={"field": "default_account_id"})
    row = await user_settings.put(conn, user_id, {
        "default_account_id": account_id, "default_order_type": body.default_order_type.value,
        "default_time_in_force": body.default_time_in_force.value,
        "confirm_orders": body.order_confirmations})
    return _preferences(row)


def _profile(row: Mapping[Any, Any]) -> ProfileOut:
    return ProfileOut(name=row["display_name"], mobile=row["mobile"], timezone=row["timezone"],
                      updated_at=row["updated_at"])


def _preferences(row: Mapping[Any, Any]) -> PreferencesOut:
    return PreferencesOut(default_account_id=row["default_account_id"],
                          default_order_type=row["default_order_type"],
                          default_time_in_force=row["default_time_in_force"],
                          order_confirmations=row["confirm_orders"],
                          updated_at=row["updated_at"])
