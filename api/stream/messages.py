"""The stream's JSON messages: one shape per type, the same over WebSocket and SSE."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from api.accounts.router import account_view, position_view
from shared.messaging.order_view import json_value

# The event-log name of an execution (shared.domain.events.Filled).
FILL_EVENT = "Filled"


def is_fill(row: Mapping[Any, Any]) -> bool:
    """Whether this order event records an execution."""
    return bool((row["detail"] or {}).get("event") == FILL_EVENT)


def event_message(row: Mapping[Any, Any]) -> dict[str, Any]:
    """An order event as `order`, or as `fill` when it records an execution."""
    detail: dict[str, Any] = dict(row["detail"] or {})
    name = detail.pop("event", None)
    changed = detail.pop("changed", {})
    message: dict[str, Any] = {
        "type": "fill" if name == FILL_EVENT else "order", "seq": row["seq"],
        "order_id": str(row["order_id"]), "client_order_id": row["client_order_id"],
        "account_id": str(row["account_id"]), "symbol": row["symbol"], "side": row["side"],
        "version": row["version"], "from_status": row["from_status"],
        "status": row["to_status"], "event": name, "changed": changed, "actor": row["actor"],
        "at": json_value(row["created_at"]),
    }
    if name == FILL_EVENT:
        message["fill"] = {key: detail.get(key)
                           for key in ("trade_id", "quantity", "price", "commission", "at")}
    return message


def position_message(row: Mapping[Any, Any], as_of_seq: int) -> dict[str, Any]:
    """A position as GET /positions shows it, read after every event up to `as_of_seq`."""
    return {"type": "position", "as_of_seq": as_of_seq, **position_view(row)}


def account_message(account: Mapping[Any, Any], positions: Sequence[Mapping[Any, Any]],
                    as_of_seq: int) -> dict[str, Any]:
    """An account as GET /account shows it, read after every event up to `as_of_seq`."""
    return {"type": "account", "as_of_seq": as_of_seq, **account_view(account, positions)}


def quote_message(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A symbol's current quote; `quote_seq` counts that symbol's quotes."""
    return {"type": "quote", "symbol": row["symbol"], "bid": json_value(row["bid"]),
            "ask": json_value(row["ask"]), "last": json_value(row["last"]),
            "bid_size": json_value(row["bid_size"]), "ask_size": json_value(row["ask_size"]),
            "quote_seq": row["seq"], "at": json_value(row["ts"])}


def heartbeat(seq: int) -> dict[str, Any]:
    """Nothing new: `seq` is the last event this stream delivered."""
    return {"type": "heartbeat", "seq": seq, "at": datetime.now(UTC).isoformat()}


def subscribed(symbols: list[str]) -> dict[str, Any]:
    """The symbols this stream now sends quotes of."""
    return {"type": "subscribed", "symbols": symbols}


def error(code: str, message: str) -> dict[str, Any]:
    """A request the stream refused; the stream goes on."""
    return {"type": "error", "code": code, "message": message}
