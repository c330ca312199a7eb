"""A local Upstox: the order book, the documented endpoints and the exchange-side controls."""
