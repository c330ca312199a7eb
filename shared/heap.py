"""Python's garbage collector in the long-running processes (uvicorn workers, Celery pool
processes), set once each has started.

Measured on the bench's overload (issue 13's note has the run), per API process in 4.7 s:
- CPython collects the youngest objects every 700 allocations net. With hundreds of requests
  in flight most of those objects are still alive, so each collection walked thousands: some
  200 collections took 0.5-0.8 s. Every 10,000 allocations, 3 collections took 0.03-0.08 s.
- A full collection walks every object the collector tracks; a started API process holds some
  hundreds of thousands (its modules, the app, its routes and schemas, SQLAlchemy's tables).
  Each one held the event loop for 160-230 ms, every request in flight waiting behind it;
  with the startup heap frozen, 20-70 ms.
"""

from __future__ import annotations

import gc
from typing import Final

YOUNG_THRESHOLD: Final = 10_000  # net allocations between collections of the youngest objects


def settle_heap() -> None:
    """Freeze what is alive now out of every later collection, and collect the young less often.

    Call it once a process has started, not per app: what it freezes is never collected, so
    freezing each test's app, say, would keep every one of them.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
