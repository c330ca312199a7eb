"""Admin use cases over users. Never commits: the router owns the transactions."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from api.admin.schemas import AdjustCash
from api.audit import Who
from api.errors import header_field
from api.pages import keyset_cursor, read_keyset_cursor
from shared.brokers.catalog import Broker
from shared.db.repositories import cash, pauses, users
from shared.domain.audit import Action
from shared.domain.cash import CashAdjustmentRefused, cash_after
from shared.domain.enums import Role
from shared.domain.errors import Conflict, NotFound
from shared.messaging.order_view import json_value


def user_id(raw: str) -> uuid.UUID:
    """Parse a user id from the path; anything that is not a UUID is simply not found."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found(raw) from None


def not_found(raw: object) -> NotFound:
    """The 404 of a user id no user has."""
    return NotFound(f"user {raw} not found", details={"field": "user_id"})


def _user(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {name: json_value(row[name])
            for name in ("id", "email", "username", "role", "created_at")}


def _account(row: Mapping[Any, Any]) -> dict[str, Any]:
    shaped = {name: json_value(value) for name, value in row.items()}
    shaped["buying_power"] = json_value(row["cash"] - row["reserved_cash"])
    return shaped


async def list_users(conn: AsyncConnection, *, prefix: str | None, role: Role | None,
                     limit: int, cursor: str | None) -> dict[str, Any]:
    """A page of users, newest first, whose e-mail or username starts with `prefix`."""
    after = read_keyset_cursor(cursor) if cursor else None
    rows = await users.search(conn, prefix=prefix, role=role, limit=limit, after=after)
    last = rows[-1] if len(rows) == limit else None
    return {"items": [_user(row) for row in rows],
            "next_cursor": keyset_cursor(last["created_at"], last["id"]) if last else None}


async def user_detail(conn: AsyncConnection, raw_id: str) -> dict[str, Any]:
    """One user with its accounts; 404 for an unknown id."""
    uid = user_id(raw_id)
    row = await users.profile(conn, uid)
    if row is None:
        raise not_found(raw_id)
    return {**_user(row), "accounts": [_account(a) for a in await users.accounts_of(conn, uid)]}


async def change_role(conn: AsyncConnection, who: Who, raw_id: str,
                      role: Role) -> dict[str, Any]:
    """Give a user `role`, audited; 409 `last_admin` rather than leave nobody to administer.

    The admins' rows are locked first, so two demotions at once cannot both pass the check.
    """
    uid = user_id(raw_id)
    admins = await users.lock_admins(conn)
    if role is Role.USER and admins == [uid]:
        raise Conflict("this is the only admin; make another user an admin first",
                       code="last_admin", details={"field": "role"})
    before = await users.set_role(conn, uid, role)
    if before is None:
        raise not_found(raw_id)
    if before is not role:
        await who.record(conn, Action.ROLE_CHANGED, user_id=uid, target=("user", uid),
                         details={"from": before, "to": role})
    row = await users.profile(conn, uid)
    assert row is not None, "its row is locked"
    return {**_user(row), "previous_role": before.value}


def _fingerprint(body: AdjustCash) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _entry(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {name: json_value(row[name]) for name in ("id", "account_id", "user_id", "amount",
                                                     "cash_after", "reason", "actor_user_id",
                                                     "created_at")}


async def adjust_cash(conn: AsyncConnection, who: Who, raw_id: str, body: AdjustCash,
                      idempotency_key: str) -> tuple[dict[str, Any], bool]:
    """Deposit or withdraw a user's paper cash, journaled and audited; (entry, replayed).

    The account's row lock is held from the check to the booking, so a placement reserving
    cash meanwhile waits and then sees the new cash: the cash never ends below what open
    orders reserve. A retry with the same Idempotency-Key and body answers the first entry.
    """
    uid = user_id(raw_id)
    if await users.profile(conn, uid) is None:
        raise not_found(raw_id)
    account = await cash.lock_account(conn, uid, body.account_id)
    if account is None:
        raise NotFound(f"account {body.account_id} of user {raw_id} not found",
                       details={"field": "account_id"})
    if account["broker"] != Broker.PAPER:
        raise CashAdjustmentRefused(
            f"account {account['id']} is a {account['broker']} connection: its cash is the"
            " broker's; only a paper account's cash is adjusted here",
            code="not_a_paper_account", details={"field": "account_id"})
    fingerprint = _fingerprint(body)
    earlier = await cash.entry_by_key(conn, account["id"], idempotency_key)
    if earlier is not None:
        if earlier["request_hash"] != fingerprint:
            raise CashAdjustmentRefused(
                "this Idempotency-Key was already used with a different request body",
                code="idempotency_key_reused", details={"field": header_field("Idempotency-Key")})
        return _entry(earlier), True
    after = cash_after(account["cash"], account["reserved_cash"], body.amount)
    assert who.user_id is not None, "an admin is logged in"
    entry = await cash.book(conn, account_id=account["id"], user_id=uid, amount=body.amount,
                            cash_after=after, reason=body.reason, actor_user_id=who.user_id,
                            idempotency_key=idempotency_key, request_hash=fingerprint)
    await who.record(conn, Action.CASH_ADJUSTED, user_id=uid, target=("account", account["id"]),
                     details={"amount": body.amount, "cash_after": after,
                              "currency": account["currency"], "reason": body.reason,
                              "journal_entry": entry["id"]})
    return _entry(entry), False


def _dispatch(broker: Broker, pause: Mapping[Any, Any] | None,
              released: int | None = None) -> dict[str, Any]:
    return {"broker": broker.value, "paused": pause is not None,
            "paused_at": json_value(pause["paused_at"]) if pause else None,
            "paused_by": json_value(pause["paused_by"]) if pause else None,
            "reason": pause["reason"] if pause else None, "orders_released": released}


async def pause_dispatch(conn: AsyncConnection, who: Who, broker: Broker,
                         reason: str | None) -> dict[str, Any]:
    """Hold the broker's new orders (accepted and stored, placed nowhere); audited once."""
    assert who.user_id is not None, "an admin is logged in"
    paused = await pauses.pause(conn, broker.value, paused_by=who.user_id, reason=reason)
    if paused is None:  # paused already: the pause stands as it was
        current = next((p for p in await pauses.every_pause(conn) if p["broker"] == broker),
                       None)
        return _dispatch(broker, current)
    await who.record(conn, Action.DISPATCH_PAUSED, target=("broker", broker.value),
                     details={"reason": reason})
    return _dispatch(broker, paused)


async def resume_dispatch(conn: AsyncConnection, who: Who, broker: Broker) -> dict[str, Any]:
    """Place the broker's orders again: those it held are due for the sweeper now; audited."""
    lifted, released = await pauses.resume(conn, broker.value)
    if lifted is not None:
        await who.record(conn, Action.DISPATCH_RESUMED, target=("broker", broker.value),
                         details={"paused_at": lifted["paused_at"],
                                  "orders_released": released})
    return _dispatch(broker, None, released)
