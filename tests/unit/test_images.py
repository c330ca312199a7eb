"""The Docker images carry every package the code imports, and the `ordergate` command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = ("Dockerfile.api", "Dockerfile.worker")


def _packages() -> list[str]:
    """The top-level packages pyproject installs (its setuptools find includes)."""
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())
    includes: list[str] = found["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted({pattern.rstrip("*").rstrip(".") for pattern in includes})


def _copied(dockerfile: str) -> set[str]:
    """What a Dockerfile's COPY instructions put in the image, by source path."""
    copied: set[str] = set()
    for line in (ROOT / dockerfile).read_text().splitlines():
        if match := re.match(r"COPY\s+(?!--from)(.+)\s+\S+$", line.strip()):
            copied |= {source.rstrip("/") for source in match.group(1).split()}
    return copied


def test_pyproject_names_the_packages_of_the_code() -> None:
    assert _packages() == ["api", "cli", "scripts", "shared", "worker"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_an_image_copies_every_package_pyproject_installs(dockerfile: str) -> None:
    missing = [package for package in _packages() if package not in _copied(dockerfile)]
    assert missing == [], f"{dockerfile} lacks {missing}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_an_image_installs_the_ordergate_command(dockerfile: str) -> None:
    text = (ROOT / dockerfile).read_text()
    assert "pyproject.toml" in _copied(dockerfile)
    # The project itself, as make venv installs it: [project.scripts] puts `ordergate` on PATH.
    assert "pip install --no-deps --no-build-isolation -e ." in text
    # Its migrate command reads migrations/alembic.ini beside the packages.
    assert "migrations" in _copied(dockerfile)
