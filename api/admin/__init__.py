"""Admin routes: users, their paper cash, the dispatch of orders per broker."""
