"""Nothing writes an order's status but the one save of shared/db/repositories/orders.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "worker", "shared", "scripts", "bench")
# An UPDATE of the orders table that assigns `status` (not previous_status, broker_status…).
STATUS_WRITE = re.compile(r"\bUPDATE\s+orders\b.*?\bSET\b.*?(?<![\w.])status\s*=",
                          re.IGNORECASE | re.DOTALL)
CORE_UPDATE = re.compile(r"\bupdate\(\s*(?:models\.)?orders\b|\borders\.update\(")
THE_SAVE = ("shared/db/repositories/orders.py", "_SAVE")


def _sql_texts(tree: ast.AST) -> list[tuple[str, int, str]]:
    """Every string literal (f-strings with their holes left out), its line, and the name it
    is assigned to if any."""
    names: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            for inner in ast.walk(node.value):
                names[id(inner)] = node.targets[0].id
    found: list[tuple[str, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.value, node.lineno, names.get(id(node), "")))
        elif isinstance(node, ast.JoinedStr):
            parts = [p.value for p in node.values
                     if isinstance(p, ast.Constant) and isinstance(p.value, str)]
            found.append((" ".join(parts), node.lineno, names.get(id(node), "")))
    return found


def _status_writes() -> set[tuple[str, str]]:
    writes: set[tuple[str, str]] = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text()
            relative = path.relative_to(ROOT).as_posix()
            for text, line, name in _sql_texts(ast.parse(source)):
                if STATUS_WRITE.search(text):
                    writes.add((relative, name or f"line {line}"))
            for match in CORE_UPDATE.finditer(source):
                writes.add((relative, f"offset {match.start()}"))
    return writes


def test_only_the_one_save_writes_an_orders_status() -> None:
    assert _status_writes() == {THE_SAVE}


def test_the_walk_would_see_a_status_written_anywhere_else() -> None:
    planted = ('SQL = "UPDATE orders SET status = :s WHERE id = :id"\n'
               'LATER = f"UPDATE orders SET version = version + 1, status = {x}"\n')
    seen = {name for text, _, name in _sql_texts(ast.parse(planted)) if STATUS_WRITE.search(text)}
    assert seen == {"SQL", "LATER"}
    assert not STATUS_WRITE.search("UPDATE orders SET broker_status = :raw WHERE id = :id")
