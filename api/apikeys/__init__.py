"""API keys for client apps and bots: `Authorization: Bearer og_…` wherever a JWT is accepted."""
