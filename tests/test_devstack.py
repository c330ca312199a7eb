"""The embedded development stack (scripts/devstack.py) and the suite's database naming."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

from scripts import devstack
from tests.conftest import _test_database_url


def test_bundled_redis_server_is_executable() -> None:
    binary = devstack.redis_server_binary()
    assert os.access(binary, os.X_OK)


def test_profiles_use_distinct_loopback_ports_below_the_ephemeral_range() -> None:
    ports = [p for cfg in devstack.PROFILES.values() for p in (cfg.pg_port, cfg.redis_port)]
    assert len(set(ports)) == len(ports)
    assert all(port < 32768 for port in ports)
    for profile in devstack.PROFILES:
        assert all("@127.0.0.1:" in url or "//127.0.0.1:" in url
                   for url in devstack.env(profile).values())


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql+asyncpg://u:p@db:5432/ordergate", "postgresql+asyncpg://u:p@db:5432/ordergate_test"),
        ("postgresql://u@db/ordergate_test", "postgresql://u@db/ordergate_test"),
        ("postgresql://u@db", "postgresql://u@db/ordergate_test"),
    ],
)
def test_suite_never_recreates_the_database_it_was_given(given: str, used: str) -> None:
    assert _test_database_url(given) == used


@pytest.mark.skipif(os.environ.get("ORDERGATE_EMBEDDED_STACK") != "1",
                    reason="only with the embedded servers (no DATABASE_URL/REDIS_URL given)")
def test_start_while_running_reuses_the_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.delenv("REDIS_URL")
    urls = devstack.start("test")
    assert urls == devstack.env("test")
    for url in urls.values():
        port = urlsplit(url).port
        assert port is not None
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
