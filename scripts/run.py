"""`make run`: servers, schema, demo data, then API, worker, beat, Flower and the simulator.

Ctrl-C (or SIGTERM) stops the app processes first, then the embedded servers, so that no
process is left writing to a database that is already gone. A child that dies meanwhile is
restarted with a growing delay (Supervisor); the others keep running. `--migrate-only` stops
after the migrations (`make migrate`).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

if __package__ in (None, ""):  # run as `python scripts/run.py`: make `scripts` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.server import command as api_command
from scripts import devstack
from shared.brokers.catalog import REAL_BROKERS, queue_for
from shared.metrics import MULTIPROCESS_DIR_VARIABLE, reset_directory
from shared.settings import settings_or_exit

ROOT = devstack.ROOT
RUN_DIR = devstack.DATA_DIR / "run"
PY = sys.executable
HOST = "127.0.0.1"
STOP_TIMEOUT_S = 20.0  # Celery's warm shutdown lets running tasks finish first
HEALTH_TIMEOUT_S = 60.0


class RunError(RuntimeError):
    """A step failed; the message says which and why."""


class Shutdown:
    """Signal state: the first Ctrl-C asks for a clean stop, a second one for a hard stop."""

    requested = threading.Event()
    hurry = threading.Event()

    @classmethod
    def handle(cls, signum: int, _frame: FrameType | None) -> None:
        if cls.requested.is_set():
            cls.hurry.set()
        cls.requested.set()


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Options:
    """Knobs of `make run`, from the environment."""

    api_port: int
    api_workers: int
    flower_port: int
    flower_auth: str

    @classmethod
    def from_env(cls) -> Options:
        # Flower shows every task argument; never serve it without a password.
        auth = os.environ.get("FLOWER_BASIC_AUTH") or f"admin:{secrets.token_urlsafe(12)}"
        return cls(
            # The settings' port (environment or .env), which PUBLIC_BASE_URL follows.
            api_port=settings_or_exit().api_port,
            api_workers=int(os.environ.get("API_WORKERS", "2")),
            flower_port=int(os.environ.get("FLOWER_PORT", "5555")),
            flower_auth=auth,
        )


BROKER_QUEUES = ",".join(queue_for(broker) for broker in sorted(REAL_BROKERS))


def _commands(opts: Options) -> list[tuple[str, list[str]]]:
    celery = [PY, "-m", "celery", "-A", "worker.app"]
    return [
        ("api", api_command(PY, HOST, opts.api_port, opts.api_workers)),
        ("worker", [*celery, "worker", "-E", "-l", "info", "-Q", "orders,default",
                    "--concurrency", "2", "-n", "paper@%h"]),
        # Broker calls wait on the network: their own worker, so paper orders never queue
        # behind a slow broker.
        ("brokers", [*celery, "worker", "-E", "-l", "info", "-Q", BROKER_QUEUES,
                     "--concurrency", "2", "-n", "brokers@%h"]),
        ("beat", [*celery, "beat", "-l", "info", "-s", str(RUN_DIR / "celerybeat-schedule")]),
        ("flower", [*celery, "flower", f"--address={HOST}", f"--port={opts.flower_port}",
                    f"--basic-auth={opts.flower_auth}"]),
        ("simulator", [PY, "-m", "worker.simulator"]),
    ]


# ---------------------------------------------------------------- steps


@contextlib.contextmanager
def _exclusive_run() -> Iterator[bool]:
    """Yield True if no other `make run` is active (then this one owns the servers)."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with open(RUN_DIR / ".make-run.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def _step(name: str, cmd: list[str], env: dict[str, str]) -> str:
    """Run a one-shot command in the foreground; return its stdout (shown in the banner)."""
    print(f"==> {name}", flush=True)
    result = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
                            check=False)
    if Shutdown.requested.is_set():
        raise RunError("interrupted")
    if result.returncode != 0:
        raise RunError(f"{name} failed with exit code {result.returncode}")
    return result.stdout


def _check_ports_free(opts: Options) -> None:
    for name, port in (("API_PORT", opts.api_port), ("FLOWER_PORT", opts.flower_port)):
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                raise RunError(f"port {port} is in use; stop that process or set {name}")


# ---------------------------------------------------------------- children


