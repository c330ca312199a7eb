"""GET /metrics for Prometheus, and the middleware that times every request."""
