"""The dependency audit: what it counts as a finding, and that every exception is justified."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scripts import audit

README = Path(__file__).resolve().parents[2] / "README.md"


def _project(latest: str, *vulns: dict[str, Any]) -> dict[str, Any]:
    return {"info": {"version": latest}, "vulnerabilities": list(vulns)}


def _vuln(advisory: str, *aliases: str, withdrawn: str | None = None) -> dict[str, Any]:
    return {"id": advisory, "aliases": list(aliases), "fixed_in": ["2.0"],
            "withdrawn": withdrawn}


def test_a_vulnerability_of_the_pinned_latest_release_is_found_once_under_both_its_ids() -> None:
    project = _project("1.0", _vuln("PYSEC-1", "GHSA-x", "CVE-1"),
                       _vuln("GHSA-x", "PYSEC-1", "CVE-1"))
    (finding,) = audit.from_project_route("lib", "1.0", project) or []
    assert finding.ids[0] == "PYSEC-1"
    assert finding.fixed_in == ("2.0",)


def test_withdrawn_and_accepted_advisories_are_no_finding() -> None:
    accepted = next(iter(audit.IGNORED))
    project = _project("1.0", _vuln("PYSEC-2", accepted),
                       _vuln("PYSEC-3", withdrawn="2026-01-01T00:00:00"))
    assert audit.from_project_route("lib", "1.0", project) == []


def test_a_pin_behind_the_latest_release_cannot_be_judged_by_the_project_route() -> None:
    assert audit.from_project_route("lib", "1.0", _project("1.1", _vuln("PYSEC-4"))) is None
    assert audit.from_project_route("lib", "1.0", _project("1.1")) is None


def test_every_requirement_is_pinned_to_one_exact_version() -> None:
    pinned = audit.pins()
    assert {"fastapi", "pip-audit", "schemathesis", "setuptools"} <= set(pinned)
    assert all(version[0].isdigit() for version in pinned.values())


def test_every_accepted_advisory_is_justified_in_the_readme() -> None:
    text = README.read_text()
    assert all(advisory in text for advisory in audit.IGNORED)
