"""The layers of docs/architecture.md hold: no import runs against the data flow, and none
closes a cycle.

Every import in ``src/auditora`` is read with :mod:`ast`, at module level and
inside functions alike (imports under ``if TYPE_CHECKING:`` are for the type
checker only and are left out). Each module belongs to one layer; a module may
import modules of its own layer or of a lower one, and the graph of imports
between modules must have no cycle.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

#: Layers, lowest first: module-name prefixes (a package name covers its modules).
#: Keep in the order and words of docs/architecture.md.
LAYERS: List[Tuple[str, Tuple[str, ...]]] = [
    (
        "foundation",
        (
            "auditora._config",
            "auditora._argparse",
            "auditora._version",
            "auditora._ids",
            "auditora.records",
            "auditora.redaction",
            "auditora.typing",
        ),
    ),
    ("hand-off", ("auditora._emit", "auditora._serialize")),
    ("context", ("auditora.core._paragon", "auditora.core._errors", "auditora.core._runs")),
    (
        "domain",
        (
            "auditora.llm",
            "auditora.evaluations",
            "auditora.store",
            "auditora.store._url",
            "auditora.store._postgres",
            "auditora.experiments._model",
            "auditora.experiments._stats",
            "auditora.experiments._compare",
        ),
    ),
    ("adats", ("auditora.adats", "auditora.adata")),
    (
        "entry points",
        (
            "auditora.core",
            "auditora.agents",
            "auditora.logging_bridge",
            "auditora.propagation",
            "auditora.sampling",
        ),
    ),
    ("pipeline", ("auditora.sinks", "auditora.sinks.postgres", "auditora._recorder")),
    ("integrations", ("auditora.integrations", "auditora.llm._instrument", "auditora.collect")),
    (
        "tools",
        (
            "auditora.viewer",
            "auditora.experiments",
            "auditora.scorers",
            "auditora._trajectory_scorers",
        ),
    ),
    (
        "application",
        (
            "auditora._configure",
            "auditora.testing",
            "auditora.demo",
            "auditora.cli",
            "auditora.__main__",
            "auditora",
        ),
    ),
]


def _layer(module: str) -> int:
    """The layer of ``module``: the one whose longest prefix matches it."""
    best, found = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    if found < 0:
        raise AssertionError(f"{module} belongs to no layer: add it to docs/architecture.md")
    return found


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(package: str, level: int, module: str | None, name: str) -> str:
    """The module an ``import`` or ``from ... import name`` statement reaches."""
    if level:
        base = package.split(".")
        base = base[: len(base) - (level - 1)]
        target = ".".join([*base, module] if module else base)
    else:
        target = module or ""
    candidate = f"{target}.{name}"
    path = SRC / Path(*candidate.split("."))
    if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
        return candidate  # ``from package import submodule``
    return target


def _imports(path: Path) -> Iterator[Tuple[str, int]]:
    """``(imported module, line)`` for every Auditora import in ``path``."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: List[Tuple[str, int]] = []

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if _is_type_checking(node.test):
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            for alias in node.names:
                if alias.name == "auditora" or alias.name.startswith("auditora."):
                    found.append((alias.name, node.lineno))

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            for alias in node.names:
                target = _resolve(package, node.level, node.module, alias.name)
                if target == "auditora" or target.startswith("auditora."):
                    found.append((target, node.lineno))

    Visitor().visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    yield from found


def _graph() -> Dict[str, Set[str]]:
    graph: Dict[str, Set[str]] = {}
    for path in sorted((SRC / "auditora").rglob("*.py")):
        module = _module_name(path)
        graph.setdefault(module, set()).update(
            target for target, _ in _imports(path) if target != module
        )
    return graph


def test_every_module_belongs_to_a_layer() -> None:
    """Each module of the package is placed in one layer of the map."""
    for module in _graph():
        _layer(module)


def test_no_import_runs_against_the_layers() -> None:
    """A module imports only modules of its own layer or a lower one."""
    against = []
    for path in sorted((SRC / "auditora").rglob("*.py")):
        module = _module_name(path)
        for target, line in _imports(path):
            if _layer(target) > _layer(module):
                against.append(
                    f"{path.relative_to(SRC)}:{line}: {module} ({LAYERS[_layer(module)][0]}) "
                    f"imports {target} ({LAYERS[_layer(target)][0]})"
                )
    assert against == []


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Every cycle a depth-first walk of ``graph`` meets, each as a closed path."""
    cycles: List[List[str]] = []
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_the_imports_form_no_cycle() -> None:
    """No chain of imports, at module level or inside functions, leads back to its start."""
    assert [" -> ".join(c) for c in _cycles(_graph())] == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """A three-module loop is reported, so the test above cannot pass by finding nothing."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from .records import Run\n", {"auditora.records"}),
        ("from . import _emit\n", {"auditora._emit"}),
        ("def f():\n    from .store import open_store\n", {"auditora.store"}),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .adats import x\n",
            set(),
        ),
    ],
)
def test_the_import_reader_sees_what_python_would_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: Set[str]
) -> None:
    """The reader resolves relative imports, finds imports inside functions and skips
    TYPE_CHECKING blocks (so the layer tests above cannot pass by not seeing an import)."""
    package = tmp_path / "auditora"
    (package / "store").mkdir(parents=True)
    for name in ("__init__.py", "records.py", "_emit.py", "probe.py", "store/__init__.py"):
        (package / name).write_text("")
    (package / "probe.py").write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path)
    assert {target for target, _ in _imports(package / "probe.py")} == expected


def test_only_paragon_touches_the_context_variable() -> None:
    """Every other module reaches the frame through core._paragon's functions (active,
    push, pop, Paragon): none imports the ContextVar itself."""
    offenders = []
    for path in sorted((SRC / "auditora").rglob("*.py")):
        if path.name == "_paragon.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and any(a.name == "_frame" for a in node.names):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []
