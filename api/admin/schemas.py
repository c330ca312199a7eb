"""Request and response bodies of the admin routes."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from api.orders.schemas import PLAIN_DECIMAL, AmountText, _amount
from shared.brokers.catalog import Broker
from shared.domain.enums import Role
from shared.domain.values import AMOUNT_DECIMALS, MAX_NOTIONAL


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


CashAmount = Annotated[Decimal, BeforeValidator(_amount(MAX_NOTIONAL)), WithJsonSchema({
    "anyOf": [{"type": "number", "minimum": -int(MAX_NOTIONAL), "maximum": int(MAX_NOTIONAL)},
              {"type": "string", "pattern": f"^{PLAIN_DECIMAL}$"}],
    "description": f"in the account's currency: positive deposits, negative withdraws; not 0,"
                   f" at most {MAX_NOTIONAL} either way, at most {AMOUNT_DECIMALS} decimal"
                   " places"})]


OneLine = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$")]


class AdjustCash(BaseModel):
    """A deposit or withdrawal of paper cash, and why."""

    model_config = ConfigDict(extra="forbid")

    amount: CashAmount
    reason: OneLine = Field(description="why, for the journal and the audit log (one line)")
    account_id: uuid.UUID | None = Field(
        default=None, description="the user's paper account (the default); a broker"
                                  " connection's cash is the broker's, never adjusted here")


class CashEntry(BaseModel):
    """One booked deposit or withdrawal: the journal's entry."""

    id: uuid.UUID
    account_id: uuid.UUID
    user_id: uuid.UUID
    amount: AmountText
    cash_after: AmountText = Field(description="the account's cash once this was booked")
    reason: str
    actor_user_id: uuid.UUID | None = Field(description="the admin who booked it")
    created_at: AwareDatetime


class PauseDispatch(BaseModel):
    """Why a broker's dispatch is paused (optional)."""

    model_config = ConfigDict(extra="forbid")

    reason: OneLine | None = None


class DispatchState(BaseModel):
    """Whether a broker's new orders are placed, or wait for a resume."""

    broker: Broker
    paused: bool
    paused_at: AwareDatetime | None
    paused_by: uuid.UUID | None = Field(description="the admin who paused it")
    reason: str | None
    orders_released: int | None = Field(
        description="a resume only: how many waiting orders it handed to the sweeper")
