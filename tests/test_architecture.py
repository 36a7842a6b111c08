"""The shape of the code: no import cycle between packages, no borrowed private names,
no file too long to read.

* **No cycle.** The nodes are the top-level packages of ``keepa_deals`` and the
  modules directly under it (``janitor``, ``settings``, ...); ``keepa_deals``'s
  own ``__init__`` is a node too.  Every ``import`` and ``from ... import``
  anywhere in a module counts, inside functions and under ``TYPE_CHECKING``
  included: a cycle hidden in a function is still a cycle, and one that only
  types need still forces the two packages to change together.
* **No private name of another package.** A module may use the single-underscore
  modules and names of its own top-level package, never another's: what a
  package shares, it makes public.
* **No file over 500 lines** in ``src/``.

The failure messages name the cycle (``a -> b -> a``) with the import that
makes each step, the module and line of each private import, and each long
file with its length.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT_PACKAGE = "keepa_deals"
PACKAGE_DIR = SRC / ROOT_PACKAGE
MAX_LINES = 500


@dataclass(frozen=True)
class Import:
    """One imported module (and the name taken from it, if any) at a place in a module."""

    importer: str   # dotted module name
    path: str       # relative to src/
    line: int
    target: str     # the dotted module imported from
    name: str | None  # the name of ``from target import name``

    def __str__(self) -> str:
        what = self.target if self.name is None else f"{self.target}.{self.name}"
        return f"{self.path}:{self.line} imports {what}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        yield module_name(path), path


def _resolve_relative(importer: str, is_package: bool, level: int, module: str | None) -> str:
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(module: str, path: Path) -> list[Import]:
    """Every import of a ``keepa_deals`` module in ``path``, wherever it stands."""
    return parse_imports(module, str(path.relative_to(SRC)), path.name == "__init__.py",
                         path.read_text(encoding="utf-8"))


def parse_imports(module: str, rel: str, is_package: bool, text: str) -> list[Import]:
    out = []
    for node in ast.walk(ast.parse(text, filename=rel)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == ROOT_PACKAGE:
                    out.append(Import(module, rel, node.lineno, alias.name, None))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = _resolve_relative(module, is_package, node.level, node.module)
            else:
                target = node.module or ""
            if target.split(".")[0] != ROOT_PACKAGE:
                continue
            for alias in node.names:
                out.append(Import(module, rel, node.lineno, target, alias.name))
    return out


def all_imports() -> list[Import]:
    return [imp for module, path in source_modules() for imp in imports_of(module, path)]


def known_modules() -> set[str]:
    return {module for module, _ in source_modules()}


def node_of(module: str) -> str:
    """The top-level package or module of ``keepa_deals`` that ``module`` belongs to."""
    parts = module.split(".")
    return ROOT_PACKAGE if len(parts) == 1 else parts[1]


def imported_modules(imp: Import, modules: set[str]) -> list[str]:
    """The modules an import reaches: ``from pkg import mod`` reaches ``pkg.mod``."""
    if imp.name is not None and f"{imp.target}.{imp.name}" in modules:
        return [f"{imp.target}.{imp.name}"]
    return [imp.target]


def package_graph() -> dict[str, dict[str, list[Import]]]:
    """``graph[a][b]``: the imports by which node ``a`` uses node ``b`` (a ≠ b)."""
    modules = known_modules()
    graph: dict[str, dict[str, list[Import]]] = defaultdict(lambda: defaultdict(list))
    for imp in all_imports():
        a = node_of(imp.importer)
        for target in imported_modules(imp, modules):
            b = node_of(target)
            if a != b:
                graph[a][b].append(imp)
    return graph


def strongly_connected(graph: dict[str, dict[str, list[Import]]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    nodes = sorted(set(graph) | {b for edges in graph.values() for b in edges})
    for v in nodes:
        if v not in index:
            visit(v)
    return sorted(found)


def shortest_cycle(graph: dict[str, dict[str, list[Import]]], component: list[str]) -> list[str]:
    """A shortest cycle through the first node of ``component``, as ``[a, b, ..., a]``."""
    start = component[0]
    inside = set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                return paths[v] + [start]
            if w in inside and w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    raise AssertionError(f"no cycle through {start} in {component}")


def describe_cycles(graph: dict[str, dict[str, list[Import]]]) -> list[str]:
    out = []
    for component in strongly_connected(graph):
        cycle = shortest_cycle(graph, component)
        lines = [f"import cycle: {' -> '.join(cycle)}"
                 + (f" (within {', '.join(component)})" if len(component) > len(cycle) - 1 else "")]
        for a, b in pairwise(cycle):
            sites = graph[a][b]
            lines.append(f"  {a} -> {b}: " + "; ".join(str(s) for s in sites[:4])
                         + (f"; and {len(sites) - 4} more" if len(sites) > 4 else ""))
        out.append("\n".join(lines))
    return out


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports(imports: list[Import], modules: set[str]) -> list[str]:
    """Imports of another top-level package's single-underscore module or name."""
    out = []
    for imp in imports:
        reached = imported_modules(imp, modules)[0]
        parts = reached.split(".")[1:]
        if imp.name is not None and reached == imp.target:
            parts = [*parts, imp.name]   # a name taken from the module
        owner = node_of(imp.target)
        if node_of(imp.importer) != owner and any(is_private(p) for p in parts):
            out.append(f"{imp} (a private name of {owner})")
    return out


