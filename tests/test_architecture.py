"""The layering stays true: imports point down the layers and never form a cycle.

Parsed with `ast` (nothing is imported), so a lazy import inside a function counts like any other.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("simulator", "models", "reports", "cli")

# Lowest first. A module may import its own package and any package of a lower layer; packages that
# share a layer may not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("simulator.version", "simulator.language", "simulator.statistics"),
    ("simulator.sampling", "simulator.consistency"),  # consistency: histories and checkers, no simulation
    ("simulator.engine",),
    ("simulator.results",),
    ("simulator.resilience",),
    ("simulator.workload", "simulator.faults"),
    ("models",),
    ("simulator.scenario",),
    ("simulator.simulation",),
    ("simulator.study",),
    ("reports",),
    ("simulator",),  # the public API
    ("cli",),  # the command line calls the API
]
# Beyond the order: reports read results (and studies' results), never the live system.
FORBIDDEN = {
    "reports": ("models", "simulator.engine", "simulator.simulation", "simulator.faults", "simulator.workload",
                "simulator.scenario", "simulator.sampling"),
    "models": ("simulator.study", "simulator.simulation", "simulator.scenario", "reports"),
    "simulator.engine": ("simulator.study", "simulator.scenario", "simulator.simulation", "models", "reports"),
}


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        single = ROOT / f"{pkg}.py"
        if single.exists():
            mods[pkg] = single
            continue
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join(parts)] = path
    return mods


def _resolve(name: str, mods: dict[str, Path]) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def _imports(mod: str, path: Path, mods: dict[str, Path]) -> set[str]:
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            # `from pkg import sub` imports pkg.sub; `from pkg import name` imports pkg itself
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
        else:
            continue
        for n in names:
            target = _resolve(n, mods)
            if target and target != mod:
                out.add(target)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(m, p, mods) for m, p in mods.items()}


def _layer(mod: str) -> tuple[int, str]:
    best: tuple[int, str] | None = None
    for rank, group in enumerate(LAYERS):
        for pkg in group:
            if (mod == pkg or mod.startswith(pkg + ".")) and (best is None or len(pkg) > len(best[1])):
                best = (rank, pkg)
    assert best is not None, f"{mod} belongs to no layer: add it to LAYERS"
    return best


def test_every_module_has_a_layer():
    for mod in _graph():
        _layer(mod)


def test_imports_point_down_the_layers():
    wrong = []
    for mod, targets in _graph().items():
        rank, pkg = _layer(mod)
        for t in targets:
            t_rank, t_pkg = _layer(t)
            if t_pkg == pkg:
                continue
            if t_rank >= rank:
                wrong.append(f"{mod} (layer {rank}) imports {t} (layer {t_rank})")
            for bad in FORBIDDEN.get(pkg, ()):
                if t == bad or t.startswith(bad + "."):
                    wrong.append(f"{mod} imports {t}: {pkg} may not import {bad}")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_a_cycle_and_an_upward_import(tmp_path, monkeypatch):
    """The checks above would catch a regression: run them on a tiny tree that has both faults."""
    (tmp_path / "simulator" / "engine").mkdir(parents=True)
    (tmp_path / "simulator" / "study").mkdir()
    for d in ("simulator", "simulator/engine", "simulator/study"):
        (tmp_path / d / "__init__.py").write_text("")
    (tmp_path / "simulator" / "engine" / "a.py").write_text("from simulator.study import b\n")
    (tmp_path / "simulator" / "study" / "b.py").write_text("from simulator.engine import a\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    monkeypatch.setattr(__import__(__name__), "PACKAGES", ("simulator",))
    graph = _graph()
    assert graph["simulator.engine.a"] == {"simulator.study.b"}
    try:
        test_imports_point_down_the_layers()
    except AssertionError as e:
        assert "simulator.engine.a (layer 2) imports simulator.study.b" in str(e)
    else:
        raise AssertionError("an upward import went unnoticed")
    try:
        test_no_import_cycles()
    except AssertionError as e:
        assert "simulator.engine.a -> simulator.study.b" in str(e)
    else:
        raise AssertionError("a cycle went unnoticed")


def test_no_module_imports_a_private_name_of_another():
    # A name another module needs is public: no underscore, and a docstring saying what it is.
    found = set()
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0].startswith(".") or "site-packages" in rel.parts:
            continue
        mod = ".".join(rel.with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                found.update((mod, a.name) for a in node.names
                             if a.name.startswith("_") and not a.name.startswith("__"))
    assert not found, sorted(found)
