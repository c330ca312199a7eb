"""Schemathesis against the live OpenAPI schema of a real API process (issue 11, Proof).

Every operation, logged in as a fresh user, with generated valid and invalid requests and
stateful sequences along the schema's links; a real worker fills the orders. Its default
checks hold: no server error, every status and body as documented, invalid data refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.e2e.apiserver import api_process
from tests.e2e.conftest import WorkerFactory
from tests.helpers import PASSWORD
from tests.stubs.angelone import harness as angelone
from tests.stubs.groww import harness as groww
from tests.stubs.upstox import harness as upstox
from tests.stubs.zerodha import harness as zerodha

pytestmark = pytest.mark.e2e
CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SEED = "20261101"  # fixed: CI runs the same requests every time


@pytest.fixture
def brokers() -> Iterator[dict[str, str]]:
    """Local stubs of the brokers with a REST login, as the API's settings name them: the run
    connects accounts with made-up logins, which must reach no real broker."""
    with ExitStack() as stack:
        kite = stack.enter_context(zerodha.running())
        upstox_stub = stack.enter_context(upstox.running())
        groww_stub = stack.enter_context(groww.running())
        angel = stack.enter_context(angelone.running())
        yield {"ZERODHA_ROOT_URL": kite.url, "UPSTOX_BASE_URL": upstox_stub.url,
               "UPSTOX_ORDER_URL": upstox_stub.url, "GROWW_BASE_URL": groww_stub.url,
               "ANGELONE_BASE_URL": angel.url}


def _sign_up(url: str) -> str:
    email = f"fuzz-{uuid.uuid4().hex[:12]}@example.com"
    response = httpx.post(f"{url}/api/v1/auth/register",
                          json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return email


def test_the_live_api_answers_every_generated_request_as_its_schema_says(
    tmp_path: Path, worker_factory: WorkerFactory, brokers: dict[str, str],
) -> None:
    worker_factory(os.environ["REDIS_URL"], env=brokers).start()
    with api_process(tmp_path / "api.log", env={**brokers, "DB_POOL_SIZE": "4"}) as url:
        env = {**os.environ, "ORDERGATE_FUZZ_EMAIL": _sign_up(url),
               "ORDERGATE_FUZZ_PASSWORD": PASSWORD}
        run = subprocess.run(
            [str(SCHEMATHESIS), "--config-file", str(CONFIG), "--no-color", "run",
             f"{url}/openapi.json", "--seed", SEED],
            cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-30000:] + run.stderr[-3000:]