def long_files() -> list[str]:
    out = []
    for path in sorted(SRC.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or ".egg-info" in str(path):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # not text (an image)
        lines = len(text.splitlines())
        if lines > MAX_LINES:
            out.append(f"{path.relative_to(SRC)}: {lines} lines (at most {MAX_LINES})")
    return out


# --- the tests --------------------------------------------------------------------------------


def test_no_import_cycle_between_packages() -> None:
    cycles = describe_cycles(package_graph())
    assert not cycles, "\n".join(cycles)


def test_no_module_imports_another_packages_private_names() -> None:
    found = private_imports(all_imports(), known_modules())
    assert not found, "private names imported across packages:\n" + "\n".join(found)


#: The leaves at the bottom, and the only parts of keepa_deals each may import: what the
#: Keepa client and the budget both need (tokens), what the budget and the locks both need
#: (redis_db), the stop signal, the clock and the error tree.
LEAVES: dict[str, set[str]] = {
    "tokens": {"errors", "settings"},
    "redis_db": {"errors", "settings"},
    "stop": {"clock"},
    "clock": set(),
    "errors": set(),
}


def test_the_leaves_import_nothing_above_them() -> None:
    graph = package_graph()
    above = {leaf: sorted(set(graph.get(leaf, {})) - allowed)
             for leaf, allowed in LEAVES.items()}
    assert not any(above.values()), f"leaves importing from above: {above}"


def test_no_file_in_src_is_over_500_lines() -> None:
    found = long_files()
    assert not found, "files too long:\n" + "\n".join(found)


# --- the checks themselves ------------------------------------------------------------------


def test_the_cycle_check_finds_a_cycle_and_names_its_imports() -> None:
    def imp(importer: str, target: str) -> Import:
        return Import(importer, importer.replace(".", "/") + ".py", 3, target, None)

    graph: dict[str, dict[str, list[Import]]] = defaultdict(lambda: defaultdict(list))
    graph["a"]["b"].append(imp("keepa_deals.a.x", "keepa_deals.b.y"))
    graph["b"]["c"].append(imp("keepa_deals.b.y", "keepa_deals.c"))
    graph["c"]["a"].append(imp("keepa_deals.c", "keepa_deals.a"))
    graph["c"]["d"].append(imp("keepa_deals.c", "keepa_deals.d"))
    assert strongly_connected(graph) == [["a", "b", "c"]]
    (text,) = describe_cycles(graph)
    assert text.splitlines() == [
        "import cycle: a -> b -> c -> a",
        "  a -> b: keepa_deals/a/x.py:3 imports keepa_deals.b.y",
        "  b -> c: keepa_deals/b/y.py:3 imports keepa_deals.c",
        "  c -> a: keepa_deals/c.py:3 imports keepa_deals.a",
    ]
    del graph["c"]["a"]
    assert describe_cycles(graph) == []


def test_imports_are_found_in_functions_under_type_checking_and_relative() -> None:
    text = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from keepa_deals.janitor import Janitor\n"
        "def f() -> None:\n"
        "    import keepa_deals.budget.core\n"
        "    from . import _plan\n"
        "    from ..store import _upsert\n"
        "    import json\n"
    )
    found = parse_imports("keepa_deals.ingest.stages", "keepa_deals/ingest/stages.py", False, text)
    assert {(i.line, i.target, i.name) for i in found} == {
        (3, "keepa_deals.janitor", "Janitor"),
        (5, "keepa_deals.budget.core", None),
        (6, "keepa_deals.ingest", "_plan"),
        (7, "keepa_deals.store", "_upsert"),
    }
    assert {i.target for i in parse_imports("keepa_deals.ingest", "keepa_deals/ingest/__init__.py",
                                            True, "from .stages import x\n")} == {
        "keepa_deals.ingest.stages"}


def test_the_private_check_tells_own_package_from_another() -> None:
    modules = {"keepa_deals.budget", "keepa_deals.budget._redis", "keepa_deals.budget.core",
               "keepa_deals.locks", "keepa_deals.locks.redis_lock"}

    def imp(importer: str, target: str, name: str | None) -> Import:
        return Import(importer, importer.replace(".", "/") + ".py", 1, target, name)

    found = private_imports([
        imp("keepa_deals.budget.core", "keepa_deals.budget._redis", "connect"),  # own package
        imp("keepa_deals.budget.core", "keepa_deals.budget", "_redis"),          # own package
        imp("keepa_deals.locks.redis_lock", "keepa_deals.budget._redis", "connect"),
        imp("keepa_deals.locks.redis_lock", "keepa_deals.budget", "_redis"),
        imp("keepa_deals.locks.redis_lock", "keepa_deals.budget.core", "_key"),
        imp("keepa_deals.locks.redis_lock", "keepa_deals.budget.core", "__all__"),  # a dunder
        imp("keepa_deals.locks.redis_lock", "keepa_deals.budget.core", "acquire"),
    ], modules)
    site = "keepa_deals/locks/redis_lock.py:1 imports"
    assert found == [
        f"{site} keepa_deals.budget._redis.connect (a private name of budget)",
        f"{site} keepa_deals.budget._redis (a private name of budget)",
        f"{site} keepa_deals.budget.core._key (a private name of budget)",
    ]
