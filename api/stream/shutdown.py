"""Graceful shutdown of the streams: each ends with a reason before the server stops.

On SIGTERM (or Ctrl-C) uvicorn stops listening, lets the requests in flight finish and waits
for every connection to end. But it cuts a WebSocket with a bare 1012 and never ends an SSE
response, so it would wait for those until its graceful-shutdown timeout. So the API takes the
signal first: every stream of the process is ended (WebSocket close 1001 "server shutting
down", the SSE response completes), a stream opened meanwhile is ended at once, and once all
are gone, or after DRAIN_SECONDS, the signal goes on to the server's own handler. A second
signal goes on at once. Clients reconnect, to another process, with their last seq.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

GOING_AWAY = 1001  # RFC 6455: the server is going down
REASON = "server shutting down"
DRAIN_SECONDS = 3.0  # a WebSocket close gets at most 1 s (router.CLOSE_TIMEOUT_SECONDS)
SIGNALS = (signal.SIGTERM, signal.SIGINT)

Handler = Callable[[int, FrameType | None], Any] | int | None


class Endable(Protocol):
    def end(self, reason: str) -> None: ...


class Drain:
    """The open streams of this process, and the shutdown that ends them."""

    def __init__(self, seconds: float = DRAIN_SECONDS) -> None:
        self.seconds = seconds
        self.closing = False
        self._streams: set[Endable] = set()
        self._none_open = asyncio.Event()
        self._none_open.set()
        self._draining: asyncio.Task[None] | None = None  # held: the loop keeps weak refs

    def opened(self, stream: Endable) -> None:
        """Count a new stream; one opened while shutting down is ended at once."""
        self._streams.add(stream)
        self._none_open.clear()
        if self.closing:
            stream.end(REASON)

    def closed(self, stream: Endable) -> None:
        """Forget a stream that has ended."""
        self._streams.discard(stream)
        if not self._streams:
            self._none_open.set()

    async def drain(self) -> None:
        """End every stream and wait, at most `seconds`, until all have closed."""
        self.closing = True
        for stream in list(self._streams):
            stream.end(REASON)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.seconds):
                await self._none_open.wait()

    def take_signals(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """Drain on SIGTERM/SIGINT before the handlers installed until now; returns the undo."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None  # only the main thread receives signals
        previous: dict[int, Handler] = {sig: signal.getsignal(sig) for sig in SIGNALS}

        def handler(signum: int, frame: FrameType | None) -> None:
            onward = previous[signum]
            if self.closing or not self._streams:  # asked twice, or nothing to wait for
                self.closing = True
                _pass_on(onward, signum, frame)
                return
            self.closing = True
            loop.call_soon_threadsafe(self._start_draining, loop, onward, signum, frame)

        for sig in SIGNALS:
            signal.signal(sig, handler)

        def undo() -> None:
            for sig, onward in previous.items():
                if signal.getsignal(sig) is handler:
                    signal.signal(sig, onward)

        return undo

    def _start_draining(self, loop: asyncio.AbstractEventLoop, onward: Handler, signum: int,
                        frame: FrameType | None) -> None:
        self._draining = loop.create_task(self._drain_then(onward, signum, frame))

    async def _drain_then(self, onward: Handler, signum: int, frame: FrameType | None) -> None:
        await self.drain()
        _pass_on(onward, signum, frame)


def _pass_on(onward: Handler, signum: int, frame: FrameType | None) -> None:
    """Do what the signal would have done without us."""
    if callable(onward):
        onward(signum, frame)
    elif onward == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
