"""A server of the stack (the API, Flower) in its own process, its output in a log file."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from tests.stubs.server import free_port

ROOT = Path(__file__).resolve().parents[2]


class Served:
    """Runs `command(port)` from the repository root; `url` answers once it has started."""

    def __init__(self, command: Sequence[str], port: int, log: Path,
                 env: dict[str, str] | None = None) -> None:
        self.command, self.port, self.log, self.env = list(command), port, log, env or {}
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def on_free_port(cls, command: Sequence[str], log: Path, env: dict[str, str] | None = None,
                     ) -> Served:
        """`command` with `{port}` in its arguments replaced by a free port."""
        port = free_port()
        return cls([part.replace("{port}", str(port)) for part in command], port, log, env)

    @property
    def name(self) -> str:
        return " ".join(self.command[1:5])

    def start(self, timeout: float = 60.0) -> None:
        """Start it and wait until it answers HTTP (whatever the status)."""
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.command, cwd=ROOT, env={**os.environ, **self.env},
                                            stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                httpx.get(self.url, timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM, and wait for it to exit (its last lines are in the log then); SIGKILL if
        it has not within 20 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
