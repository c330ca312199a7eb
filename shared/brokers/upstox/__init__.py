"""Upstox API v2/v3: wire format (pure) and the OAuth code login."""
