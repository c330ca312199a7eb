"""Child processes of the bench: start, wait for health, stop (and kill what is left).

Every child runs in its own session, so a Ctrl-C in the terminal reaches only the bench, which
then stops the children in order; its process group id is its pid, so whatever it forked
(uvicorn and Celery pool processes) can be killed as one group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

STOP_TIMEOUT_S = 20.0  # Celery's warm shutdown lets running tasks finish first
POLL_S = 0.2


class BenchError(RuntimeError):
    """A step failed; the message says which and why."""


@dataclass
class Child:
    """One long-running process and where its output goes."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 15) -> str:
        """The end of its log, for error messages."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def spawn(name: str, cmd: list[str], env: dict[str, str], cwd: Path, log_dir: Path) -> Child:
    """Start `cmd` in its own session with its output in log_dir/<name>.log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    return Child(name, proc, log)


def wait_http_ok(url: str, child: Child, timeout: float) -> None:
    """Poll `url` until it answers 200; fail early if the child dies."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise BenchError(f"{child.name} exited with {child.proc.returncode} during start:\n"
                             f"{child.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as err:
            last = f"HTTP {err.code}: {err.read()[:200]!r}"
        except OSError as err:
            last = str(err)
        time.sleep(POLL_S)
    raise BenchError(f"{url} did not answer 200 within {timeout:.0f}s ({last}); "
                     f"log {child.log}:\n{child.tail()}")


def stop(children: list[Child]) -> None:
    """SIGTERM every child, wait for them, then SIGKILL whatever is left of their groups."""
    for child in children:
        if child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while any(c.proc.poll() is None for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    for child in children:
        # Also reaps orphans: a uvicorn or Celery pool process whose parent is gone.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, signal.SIGKILL)
        child.proc.wait()


def group_pids(leader: int) -> list[int]:
    """Every live process in the process group led by `leader` (Linux /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None and int(fields[2]) == leader:
            pids.append(int(entry.name))
    return pids


def backends_of(database: str) -> list[int]:
    """PostgreSQL's backend processes serving `database` (their process title names it:
    "postgres: [cluster:] user database host(port) state")."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres:") and f" {database} " in title:
            pids.append(int(entry.name))
    return pids


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each of these processes so far (those gone left out)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            used[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return used


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ..."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()
