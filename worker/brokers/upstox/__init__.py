"""The Upstox adapter: REST over httpx against the order host and the API host."""