@dataclass
class Child:
    """One long-running app process, the thread that prefixes its output, its restart state."""

    name: str
    cmd: list[str]
    proc: subprocess.Popen[str]
    pump: threading.Thread
    started_at: float
    failures: int = 0  # consecutive quick deaths; sets the next delay
    restart_at: float | None = None  # set while the child is dead and waiting to be restarted
    delays: list[float] = field(default_factory=list)  # every restart delay, in order


class Supervisor:
    """Keeps the app processes of `make run` up: a dead child is restarted, the others untouched.

    The delay before a restart doubles with each quick death (first_delay .. max_delay), so a
    child that cannot start does not spin; one that ran for stable_after seconds starts again
    from first_delay. Each child runs in its own session: Ctrl-C reaches only us, and a dead
    main process's orphans (uvicorn workers, Celery pool processes) are killed with its group
    before the restart, so they neither hold its port nor keep consuming tasks.
    """

    def __init__(self, commands: list[tuple[str, list[str]]], env: dict[str, str], *,
                 cwd: Path = ROOT, first_delay: float = 1.0, max_delay: float = 30.0,
                 stable_after: float = 60.0, stop_timeout: float = STOP_TIMEOUT_S,
                 out: IO[str] | None = None) -> None:
        self._commands = commands
        self._env = env
        self._cwd = cwd
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._stable_after = stable_after
        self._stop_timeout = stop_timeout
        self._out = out or sys.stdout
        self.children: dict[str, Child] = {}

    def start(self) -> None:
        """Start every child."""
        for name, cmd in self._commands:
            self.children[name] = self._spawn(name, cmd)

    def poll(self) -> None:
        """Notice dead children, schedule their restart, restart those whose delay is over."""
        now = time.monotonic()
        for child in list(self.children.values()):
            code = child.proc.poll()
            if code is None:
                continue
            if child.restart_at is None:
                self._schedule(child, code, now)
            elif now >= child.restart_at:
                self._restart(child)

    def run(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Supervise until `stop` is set."""
        while not stop.wait(interval):
            self.poll()

    def stop(self, hurry: threading.Event | None = None) -> None:
        """SIGTERM each main process, wait up to stop_timeout, then SIGKILL each group."""
        children = list(self.children.values())
        for child in children:
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._stop_timeout
        while (any(c.proc.poll() is None for c in children) and time.monotonic() < deadline
               and not (hurry is not None and hurry.is_set())):
            time.sleep(0.1)
        for child in children:
            if child.proc.poll() is None:
                self._say(f"{child.name} did not stop in time; killing it")
            _kill_group(child.proc)  # also reaps orphans (uvicorn/celery pool processes)
            child.proc.wait()
            _release(child)

    def _schedule(self, child: Child, code: int, now: float) -> None:
        _kill_group(child.proc)  # its orphans must not outlive it
        if now - child.started_at >= self._stable_after:
            child.failures = 0
        child.failures += 1
        delay = min(self._max_delay, self._first_delay * 2 ** (child.failures - 1))
        child.delays.append(delay)
        child.restart_at = now + delay
        self._say(f"{child.name} exited with code {code}; restarting it in {delay:.1f}s"
                  f" (restart {len(child.delays)})")

    def _restart(self, child: Child) -> None:
        _release(child)
        fresh = self._spawn(child.name, child.cmd)
        fresh.failures, fresh.delays = child.failures, child.delays
        self.children[child.name] = fresh
        self._say(f"{child.name} restarted (pid {fresh.proc.pid})")

    def _spawn(self, name: str, cmd: list[str]) -> Child:
        proc = subprocess.Popen(cmd, cwd=self._cwd, env=self._env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        assert proc.stdout is not None
        pump = threading.Thread(target=_pump, args=(name, proc.stdout, self._out), daemon=True)
        pump.start()
        return Child(name, cmd, proc, pump, started_at=time.monotonic())

    def _say(self, message: str) -> None:
        print(f"==> {message}", file=self._out, flush=True)


def _pump(name: str, stream: IO[str], out: IO[str]) -> None:
    for line in stream:
        out.write(f"{name:>9} | {line}")
    out.flush()


def _release(child: Child) -> None:
    """Let the pump print the dead child's last lines, then close its pipe."""
    child.pump.join(timeout=2)
    if child.proc.stdout is not None:
        child.proc.stdout.close()


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _wait_healthy(url: str, supervisor: Supervisor) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if Shutdown.requested.is_set():
            raise RunError("interrupted")
        supervisor.poll()  # a child that dies while starting is restarted like any other
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        time.sleep(0.25)
    raise RunError(f"{url} did not answer within {HEALTH_TIMEOUT_S:.0f}s")


# ---------------------------------------------------------------- main flow


def _hours() -> str:
    if os.environ.get("PAPER_ALWAYS_OPEN", "true").lower() in ("1", "true", "yes", "on"):
        return "around the clock (PAPER_ALWAYS_OPEN=false: exchange hours)"
    return "in exchange hours only (PAPER_ALWAYS_OPEN=false)"


def _banner(opts: Options, urls: dict[str, str], seed_output: str) -> None:
    user, _, password = opts.flower_auth.partition(":")
    api = f"http://{HOST}:{opts.api_port}"
    lines = [
        "", "ordergate is running. Ctrl-C stops everything.",
        f"  API        {api}", f"  API docs   {api}/docs",
        f"  Console    {api}/console  (the trader console; log in as the demo user)",
        f"  Metrics    {api}/metrics  (Prometheus; loopback only unless METRICS_TOKEN is set)",
        f"  Flower     http://{HOST}:{opts.flower_port}  (user {user}, password {password})",
        f"  Postgres   {urls['DATABASE_URL']}", f"  Redis      {urls['REDIS_URL']}",
        f"  Paper      trades {_hours()}",
    ]
    lines += [f"  Demo       {line}" for line in seed_output.strip().splitlines()]
    print("\n".join([*lines, ""]), flush=True)


def _serve(opts: Options, env: dict[str, str], urls: dict[str, str], seed: str) -> int:
    _check_ports_free(opts)
    # Every API and worker process writes its metrics here and GET /metrics adds them up;
    # what an earlier run left would count again.
    reset_directory(Path(env[MULTIPROCESS_DIR_VARIABLE]))
    supervisor = Supervisor(_commands(opts), env)
    try:
        supervisor.start()
        _wait_healthy(f"http://{HOST}:{opts.api_port}/health", supervisor)
        _banner(opts, urls, seed)
        supervisor.run(Shutdown.requested)
        return 0
    finally:
        print("==> stopping app processes", flush=True)
        supervisor.stop(Shutdown.hurry)


def _child_env(urls: dict[str, str]) -> dict[str, str]:
    # The demo trades whatever the hour; PAPER_ALWAYS_OPEN=false keeps exchange hours.
    env = {"PAPER_ALWAYS_OPEN": "true", MULTIPROCESS_DIR_VARIABLE: str(RUN_DIR / "metrics"),
           **os.environ, **urls, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _run(migrate_only: bool, owner: bool) -> int:
    if not (owner or migrate_only):
        raise RunError("another `make run` is active in this checkout; stop it first")
    opts = Options.from_env()
    urls = devstack.start("run")
    env = _child_env(urls)
    seed = _prepare(env, seed=not migrate_only)
    if migrate_only:
        return 0
    return _serve(opts, env, urls, seed)


def _prepare(env: dict[str, str], *, seed: bool) -> str:
    """Migrate, then seed the demo data if `seed`; return what the seed printed.

    These one-off steps run without the served processes' metrics directory: what they count
    is not the running system's, and on a checkout that has never run the directory does not
    exist until `_serve` makes it (the seed's first request failed on it).
    """
    once = {name: value for name, value in env.items() if name != MULTIPROCESS_DIR_VARIABLE}
    _step("migrate", [PY, "-m", "cli", "migrate"], once)
    return _step("seed demo data", [PY, "-m", "scripts.seed"], once) if seed else ""


def main(argv: list[str]) -> int:
    """Run the whole stack until interrupted; return the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--migrate-only", action="store_true", help="migrate, then stop")
    args = parser.parse_args(argv)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, Shutdown.handle)
    # With both URLs given there is no embedded server to start or stop.
    embedded = not ("DATABASE_URL" in os.environ and "REDIS_URL" in os.environ)
    with _exclusive_run() as owner:
        try:
            return _run(args.migrate_only, owner)
        except (RunError, devstack.DevstackError) as err:
            print(f"run: {err}", file=sys.stderr, flush=True)
            return 0 if Shutdown.requested.is_set() else 1
        finally:
            if owner and embedded:  # leftovers of a killed run are stopped by the next one
                print("==> stopping embedded servers", flush=True)
                devstack.stop("run")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
