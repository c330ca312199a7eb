"""Take the submit messages queued behind the one a worker is running, to work them as one batch.

Under load the dispatcher's messages carry a few orders each, and Celery's cost per message
plus the worker's per-transaction cost dominate. A worker that runs one submit task pops the
submits waiting next in the same queue (the right end, which kombu's BRPOP would serve next) and
works them in the same transaction. A popped message is gone from Redis: if the worker dies
before its commit, its orders are still PENDING_NEW rows past their dispatch deadline and the
sweeper re-drives them, the guarantee every lost message already has. Only plain submit messages
are taken (no expiry, no countdown), only while they are next in line, so a cancel or a match
queued among them keeps its place.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from shared.messaging import tasks

log = logging.getLogger(__name__)

# KEYS[1] the queue; ARGV the submit task's name, the header with a message's order count, and
# how many orders to take at most. A message without the count header (an older API's) is left
# to Celery, as is anything that is not a plain submit.
_TAKE = """
local budget = tonumber(ARGV[3])
local taken = {}
while true do
  local raw = redis.call('LINDEX', KEYS[1], -1)
  if not raw then break end
  local ok, envelope = pcall(cjson.decode, raw)
  if not ok or type(envelope) ~= 'table' or type(envelope['headers']) ~= 'table' then break end
  local headers = envelope['headers']
  local count = tonumber(headers[ARGV[2]])
  if headers['task'] ~= ARGV[1] or headers['expires'] ~= cjson.null
     or headers['eta'] ~= cjson.null or not count or count > budget then break end
  redis.call('RPOP', KEYS[1])
  taken[#taken + 1] = raw
  budget = budget - count
end
return taken
"""


@dataclass(frozen=True, slots=True)
class Taken:
    """One popped submit message: its orders, the requests that caused it, when it was queued."""

    order_ids: list[str]
    request_ids: list[str]
    enqueued_at: float | None


async def take_submits(redis: Redis, queue: str, max_orders: int) -> list[Taken]:
    """Pop the submit messages next in `queue`, at most `max_orders` orders in all."""
    if max_orders <= 0:
        return []
    raws = await redis.eval(_TAKE, 1, queue, tasks.SUBMIT_ORDERS, tasks.ORDER_COUNT_HEADER,
                            max_orders)
    taken = []
    for raw in raws:
        try:
            taken.append(_taken(raw))
        except (ValueError, KeyError, TypeError, IndexError):
            # Its orders, if any, are still rows the sweeper re-drives.
            log.warning("dropped an unreadable submit message from %s", queue)
    return taken


def _taken(raw: bytes) -> Taken:
    envelope: dict[str, Any] = json.loads(raw)
    headers = envelope["headers"]
    args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
    enqueued_at = headers.get(tasks.ENQUEUED_AT_HEADER)
    return Taken(order_ids=[str(order_id) for order_id in args[0]],
                 request_ids=list(headers.get(tasks.REQUEST_IDS_HEADER) or []),
                 enqueued_at=enqueued_at if isinstance(enqueued_at, int | float) else None)

