"""A TCP proxy that injects real network faults between a component and a real server.

`freeze()` stops forwarding in both directions while every socket stays open (what clients see
of a SIGSTOPped PostgreSQL: connections are accepted, nothing answers); `resume()` forwards
again, held bytes included; `drop()` aborts every open connection (a server restart). Runs on
the caller's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit, urlunsplit

CHUNK = 65536


class FaultProxy:
    """Forward 127.0.0.1:<port> to an upstream host:port, with faults on demand."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @classmethod
    def for_url(cls, url: str) -> FaultProxy:
        """A proxy in front of the server a database or Redis URL names."""
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5432)

    def url_through(self, url: str) -> str:
        """`url` with its host and port replaced by this proxy's."""
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    async def start(self) -> None:
        """Listen on a free local port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        self.resume()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self.drop()

    def freeze(self) -> None:
        """Stop forwarding; sockets stay open and new connections are still accepted."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forward again."""
        self._flowing.set()

    async def drop(self) -> None:
        """Abort every open connection, both sides, as a crashed server would."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def connections(self) -> int:
        """Open client connections."""
        return len(self._writers) // 2

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        pipes = [self._spawn(self._pipe(reader, up_writer)),
                 self._spawn(self._pipe(up_reader, writer))]
        # When one direction ends, end both: a half-open proxy hides the fault it forwards.
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for side in (writer, up_writer):
            side.transport.abort()
            self._writers.discard(side)
        for pipe in pipes:
            pipe.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                await self._flowing.wait()
                data = await reader.read(CHUNK)
                if not data:
                    return
                # Frozen while this chunk was in flight: hold it until resume().
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
