"""Account settings: read and change what a MARKET order does outside the session and the
account's risk limits. Services never commit; the router owns the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from api.accounts.schemas import AccountSettingsPatch
from api.orders.pretrade import default_limits, limits_of
from shared.db.repositories import risk
from shared.domain.errors import NotFound
from shared.domain.limits import RiskLimits, parse_limits
from shared.messaging.order_view import json_value
from shared.settings import Settings


def _not_found(account_id: uuid.UUID | None) -> NotFound:
    return NotFound(f"account {account_id or 'paper'} not found",
                    details={"field": "account_id"})


def settings_view(account: Mapping[Any, Any], settings: Settings) -> dict[str, Any]:
    """Shape an account's settings: its own limits, the defaults and those in force."""
    own = RiskLimits().overridden_by(account["risk_limits"] or {})
    return {"account_id": str(account["id"]), "broker": account["broker"],
            "currency": account["currency"], "outside_session": account["outside_session"],
            "halted_at": json_value(account["halted_at"]), "risk_limits": own.as_json(),
            "default_risk_limits": default_limits(settings).as_json(),
            "effective_risk_limits": limits_of(account, settings).as_json()}


async def read_settings(conn: AsyncConnection, user_id: uuid.UUID,
                        account_id: uuid.UUID | None, settings: Settings) -> dict[str, Any]:
    """Return the settings of one of the user's accounts (default: paper); 404 if not theirs."""
    account = await risk.rules_for(conn, user_id, account_id)
    if account is None:
        raise _not_found(account_id)
    return settings_view(account, settings)


async def change_settings(conn: AsyncConnection, user_id: uuid.UUID,
                          account_id: uuid.UUID | None, patch: AccountSettingsPatch,
                          settings: Settings) -> dict[str, Any]:
    """Apply `patch` to one of the user's accounts and return its settings."""
    account = await risk.rules_for(conn, user_id, account_id)
    if account is None:
        raise _not_found(account_id)
    named = ({name: getattr(patch.risk_limits, name) for name in patch.risk_limits.model_fields_set}
             if patch.risk_limits is not None else {})
    limits = parse_limits(named)  # signs and bounds, each refusal naming its field
    if patch.outside_session is None and not limits:
        return settings_view(account, settings)
    changed = await risk.update_settings(
        conn, user_id, account["id"], outside_session=patch.outside_session,
        set_limits={name: json_value(value) for name, value in limits.items()
                    if value is not None},
        clear_limits=[name for name, value in limits.items() if value is None])
    if changed is None:
        raise _not_found(account_id)
    return settings_view(changed, settings)
