"""The API's SQL names only the API's own tables: every other table is read through its owner's named
queries and written through its owner's functions (ARCHITECTURE.md, "Who writes which table")."""

from __future__ import annotations

import ast
import re

from tests.support import ROOT

API_TABLES = {"api_tokens", "api_audit", "api_events"}
# SQL keywords are upper case in this code base; prose ("from them") is not.
TABLE = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+([a-z_][a-z0-9_]*)")
NOT_TABLES = {"stdin", "now", "pg_current_snapshot"}


def _sql_tables(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found |= set(TABLE.findall(node.value))
    return found - NOT_TABLES


def test_the_scan_sees_tables():
    assert _sql_tables('x = ("SELECT a FROM alerts a" " JOIN points p ON true")') == {"alerts", "points"}


def test_api_sql_names_only_api_tables():
    foreign = {
        str(path.relative_to(ROOT)): tables - API_TABLES
        for path in sorted((ROOT / "api").rglob("*.py"))
        if (tables := _sql_tables(path.read_text(encoding="utf-8"))) - API_TABLES
    }
    assert foreign == {}
