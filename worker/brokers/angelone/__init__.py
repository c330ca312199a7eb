"""Angel One SmartAPI adapter."""
