"""Task names and queues: the contract between api/ and worker/ (they never import each other)."""

from typing import Final

SUBMIT_ORDERS: Final = "orders.submit"
CANCEL_ORDER: Final = "orders.cancel"
SWEEP_ORDERS: Final = "orders.sweep"

ORDERS_QUEUE: Final = "orders"
DEFAULT_QUEUE: Final = "default"
