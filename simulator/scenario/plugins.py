"""Where component types (and the policies, faults and distributions they bring) come from: dsim's own
`models` package, and every installed package that declares an entry point in the `dsim.components`
group. This is the one place that imports them; importing a module registers its classes.

A third-party package adds a component type with a registered class and one line in its pyproject.toml
(see docs/architecture.md):

    [project.entry-points."dsim.components"]
    my-things = "my_package.components"
"""
from __future__ import annotations

from importlib.metadata import entry_points

from simulator.language.errors import DsimError

ENTRY_POINT_GROUP = "dsim.components"
_loaded = False


def load_components() -> None:
    """Import dsim's models and every plugin once (later calls do nothing)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import models  # noqa: F401  (dsim's own component types)

    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            ep.load()
        except Exception as exc:  # a broken plugin must not look like a dsim bug
            _loaded = False
            raise DsimError(f"plugin '{ep.name}' ({ep.value}) of entry point group {ENTRY_POINT_GROUP} "
                            f"failed to load: {type(exc).__name__}: {exc}") from exc
