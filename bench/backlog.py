"""The API's listen queue: connections the kernel has completed that no process has accepted.

libuv (under uvloop) accepts one connection per turn of its event loop (libuv/libuv#3696).
When the API's loops are saturated a turn takes tens of milliseconds, so the connections a
client opens under overload queue in the kernel, and a request on one waits there, unseen by
the app that would refuse it at once, for as long as the queue takes to drain. The bench
samples the queue's length during each order phase and reports its peak.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

TCP_TABLE = Path("/proc/net/tcp")
LISTEN = "0A"  # the state column's value for a listening socket
SAMPLE_EVERY_S = 0.05


def listen_queue(table: str, port: int) -> int | None:
    """The accept queue's length of the IPv4 socket listening on `port`, read from the text
    of /proc/net/tcp (for a listening socket, rx_queue counts the unaccepted connections)."""
    for line in table.splitlines()[1:]:
        fields = line.split()
        local, state, queues = fields[1], fields[3], fields[4]
        if state == LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
            return int(queues.split(":")[1], 16)
    return None


class Peak:
    """The longest listen queue seen so far; None where the table cannot be read (not Linux)."""

    def __init__(self) -> None:
        self.value: int | None = None

    def see(self, length: int | None) -> None:
        if length is not None:
            self.value = length if self.value is None else max(self.value, length)


@contextlib.asynccontextmanager
async def sampled(port: int) -> AsyncIterator[Peak]:
    """Sample `port`'s listen queue every SAMPLE_EVERY_S while the block runs."""
    peak = Peak()

    async def sample() -> None:
        while True:
            with contextlib.suppress(OSError):
                peak.see(listen_queue(TCP_TABLE.read_text(), port))
            await asyncio.sleep(SAMPLE_EVERY_S)

    task = asyncio.create_task(sample())
    try:
        yield peak
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
