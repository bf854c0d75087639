"""The package's shape: every module imports, dependencies point down the flow, modules stay small."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import qa

ROOT = Path(qa.__file__).parent
# The flow, first stage first; a module may import from its own stage or an earlier one.
# "" is the shared basics at the top of the package (types, errors, text, paths, version).
STAGES = ["", "language", "editions", "models", "store", "search", "answers", "evaluation", "app"]
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(name: str, path: Path) -> set[str]:
    """The qa modules that `name` imports, at module level or inside functions
    (imports that only type checkers see are left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for block in ast.walk(tree) if _type_checking_only(block)
               for stmt in block.body for n in ast.walk(stmt)}  # type: ignore[attr-defined]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "qa"}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}: relative import (the package uses absolute ones)"
            base = node.module or ""
            if base.split(".")[0] != "qa":
                continue
            for alias in node.names:  # `from qa.x import y` names module qa.x.y when y is one
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def _stage(module: str) -> int:
    parts = module.split(".")
    return STAGES.index(parts[1]) if len(parts) > 2 or (len(parts) == 2 and parts[1] in STAGES) else 0


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_imports(name: str) -> None:
    importlib.import_module(name)


def test_no_import_cycles() -> None:
    # the package facade re-exports the public API; nothing below may import it
    assert not [m for m, deps in GRAPH.items() if "qa" in deps], "a module imports the qa facade"
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(GRAPH[node]):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_dependencies_point_down_the_flow() -> None:
    upward = [(m, d) for m, deps in GRAPH.items() if m != "qa" for d in deps if _stage(d) > _stage(m)]
    assert upward == []


def test_every_stage_is_a_subpackage() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages == set(STAGES[1:])


def test_modules_stay_small() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()}
    assert {n: s for n, s in sizes.items() if s > MAX_LINES} == {}


def test_the_checker_sees_function_level_imports(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from qa.app import ui\n"
                      "def f():\n    from qa.store.index import Index\n    from qa.editions import chunk\n",
                      encoding="utf-8")
    assert imports_of("qa.probe", module) == {"qa.store.index", "qa.editions.chunk"}
