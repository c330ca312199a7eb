"""`make run`'s supervisor, driven with real short-lived child processes."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scripts.run import Supervisor

PY = sys.executable
DIES = [PY, "-c", "import sys; print('dying', flush=True); sys.exit(3)"]
LIVES = [PY, "-c", "import time; print('up', flush=True); time.sleep(600)"]
BOUND_S = 20.0  # "does not hang", not a speed claim


def _until(condition: Callable[[], bool], supervisor: Supervisor | None = None) -> None:
    deadline = time.monotonic() + BOUND_S
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        if supervisor is not None:
            supervisor.poll()
        time.sleep(0.02)


@pytest.fixture
def out() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def make(out: io.StringIO) -> Iterator[Callable[..., Supervisor]]:
    made: list[Supervisor] = []

    def build(commands: list[tuple[str, list[str]]], *, stable_after: float = 60.0,
              stop_timeout: float = 5.0) -> Supervisor:
        supervisor = Supervisor(commands, dict(os.environ), out=out, first_delay=0.05,
                                max_delay=0.4, stable_after=stable_after,
                                stop_timeout=stop_timeout)
        made.append(supervisor)
        supervisor.start()
        return supervisor

    yield build
    for supervisor in made:
        supervisor.stop()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its exit status is left to collect


def test_a_dead_child_is_restarted_with_growing_backoff_and_the_others_are_untouched(
    make: Callable[..., Supervisor], out: io.StringIO
) -> None:
    supervisor = make([("dies", DIES), ("lives", LIVES)])
    live_pid = supervisor.children["lives"].proc.pid
    _until(lambda: len(supervisor.children["dies"].delays) >= 5, supervisor)
    assert supervisor.children["dies"].delays[:5] == [0.05, 0.1, 0.2, 0.4, 0.4]
    assert supervisor.children["lives"].proc.pid == live_pid
    assert supervisor.children["lives"].proc.poll() is None
    assert "==> dies exited with code 3; restarting it in 0.1s (restart 2)" in out.getvalue()
    assert "==> dies restarted (pid " in out.getvalue()
    assert "stopping the rest" not in out.getvalue()


def test_a_child_that_ran_for_a_while_restarts_after_the_first_delay_again(
    make: Callable[..., Supervisor],
) -> None:
    slow_death = [PY, "-c", "import time; time.sleep(0.3)"]
    supervisor = make([("flaky", slow_death)], stable_after=0.2)
    _until(lambda: len(supervisor.children["flaky"].delays) >= 3, supervisor)
    assert supervisor.children["flaky"].delays[:3] == [0.05, 0.05, 0.05]


def test_a_killed_child_is_restarted_and_its_orphans_are_killed_first(
    make: Callable[..., Supervisor], tmp_path: Path
) -> None:
    # Like a Celery worker: a main process with a pool child that SIGKILL leaves behind.
    pid_file = tmp_path / "grandchild.pid"
    with_pool = [PY, "-c", (
        "import subprocess, sys, time\n"
        "pool = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(pool.pid))\n"
        "time.sleep(600)\n")]
    supervisor = make([("worker", with_pool), ("api", LIVES)])
    _until(lambda: pid_file.exists() and pid_file.read_text() != "")
    orphan = int(pid_file.read_text())
    first = supervisor.children["worker"].proc.pid
    api = supervisor.children["api"].proc.pid
    os.kill(first, signal.SIGKILL)
    _until(lambda: supervisor.children["worker"].proc.pid != first, supervisor)
    assert not _alive(orphan)
    assert supervisor.children["worker"].proc.poll() is None
    assert supervisor.children["api"].proc.pid == api


def test_stop_ends_every_child_even_one_that_ignores_sigterm(
    make: Callable[..., Supervisor], out: io.StringIO
) -> None:
    stubborn = [PY, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
                " print('ready', flush=True); time.sleep(600)"]
    supervisor = make([("stubborn", stubborn), ("lives", LIVES), ("dies", DIES)],
                      stop_timeout=1.0)
    _until(lambda: "stubborn | ready" in out.getvalue())
    stop = threading.Event()
    runner = threading.Thread(target=supervisor.run, args=(stop, 0.02))
    runner.start()
    time.sleep(0.3)
    stop.set()  # what Ctrl-C does
    runner.join(timeout=BOUND_S)
    assert not runner.is_alive()
    supervisor.stop()
    assert all(c.proc.poll() is not None for c in supervisor.children.values())
    assert "==> stubborn did not stop in time; killing it" in out.getvalue()
