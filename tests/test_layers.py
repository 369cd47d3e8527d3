"""The server's layers, read from the source: no module imports in a circle, none imports a layer above its own.

The layers, lowest first: ``common`` (the wire protocol), ``chatserver.backends``,
``chatserver.core``, ``chatserver.rules``, ``chatserver.net`` (with ``config`` and
``checkers``), ``chatserver.app``;
``chatserver.cluster`` (the Redis backends and the cluster's hub) sits above core,
beside the rules and the transports, below the command line. Every import counts,
``TYPE_CHECKING`` blocks and relative imports included: a cycle that is only there
for type hints still says two modules are one.
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: What each layer may import (itself included).
MAY_IMPORT = {
    "common": {"common"},
    "backends": {"common", "backends"},
    "core": {"common", "backends", "core"},
    "accounts": {"common", "backends", "accounts"},
    "cluster": {"common", "backends", "core", "cluster"},
    "rules": {"common", "backends", "core", "accounts", "rules"},
    "files": {"common", "backends", "core", "files"},
    "net": {"common", "backends", "core", "accounts", "rules", "files", "net"},
    "app": {"common", "backends", "core", "accounts", "cluster", "rules", "files", "net", "app"},
}
#: The settings (what the server is told, read by the transports that build the rest) and
#: the checkers of their values sit with the transports.
SETTINGS = {"chatserver.config": "net", "chatserver.checkers": "net"}


def _modules() -> dict[str, pathlib.Path]:
    paths = [*(ROOT / "chatserver").rglob("*.py"), *(ROOT / "common").rglob("*.py")]
    return {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p for p in paths}


def _imports(name: str, path: pathlib.Path, modules: dict[str, pathlib.Path]) -> set[str]:
    """The modules of ours that ``name`` imports (and the packages they are in), anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # from .x import y: relative to this module's package
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            named.add(base)
            named.update(f"{base}.{alias.name}" for alias in node.names)
    found = set()
    for dotted in named:
        parts = dotted.split(".")
        found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in modules)
    # (its own packages are not among them: Python runs them before any module in them, whatever it imports)
    own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    return found - own - {name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] == "common":
        return "common"
    if name == "chatserver.__main__":
        return "app"
    if name in SETTINGS:
        return SETTINGS[name]
    return parts[1] if len(parts) > 1 and parts[1] in MAY_IMPORT else None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_reader_sees_relative_and_type_checking_imports():
    graph = _graph()
    assert "common.messages" in graph["common.commands"]  # from .messages import ...
    assert "chatserver.net.session" in graph["chatserver.net.dialects.native"]  # under TYPE_CHECKING
    assert "chatserver.net.dialects" in graph["chatserver.net.server"]  # the package of what it imports


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_in_a_circle():
    assert _cycles(_graph()) == []


def test_no_module_imports_a_layer_above_its_own():
    graph = _graph()
    assert graph["chatserver"] == set(), "the package itself imports nothing: every module runs it first"
    upward = []
    for name, deps in sorted(graph.items()):
        if name == "chatserver":
            continue
        for dep in sorted(deps):
            mine, theirs = _layer(name), _layer(dep)
            assert mine is not None and theirs is not None, f"{name} -> {dep}: a module in no layer"
            if theirs not in MAY_IMPORT[mine]:
                upward.append(f"{name} -> {dep}")
    assert upward == []
