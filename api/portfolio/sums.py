"""Sums of amounts per currency: amounts in two currencies never add up."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from shared.messaging.order_view import json_value


def per_currency(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> list[dict[str, Any]]:
    """The amounts `names` of `rows` (decimal strings) summed per `currency`, by code."""
    sums: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        into = sums.setdefault(row["currency"], dict.fromkeys(names, Decimal(0)))
        for name in names:
            into[name] += Decimal(row[name])
    return [{"currency": currency, **{name: json_value(v) for name, v in amounts.items()}}
            for currency, amounts in sorted(sums.items())]
