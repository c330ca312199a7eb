"""Pure trading domain: statuses, fills, positions, P&L and risk rules (stdlib only)."""
