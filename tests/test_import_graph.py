"""The package's import graph points downward: no module imports, directly
or through others, a module that imports it back.

Every ``import``/``from ... import`` inside ``kstalerts/`` counts, at module
level, under ``if TYPE_CHECKING:`` and inside functions alike, relative ones
resolved against the importing module. ``from pkg import name`` counts as an
import of ``pkg.name`` when that is a module, and of ``pkg`` itself unless
``pkg`` is a package the importer stands in (whose ``__init__`` already ran).
A control test plants a circle in a copy and checks the walk finds it.
"""

import ast
import pathlib
import shutil
from typing import Dict, List, Optional, Set

import kstalerts

PACKAGE = pathlib.Path(kstalerts.__file__).resolve().parent


def module_names(root: pathlib.Path) -> Dict[str, pathlib.Path]:
    """Dotted name -> file, for every module under ``root`` (a package folder)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def import_graph(root: pathlib.Path) -> Dict[str, Set[str]]:
    """Module -> the package's modules it imports, anywhere in its text."""
    modules = module_names(root)
    graph: Dict[str, Set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            targets: List[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = resolve(name, is_package, node.module, node.level)
                if base is None:
                    continue
                submodules = [f"{base}.{alias.name}" for alias in node.names]
                targets = [m for m in submodules if m in modules]
                # Importing a module of one's own package runs no new code of
                # that package's __init__; naming anything else from it does.
                if len(targets) < len(submodules) or not name.startswith(base + "."):
                    targets.append(base)
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def resolve(importer: str, is_package: bool, module: Optional[str], level: int) -> Optional[str]:
    """The absolute name ``from <level dots><module> import`` means in ``importer``."""
    if level == 0:
        return module
    parts = importer.split(".")
    if not is_package:
        parts.pop()  # a module's relative imports start at its package
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join(parts + ([module] if module else [])) or None


def circles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_circle() -> None:
    graph = import_graph(PACKAGE)
    assert len(graph) > 30  # the walk saw the whole package
    assert graph["kstalerts.channels.base"] >= {"kstalerts._settings", "kstalerts.models"}
    assert circles(graph) == []


def test_the_layers_read_top_down() -> None:
    graph = import_graph(PACKAGE)
    assert "kstalerts.config.wiring" not in graph["kstalerts.manager"]
    assert not any(name.startswith("kstalerts.config") for name in graph["kstalerts.channels.base"])
    assert not any(name.startswith("kstalerts.config") for name in graph["kstalerts.throttle"])
    assert graph["kstalerts._settings"] == set()


def test_the_walk_finds_a_planted_circle(tmp_path: pathlib.Path) -> None:
    copy = tmp_path / "kstalerts"
    shutil.copytree(str(PACKAGE), str(copy), ignore=shutil.ignore_patterns("__pycache__"))
    assert circles(import_graph(copy)) == []
    limits = copy / "limits.py"
    # An import inside a function, two levels up the tree: still an edge.
    limits.write_text(
        limits.read_text(encoding="utf-8") + "\n\ndef _late():\n    from .channels import base\n",
        encoding="utf-8",
    )
    found = circles(import_graph(copy))
    assert len(found) == 1
    assert {"kstalerts.limits", "kstalerts.channels.base"} <= set(found[0])


def test_relative_imports_resolve_like_python() -> None:
    assert resolve("kstalerts.channels.base", False, "models", 2) == "kstalerts.models"
    assert resolve("kstalerts.channels", True, "base", 1) == "kstalerts.channels.base"
    assert resolve("kstalerts.cli", False, None, 1) == "kstalerts"
    assert resolve("kstalerts.config.wiring", False, None, 1) == "kstalerts.config"
