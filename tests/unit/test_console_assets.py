"""The console's files: vendored libraries byte for byte as listed, and every reference whole."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from api.console.router import ASSETS, ASSETS_PATH, PAGE

VENDOR = ASSETS / "vendor"
LISTING = VENDOR / "README.md"
ROW = re.compile(r"^\| (?P<package>[^ |]+) \| (?P<version>[^ |]+) \| (?P<license>[^|]+) \|"
                 r" (?P<file>[^ |]+) \| (?P<sha256>[0-9a-f]{64}) \|$")
PAGE_REFERENCE = re.compile(r'(?:src|href)="([^"]+)"')
IMPORT = re.compile(r'^import .*? from "([^"]+)";$', re.MULTILINE)


def _listed() -> list[re.Match[str]]:
    return [row for line in LISTING.read_text().splitlines() if (row := ROW.match(line))]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_vendored_file_is_listed_with_its_sha256() -> None:
    on_disk = {path.relative_to(VENDOR).as_posix(): _sha256(path)
               for path in VENDOR.rglob("*") if path.is_file() and path != LISTING}
    assert on_disk == {row["file"]: row["sha256"] for row in _listed()}


def test_each_vendored_file_sits_in_its_packages_folder_beside_a_license() -> None:
    rows = _listed()
    assert rows, f"no rows in {LISTING}"
    folders = {f"{row['package']}-{row['version']}" for row in rows}
    for row in rows:
        assert row["file"].startswith(f"{row['package']}-{row['version']}/"), row["file"]
    for folder in folders:
        licenses = [row for row in rows if row["file"].startswith(f"{folder}/LICEN")]
        assert len(licenses) == 1, f"{folder} ships no license file"


def test_the_page_and_its_modules_load_only_files_the_console_serves() -> None:
    for reference in PAGE_REFERENCE.findall(PAGE.read_text()):
        assert reference.startswith(f"{ASSETS_PATH}/"), reference
        assert (ASSETS / reference.removeprefix(f"{ASSETS_PATH}/")).is_file(), reference
    modules = list((ASSETS / "js").glob("*.js"))
    assert modules
    for module in modules:
        for specifier in IMPORT.findall(module.read_text()):
            assert specifier.startswith("./") or specifier.startswith("../"), specifier
            assert (module.parent / specifier).resolve().is_file(), f"{module.name}: {specifier}"
