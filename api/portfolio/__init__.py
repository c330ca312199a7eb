"""The portfolio screens: the dashboard, the trades journal and the P&L report."""
