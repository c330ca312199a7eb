"""The bench's reading of the API's listen queue (bench/backlog.py), against the kernel's own
table: connections completed and never accepted are what it must count."""

from __future__ import annotations

import asyncio
import socket

from bench import backlog


def _unaccepted(count: int) -> tuple[socket.socket, list[socket.socket]]:
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    clients = [socket.create_connection(listener.getsockname()) for _ in range(count)]
    return listener, clients


def test_the_queue_counts_connections_no_one_has_accepted() -> None:
    listener, clients = _unaccepted(5)
    port = listener.getsockname()[1]
    try:
        assert backlog.listen_queue(backlog.TCP_TABLE.read_text(), port) == 5
        listener.accept()[0].close()
        assert backlog.listen_queue(backlog.TCP_TABLE.read_text(), port) == 4
    finally:
        for sock in [listener, *clients]:
            sock.close()


def test_a_port_no_socket_listens_on_has_no_queue() -> None:
    listener, clients = _unaccepted(1)
    port = listener.getsockname()[1]
    listener.close()
    for client in clients:
        client.close()
    # Once its listener has closed, nothing listens on the port: no row, so no queue.
    assert backlog.listen_queue(backlog.TCP_TABLE.read_text(), port) is None


def test_the_sampler_keeps_the_longest_queue_it_saw() -> None:
    listener, clients = _unaccepted(3)
    port = listener.getsockname()[1]

    async def phase() -> int | None:
        async with backlog.sampled(port) as peak:
            await asyncio.sleep(3 * backlog.SAMPLE_EVERY_S)
            for _ in range(3):
                listener.accept()[0].close()  # drained: the peak stays
            await asyncio.sleep(3 * backlog.SAMPLE_EVERY_S)
        return peak.value

    try:
        assert asyncio.run(phase()) == 3
    finally:
        for sock in [listener, *clients]:
            sock.close()
