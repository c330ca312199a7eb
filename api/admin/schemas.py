"""Request and response bodies of the admin routes."""

from __future__ import annotations

import uuid

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.orders.schemas import AmountText
from shared.domain.enums import Role


class AdminUser(BaseModel):
    """A user as an admin sees it."""

    id: uuid.UUID
    email: str
    username: str | None
    role: Role
    created_at: AwareDatetime


class AdminUserPage(BaseModel):
    """A page of users, newest first; pass `next_cursor` as `cursor` for the next one."""

    items: list[AdminUser]
    next_cursor: str | None


class AdminAccount(BaseModel):
    """One of a user's accounts: the paper account, or a broker connection (no credentials)."""

    id: uuid.UUID
    broker: str
    currency: str
    cash: AmountText
    reserved_cash: AmountText = Field(description="what open orders hold of the cash")
    buying_power: AmountText = Field(description="cash - reserved_cash")
    label: str | None
    broker_user_id: str | None
    status: str
    halted_at: AwareDatetime | None = Field(description="when its kill switch was set, if set")
    created_at: AwareDatetime


class AdminUserDetail(AdminUser):
    """A user with every account it holds."""

    accounts: list[AdminAccount]


class RoleChange(BaseModel):
    """The role a user is to have."""

    model_config = ConfigDict(extra="forbid")

    role: Role


class RoleChanged(AdminUser):
    """The user after a role change, and the role it had."""

    previous_role: Role
