"""Audit the pinned requirements for known vulnerabilities (`make audit`, CI).

pip-audit reads every pin of requirements.txt and requirements-dev.txt and asks PyPI's
vulnerability data for that exact version. Where PyPI's per-version route cannot be reached
(some networks, ours among them, serve only a project's own route), a pin that is the project's
latest release is checked against that route, which reports the latest release's
vulnerabilities; any other such pin is listed as not audited. Exit 1 on any known
vulnerability not in IGNORED, else 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS: Final = (ROOT / "requirements.txt", ROOT / "requirements-dev.txt")
PROJECT_ROUTE: Final = "https://pypi.org/pypi/{name}/json"

# Advisories accepted on purpose, each justified in README.md ("Security", "Dependencies").
IGNORED: Final[Mapping[str, str]] = {
    "GHSA-wj6h-64fc-37mp": "ecdsa (python-jose's fallback EC backend): a timing side channel"
                           " of ECDSA signing, with no fix planned; ordergate signs HS256 only,"
                           " and python-jose uses cryptography, never ecdsa, when it is there",
}


@dataclass(frozen=True)
class Finding:
    """A known vulnerability of a pinned version."""

    name: str
    version: str
    ids: tuple[str, ...]  # the advisory's id first, then its aliases
    fixed_in: tuple[str, ...]


def pins(paths: tuple[Path, ...] = REQUIREMENTS) -> dict[str, str]:
    """Every `name==version` of the requirement files, by canonical name."""
    found: dict[str, str] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            found[canonicalize_name(requirement.name)] = spec.version
    return found


def is_ignored(ids: tuple[str, ...]) -> bool:
    """True when the advisory, under any of its names, is accepted in IGNORED."""
    return any(name in IGNORED for name in ids)


def from_project_route(name: str, version: str,
                       project: Mapping[str, Any]) -> list[Finding] | None:
    """The known vulnerabilities of `version` by a project route's answer, or None when that
    answer cannot tell (it describes another release: the latest)."""
    if project["info"]["version"] != version:
        return None
    findings = []
    for vuln in project.get("vulnerabilities") or []:
        ids = (vuln["id"], *vuln.get("aliases", ()))
        if vuln.get("withdrawn") or is_ignored(ids):
            continue
        findings.append(Finding(name, version, ids, tuple(vuln.get("fixed_in") or ())))
    # PyPI lists one advisory once per database (PYSEC, GHSA) under each other's aliases.
    unique: dict[frozenset[str], Finding] = {}
    for finding in findings:
        if not any(set(finding.ids) & key for key in unique):
            unique[frozenset(finding.ids)] = finding
    return list(unique.values())


def _pip_audit() -> dict[str, Any]:
    command = [sys.executable, "-m", "pip_audit", "--no-deps", "--disable-pip",
               "--progress-spinner", "off", "--format", "json"]
    for path in REQUIREMENTS:
        command += ["-r", str(path)]
    for advisory in IGNORED:
        command += ["--ignore-vuln", advisory]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if not result.stdout.strip():
        sys.exit(f"audit: pip-audit failed:\n{result.stderr}")
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _project(name: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(PROJECT_ROUTE.format(name=name), timeout=30) as response:
            answer: dict[str, Any] = json.load(response)
            return answer
    except (urllib.error.URLError, TimeoutError, ValueError):
        return None


def main() -> int:
    """Audit, print what was found and what could not be audited; 1 if anything was found."""
    pinned = pins()
    report = _pip_audit()
    findings: list[Finding] = []
    unaudited: list[str] = []
    skipped = [canonicalize_name(d["name"]) for d in report["dependencies"] if "skip_reason" in d]
    with ThreadPoolExecutor(8) as pool:
        projects = dict(zip(skipped, pool.map(_project, skipped), strict=True))
    for dependency in report["dependencies"]:
        name = canonicalize_name(dependency["name"])
        version = dependency.get("version") or pinned[name]
        if "skip_reason" not in dependency:
            findings += [Finding(name, version, (v["id"], *v.get("aliases", ())),
                                 tuple(v.get("fix_versions", ()))) for v in dependency["vulns"]]
            continue
        project = projects[name]
        known = None if project is None else from_project_route(name, version, project)
        if known is None:
            latest = project["info"]["version"] if project else "unreachable"
            unaudited.append(f"{name}=={version} (latest {latest})")
        else:
            findings += known
    audited = len(report["dependencies"]) - len(unaudited)
    print(f"audit: {audited} of {len(report['dependencies'])} pins audited,"
          f" {len(IGNORED)} advisories accepted (README: Security)")
    if unaudited:
        print("audit: PyPI's per-version vulnerability data could not be reached for these"
              " pins behind their latest release, so they are NOT audited here:\n  "
              + "\n  ".join(unaudited))
    for finding in findings:
        fix = ", ".join(finding.fixed_in) or "no fix released"
        print(f"audit: VULNERABLE {finding.name}=={finding.version}:"
              f" {' / '.join(finding.ids)} (fixed in: {fix})")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
