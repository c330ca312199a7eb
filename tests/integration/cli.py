"""Run the installed `ordergate` command as an operator would: a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# `make venv` installs it beside the interpreter that runs the suite.
ORDERGATE = Path(sys.executable).parent / "ordergate"


def ordergate(*args: str, env: dict[str, str] | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `ordergate ARGS` with the suite's environment plus `env`; never raises on failure."""
    assert ORDERGATE.exists(), f"{ORDERGATE} is missing: `make venv` installs it"
    return subprocess.run([str(ORDERGATE), *args], cwd=ROOT, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, check=False, timeout=timeout)
