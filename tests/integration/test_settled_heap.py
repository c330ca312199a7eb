"""The processes that serve (a uvicorn worker, a Celery pool process) settle their heap once
started (shared/heap.py): a full collection then never walks the startup heap, which held
the event loop for some 200 ms at a time under load. Each is checked in a fresh interpreter,
as the server starts one, so this test's own collector is left alone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shared.heap import YOUNG_THRESHOLD
from tests.conftest import ROOT

REPORT = "import gc; print(gc.get_freeze_count(), gc.get_threshold()[0])"


def _settled(script: str) -> tuple[int, int]:
    result = subprocess.run([sys.executable, "-c", f"{script}\n{REPORT}"], cwd=ROOT,
                            env=os.environ.copy(), capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    frozen, young = result.stdout.split()
    return int(frozen), int(young)


@pytest.mark.parametrize("script", [
    # What uvicorn runs in each worker: the factory of `python -m api.server`.
    "from api import server; import uvicorn.importer as i; i.import_from_string(server.APP)()",
    # What Celery signals in each pool process once it has forked.
    "import worker.app; from celery import signals; signals.worker_process_init.send(None)",
], ids=["api worker", "celery pool process"])
def test_a_serving_process_keeps_its_startup_heap_out_of_collections(script: str) -> None:
    frozen, young = _settled(script)
    assert frozen > 50_000  # the modules, the app and its schemas: not a handful of objects
    assert young == YOUNG_THRESHOLD


def test_an_app_built_by_hand_leaves_the_collector_alone() -> None:
    # Tests build many apps in one process: freezing each would keep them all.
    frozen, young = _settled("from api.main import create_app; create_app()")
    assert (frozen, young) == _settled("pass")  # as a bare interpreter has it
