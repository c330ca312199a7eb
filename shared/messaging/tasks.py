"""Task names and queues: the contract between api/ and worker/ (they never import each other).

Paper orders go to the `orders` queue; each real broker's work goes to its own queue
(`shared.brokers.catalog.queue_for`), so one broker's outage never delays another's orders.
"""

from typing import Final

SUBMIT_ORDERS: Final = "orders.submit"
CANCEL_ORDER: Final = "orders.cancel"
SWEEP_ORDERS: Final = "orders.sweep"
# The paper exchange matches its resting orders against a symbol's newest quote.
PAPER_MATCH: Final = "paper.match"
# Expire the orders whose time in force ran out (Celery beat).
EXPIRE_ORDERS: Final = "orders.expire"
# Roll positions into holdings once each exchange's trading day has closed (Celery beat).
SETTLE_HOLDINGS: Final = "holdings.settle"
# Snapshot equity, cash and P&L of every account and portfolio once a day (Celery beat).
SNAPSHOT_PNL: Final = "pnl.snapshot"

# Work on one broker's queue: place and sync take a list of order ids, cancel one order id,
# webhooks.process one stored delivery id.
BROKER_PLACE: Final = "broker.place"
BROKER_SYNC: Final = "broker.sync"
BROKER_CANCEL: Final = "broker.cancel"
BROKER_MODIFY: Final = "broker.modify"
# An account's positions or funds as the broker reports them, for the API (via Redis).
BROKER_READ: Final = "broker.read"
WEBHOOK_PROCESS: Final = "webhooks.process"
RECONCILE: Final = "brokers.reconcile"

# Mail a one-time login code to one account (takes the user id and why the code is mailed;
# the worker draws the code).
SEND_LOGIN_CODE: Final = "mail.login_code"
# Why: a login asked for (POST /auth/request-otp), or a sign-up's address to prove
# (REQUIRE_EMAIL_VERIFICATION). The code works the same; only the mail's words differ.
MAIL_FOR_LOGIN: Final = "login"
MAIL_FOR_VERIFICATION: Final = "verification"

# Headers of every task message: the API requests that caused it (a batch may serve several),
# and when its work was handed to the queue (epoch seconds), from which the worker measures
# the dispatch lag.
REQUEST_IDS_HEADER: Final = "og_request_ids"
ENQUEUED_AT_HEADER: Final = "og_enqueued_at"
# How many orders a message of an order task names (a worker draining submits counts by it).
ORDER_COUNT_HEADER: Final = "og_order_count"
# Tasks whose first argument is an order id, or a list of them: their log lines name them.
ORDER_TASKS: Final = frozenset({SUBMIT_ORDERS, CANCEL_ORDER, BROKER_PLACE, BROKER_SYNC,
                                BROKER_CANCEL, BROKER_MODIFY})

ORDERS_QUEUE: Final = "orders"
DEFAULT_QUEUE: Final = "default"


def place_task(queue: str) -> str:
    """The task that submits new orders arriving on `queue`."""
    return SUBMIT_ORDERS if queue == ORDERS_QUEUE else BROKER_PLACE


def cancel_task(queue: str) -> str:
    """The task that completes cancels of orders on `queue`."""
    return CANCEL_ORDER if queue == ORDERS_QUEUE else BROKER_CANCEL
