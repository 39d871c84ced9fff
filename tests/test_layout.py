"""The package's layout: its import graph has no cycles, and only the command line imports the benchmarks.

The graph is read from the sources with ``ast`` (nothing is imported): one node per module under
src/nbprune (a package is its ``__init__``), one edge per import, imports inside functions included.
An import's edges:

* ``import a.b.c``: to ``a.b.c``, and to the packages ``a.b`` / ``a`` it initialises on the way.
* ``from P import x`` (``P`` resolved when relative): to ``P.x`` when that is a module; to ``P`` when ``x``
  is a name defined by ``P`` (its ``__init__`` must have run), or when ``P`` is not the importer's own
  package or one of its parents (importing it runs its ``__init__``). So ``from . import sibling`` is an edge
  to the sibling only, while ``from . import name`` (a name the package ``__init__`` defines) and
  ``from .pkg import name`` are edges to that ``__init__``.

A package ``__init__`` importing its own submodules to re-export them is therefore fine as long as none of
them imports the ``__init__`` back: that would be a cycle, which is what the first test reports.
"""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "nbprune"
SRC = Path(__file__).resolve().parents[1] / "src" / PACKAGE


@dataclass(frozen=True)
class Edge:
    """One import: ``source`` imports ``target`` at ``where`` (``path:line``)."""

    source: str
    target: str
    where: str


def find_modules(root: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (source file, is a package ``__init__``) for every ``.py`` under ``root``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, is_package)
    return modules


def own_packages(module: str, is_package: bool) -> set[str]:
    """The packages already initialised while ``module`` runs: its parents, and itself if it is a package."""
    parts = module.split(".")
    out = {".".join(parts[:i]) for i in range(1, len(parts))}
    if is_package:
        out.add(module)
    return out


def resolve_from(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name ``from <level dots><target> import ...`` refers to inside ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def parents_of(name: str) -> list[str]:
    """``a.b.c`` -> ``["a", "a.b"]``: the packages importing ``name`` initialises first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_edges(module: str, path: Path, is_package: bool, modules: set[str], root: Path) -> list[Edge]:
    """The edges from ``module`` to other modules of ``modules`` (see the module docstring for the rules)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    own = own_packages(module, is_package)
    edges = []

    def add(target: str, node: ast.stmt) -> None:
        if target in modules and target != module:
            edges.append(Edge(module, target, f"{path.relative_to(root.parent)}:{node.lineno}"))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node)
                for parent in parents_of(alias.name):
                    if parent not in own:
                        add(parent, node)
        elif isinstance(node, ast.ImportFrom):
            base = resolve_from(module, is_package, node.level, node.module)
            for parent in parents_of(base):
                if parent not in own:
                    add(parent, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:
                    add(sub, node)
                    if base not in own:
                        add(base, node)
                else:
                    add(base, node)
    return edges


def import_graph(root: Path = SRC, package: str = PACKAGE) -> dict[str, list[Edge]]:
    """Module -> its import edges (first edge per target kept, in source order), for every module."""
    modules = find_modules(root, package)
    graph = {}
    for name, (path, is_package) in modules.items():
        first: dict[str, Edge] = {}
        for edge in import_edges(name, path, is_package, set(modules), root):
            first.setdefault(edge.target, edge)
        graph[name] = list(first.values())
    return graph


def strongly_connected(graph: dict[str, list[Edge]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            edge = next(edges, None)
            if edge is not None:
                nxt = edge.target
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return sorted(out)


def shortest_cycle(graph: dict[str, list[Edge]], component: list[str]) -> list[Edge]:
    """A shortest cycle through the component's first module, staying inside the component (BFS)."""
    inside = set(component)
    start = component[0]
    came_by: dict[str, Edge] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for edge in graph[node]:
            if edge.target not in inside:
                continue
            if edge.target == start:
                path = [edge]
                while path[0].source != start:
                    path.insert(0, came_by[path[0].source])
                return path
            if edge.target not in came_by:
                came_by[edge.target] = edge
                queue.append(edge.target)
    raise AssertionError(f"no cycle through {start} in {component}")  # cannot happen for an SCC


def describe_cycle(cycle: list[Edge]) -> str:
    """``a -> b -> a`` with where each import is written."""
    steps = "\n".join(f"    {e.source} -> {e.target}    ({e.where})" for e in cycle)
    return f"  {' -> '.join([cycle[0].source, *(e.target for e in cycle)])}\n{steps}"


def test_import_graph_has_no_cycles():
    graph = import_graph()
    components = strongly_connected(graph)
    report = [
        f"{len(c)} modules import each other: {', '.join(c)}; one cycle:\n{describe_cycle(shortest_cycle(graph, c))}"
        for c in components
    ]
    assert not components, f"{len(components)} import cycle(s) in src/{PACKAGE}:\n" + "\n".join(report)


def test_only_the_command_line_imports_the_benchmarks():
    graph = import_graph()
    bench = f"{PACKAGE}.bench"
    assert bench in graph, f"{bench} not found under {SRC}"
    importers = [e for edges in graph.values() for e in edges if e.target == bench and e.source != f"{PACKAGE}.cli"]
    assert not importers, f"only {PACKAGE}.cli may import {bench}; also imported by:\n" + "\n".join(
        f"  {e.source} ({e.where})" for e in importers)


def test_import_graph_reads_every_kind_of_import(tmp_path):
    """The edge rules on a tiny package: relative and absolute, function-level, submodule and name imports."""
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from . import a  # re-export\n",
        "a.py": "from .b import thing\n\ndef f():\n    from .sub import leaf\n    import pkg.c\n",
        "b.py": "thing = 1\n",
        "c.py": "from pkg import a\n",  # a sibling submodule: an edge to pkg.a only (a cycle with a.py)
        "sub/__init__.py": "from pkg.sub import leaf\nfrom .. import b\nfrom . import VALUE\nVALUE = 1\n",
        "sub/leaf.py": "from ..sub import VALUE\nfrom . import other\n",
        "sub/other.py": "",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    graph = import_graph(root, "pkg")
    targets = {m: sorted(e.target for e in edges) for m, edges in graph.items()}
    assert targets == {
        "pkg": ["pkg.a"],
        "pkg.a": ["pkg.b", "pkg.c", "pkg.sub", "pkg.sub.leaf"],
        "pkg.b": [],
        "pkg.c": ["pkg.a"],
        "pkg.sub": ["pkg.b", "pkg.sub.leaf"],
        "pkg.sub.leaf": ["pkg.sub", "pkg.sub.other"],
        "pkg.sub.other": [],
    }
    components = strongly_connected(graph)
    assert components == [["pkg.a", "pkg.c"], ["pkg.sub", "pkg.sub.leaf"]]
    cycle = shortest_cycle(graph, components[0])
    assert [(e.source, e.target) for e in cycle] == [("pkg.a", "pkg.c"), ("pkg.c", "pkg.a")]
    assert cycle[0].where == "pkg/a.py:5"
