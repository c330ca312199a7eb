"""Zerodha Kite Connect v3 adapter."""
