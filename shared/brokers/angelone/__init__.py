"""Angel One SmartAPI: wire format (pure) and login."""
