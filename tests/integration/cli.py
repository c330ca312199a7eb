"""Run the installed `ordergate` command as an operator would: a process of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# `make venv` installs it beside the interpreter that runs the suite.
ORDERGATE = Path(sys.executable).parent / "ordergate"


def ordergate(*args: str, env: dict[str, str] | None = None, stdin: str = "",
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `ordergate ARGS` with the suite's environment plus `env`, `stdin` on its standard
    input; never raises on failure."""
    assert ORDERGATE.exists(), f"{ORDERGATE} is missing: `make venv` installs it"
    return subprocess.run([str(ORDERGATE), *args], cwd=ROOT, env={**os.environ, **(env or {})},
                          input=stdin, capture_output=True, text=True, check=False,
                          timeout=timeout)


def json_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON answer of a run that succeeded."""
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def one_line_failure(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The single stderr line of a failed run, after checking its exit code."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]
