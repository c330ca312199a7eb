"""`make bench`: throughput and latency of the order spine against a minimal yardstick.

`python -m bench` starts its own stack (embedded PostgreSQL and Redis, uvicorn, a Celery worker
with beat), drives it from a separate load-generator process and prints the figures of the
"Speed" section of issue 3 beside their targets.
"""
