"""The import graph of the package: no cycles and no upward edges between layers.

Every module is parsed (``ast``), imports inside functions included.  Layers, lowest first
(README "Layout"): core → optim → solvers → audit, certificates → dp → verify → mechanisms →
families → analysis → interfaces.  A module may import its own layer or a lower one; within a
layer (and within a folder) the graph has no cycle.  ``ALLOWED`` names the violations that
remain while the layout move finishes; it may only shrink: an entry that no longer occurs fails
the test, so it must be deleted with the fix.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "dmd_opt"
LAYERS = (("core",), ("optim",), ("solvers",), ("audit", "certificates"), ("dp",), ("verify",), ("mechanisms",),
          ("families",), ("analysis",), ("interfaces",))

#: (importer, imported) → why it is still there.  Only shrinks.
ALLOWED: dict[tuple[str, str], str] = {
}


def modules() -> dict[str, Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        parts = f.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


def layer(name: str) -> int | None:
    parts = name.split(".")
    if len(parts) < 2:
        return None                      # the top-level package: lazy re-exports only
    for k, names in enumerate(LAYERS):
        if parts[1] in names:
            return k
    raise AssertionError(f"{name}: folder {parts[1]!r} is in no layer; add it to README and this test")


def edges(mods: dict[str, Path]) -> set[tuple[str, str]]:
    def resolve(target: str) -> str | None:
        while target and target not in mods:
            target = target.rpartition(".")[0]
        return target or None

    out = set()
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = name if is_pkg else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        pkg = pkg.rpartition(".")[0]
                    base = pkg + ("." + base if base else "")
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                if t.startswith("dmd_opt"):
                    r = resolve(t)
                    if r is not None and r != name and r != "dmd_opt":
                        out.add((name, r))
    return out


def cycles(graph: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    succ = defaultdict(list)
    nodes = set()
    for a, b in graph:
        succ[a].append(b)
        nodes |= {a, b}
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(succ[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(succ[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


MODS = modules()
EDGES = edges(MODS)


def test_the_parser_sees_function_level_imports():
    """Sanity: known edges are found, including one made inside a function body."""
    assert ("dmd_opt.analysis.compare", "dmd_opt.analysis.distortion") in EDGES
    assert ("dmd_opt.interfaces.api", "dmd_opt.analysis.compare") in EDGES          # inside compare()
    assert cycles({("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")}) == [["a", "b", "c"]]


def test_no_upward_imports():
    up = sorted((a, b) for a, b in EDGES if layer(a) is not None and layer(b) is not None and layer(b) > layer(a))
    new = [e for e in up if e not in ALLOWED]
    assert not new, "imports pointing to a higher layer:\n" + "\n".join(f"  {a} -> {b}" for a, b in new)


def test_no_import_cycles():
    left = cycles(EDGES - set(ALLOWED))
    assert not left, "import cycles:\n" + "\n".join("  " + " <-> ".join(c) for c in left)


def test_allow_list_only_shrinks():
    stale = [e for e in ALLOWED if e not in EDGES]
    assert not stale, "fixed — delete from ALLOWED: " + ", ".join(f"{a} -> {b}" for a, b in stale)
