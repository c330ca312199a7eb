"""Every execution of the books in one relation: the fills of orders (with their order's
portfolio) and the journaled trades. Statements select from it with their own conditions,
which PostgreSQL pushes into both branches (and their indexes)."""

from __future__ import annotations

from typing import Final

EXECUTIONS: Final = (
    "(SELECT f.user_id, f.account_id, o.portfolio_id, f.symbol, f.side, f.quantity, f.price,"
    "  f.commission AS charges, f.executed_at, f.created_at, f.id"
    "  FROM fills f JOIN orders o ON o.id = f.order_id"
    " UNION ALL"
    " SELECT user_id, account_id, portfolio_id, symbol, side, quantity, price,"
    "  brokerage_charge + mtf_charge, executed_at, created_at, id FROM trades)"
)
# The order the folds need: per account and symbol, as they executed.
IN_ORDER: Final = "h.account_id, h.symbol, h.executed_at, h.created_at, h.id"
