"""The package layering: the leaves import no package above them, and no package cycle
runs through the token budget, the Keepa client, the locks or the leaves under them.

The graph's nodes are the top-level packages of keepa_deals, and its root modules
each as their own node; every import counts (module level, in a function, or
under ``TYPE_CHECKING``).  Run this file as a script to print the whole graph's
cycles and every import of another package's private names.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import keepa_deals

ROOT = Path(keepa_deals.__file__).parent

#: package -> what it may import of keepa_deals (the leaves at the bottom)
LEAVES = {
    "tokens": {"errors", "settings"},
    "redis_db": {"errors", "settings"},
    "stop": {"clock"},
    "clock": set(),
    "errors": set(),
}
#: no cycle may run through these
ACYCLIC = {"tokens", "redis_db", "stop", "keepa", "budget", "locks"}


def _node(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "keepa_deals" or len(parts) < 2:
        return None
    return parts[1]


def _module_of(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports() -> list[tuple[str, str, str, list[str]]]:
    """(importing module, its node, imported module, names) for every keepa_deals import."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        module = _module_of(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found.append((module, alias.name, []))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                names = [a.name for a in node.names]
                found.append((module, base, names))
    out = []
    for module, target, names in found:
        src, dst = _node(module), _node(target)
        if src is None or dst is None:
            continue
        # "from keepa_deals import x" imports the node x
        if target == "keepa_deals":
            for name in names:
                out.append((module, src, f"keepa_deals.{name}", []))
            continue
        out.append((module, src, target, names))
    return out


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for _module, src, target, _names in imports():
        dst = _node(target)
        assert dst is not None
        if dst != src:
            edges[src].add(dst)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if v not in index:
            visit(v)
    return out


def private_imports() -> list[str]:
    """``from keepa_deals.<other package>... import _name`` (private names across packages)."""
    bad = []
    for module, src, target, names in imports():
        if _node(target) == src:
            continue
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        tail = target.split(".")[2:]
        if private or any(p.startswith("_") and not p.startswith("__") for p in tail):
            bad.append(f"{module}: from {target} import {', '.join(names)}")
    return bad


def test_the_leaves_import_nothing_above_them() -> None:
    edges = graph()
    for leaf, allowed in LEAVES.items():
        assert edges.get(leaf, set()) <= allowed, (leaf, edges.get(leaf, set()) - allowed)


def test_no_package_cycle_runs_through_the_budget_the_client_or_their_leaves() -> None:
    for comp in cycles(graph()):
        assert not comp & ACYCLIC, f"import cycle: {sorted(comp)}"


def test_the_budget_the_client_and_the_leaves_import_no_private_names_of_others() -> None:
    mine = [b for b in private_imports() if _node(b.split(":")[0]) in ACYCLIC]
    assert mine == []


if __name__ == "__main__":
    found = cycles(graph())
    print("cycles:", [sorted(c) for c in found] or "none")
    print("private imports across packages:")
    for line in private_imports():
        print("  " + line)
