"""The package's modules import each other without a cycle (a lazy import counts too)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "modelops"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The modelops modules `path` imports anywhere: top level, in functions, for type checks."""
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports the submodule; `from mod import name` the module.
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
            ]
        else:
            continue
        found.update(n for n in names if n in modules and n != here)
    return found


def import_graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p) for p in files}
    return {_module_name(p): _imports(p, modules) for p in files}


def test_no_import_cycles() -> None:
    """No module of modelops imports, directly or through others, a module that imports it."""
    graph = import_graph()
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        raise AssertionError(f"import cycle: {' -> '.join(err.args[1])}") from None


def test_the_cycle_check_sees_a_cycle() -> None:
    """The graph has the edges the check relies on (train -> metrics), so a cycle would show."""
    graph = import_graph()
    assert "modelops.metrics" in graph["modelops.train"]
    assert "modelops.data.split" in graph["modelops.evaluate"]
    assert "modelops.train" not in graph["modelops.evaluate"]
    cyclic = {**graph, "modelops.metrics": graph["modelops.metrics"] | {"modelops.train"}}
    try:
        tuple(graphlib.TopologicalSorter(cyclic).static_order())
    except graphlib.CycleError:
        return
    raise AssertionError("a cycle added by hand was not found")
