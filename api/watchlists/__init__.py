"""Watchlists: a user's named lists of symbols, each shown with its live quote."""
