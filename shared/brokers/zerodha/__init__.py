"""Zerodha Kite Connect v3: wire format and login (pure wire, httpx login)."""
