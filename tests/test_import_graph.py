"""The import graph of the first-party packages (read with ast, nothing imported): no cycles between
modules, and nothing outside the composition root, the tests and the benchmarks imports `outfall`.
Imports inside functions count: a lazy import is still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import ROOT

PACKAGES = ("ingest", "compliance", "api", "simulators", "outfall")
# Cycles tolerated while being untangled; none are left. A new cycle fails test_no_import_cycles.
KNOWN_CYCLES: list[set[str]] = []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """First-party modules imported by a module (`from a import b` is a.b when that is a module)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}".rstrip(".")
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(component)
    return out


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [{"a", "b", "c"}]


def test_import_cycles_are_only_the_known_ones() -> None:
    """Fails on a new cycle, and on a known one that is gone (then take it off KNOWN_CYCLES)."""
    cycles = _cycles(_graph())
    assert [c for c in cycles if c not in KNOWN_CYCLES] == [], "new import cycles"
    assert [c for c in KNOWN_CYCLES if c not in cycles] == [], "fixed: remove them from KNOWN_CYCLES"


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_only_the_composition_root_imports_outfall() -> None:
    offenders = {
        name: sorted(m for m in deps if m.split(".")[0] == "outfall")
        for name, deps in _graph().items()
        if name.split(".")[0] != "outfall"
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_imports_point_one_way() -> None:
    """outfall -> api -> compliance -> ingest; simulators import only ingest."""
    allowed = {
        "ingest": {"ingest"},
        "compliance": {"compliance", "ingest"},
        "api": {"api", "compliance", "ingest"},
        "simulators": {"simulators", "ingest"},
        "outfall": set(PACKAGES),
    }
    wrong = {
        name: sorted(m for m in deps if m.split(".")[0] not in allowed[name.split(".")[0]])
        for name, deps in _graph().items()
    }
    assert {k: v for k, v in wrong.items() if v} == {}


def test_ingest_folders_point_one_way() -> None:
    """Inside ingest: mqtt -> hj212 -> core (the MQTT worker carries raw HJ 212 frames too)."""
    allowed = {
        "ingest.core": {"ingest.core", "ingest.migrations"},
        "ingest.hj212": {"ingest.hj212", "ingest.core"},
        "ingest.mqtt": {"ingest.mqtt", "ingest.hj212", "ingest.core"},
    }

    def folder(module: str) -> str:
        return ".".join(module.split(".")[:2])

    wrong = {
        name: sorted(m for m in deps if m.startswith("ingest.") and folder(m) not in allowed[folder(name)])
        for name, deps in _graph().items()
        if folder(name) in allowed
    }
    assert {k: v for k, v in wrong.items() if v} == {}
