"""The package's modules import one way: no cycle, function-level imports included, and the config
layer (schema, runs, params, config) never reaches up into the steps it configures."""

from __future__ import annotations

import ast
from pathlib import Path

import regeo

PACKAGE = Path(regeo.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """regeo modules that ``path`` imports anywhere in its body (``from regeo.x import y`` counts as
    regeo.x.y when that is a module, else regeo.x)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                     for alias in node.names]
        found |= {name for name in names if name in modules}
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    graph = {name: _imports(path, modules) - {name} for name, path in paths.items()}
    # A package's __init__ runs before any of its modules: importing regeo.a.b imports regeo.a.
    for name in modules:
        parent = name.rsplit(".", 1)[0]
        if parent in modules and parent not in ("regeo", name):
            graph[name].add(parent)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_walk_finds_a_planted_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert "regeo.token_sets" in graph and graph["regeo.config"]  # the walk sees the package
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_config_layer_does_not_import_the_steps_at_module_level():
    """regeo.schema is a leaf; the modules every Snakemake parse imports stay torch-free."""
    assert import_graph()["regeo.schema"] == set()
    import subprocess
    import sys

    code = ("import sys, regeo.config, regeo.runs, regeo.rule_params, regeo.steering.config, regeo.layout; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_test_modules_have_unique_basenames():
    """pytest imports test modules by basename (no packages under tests/): two files of one name
    stop the whole collection."""
    from collections import Counter

    names = Counter(p.name for p in (PACKAGE.parents[1] / "tests").rglob("test_*.py"))
    assert [name for name, n in names.items() if n > 1] == []
