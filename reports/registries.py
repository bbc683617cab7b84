"""Registries of the report layer: what is drawn or tabulated for each kind of component.

They use the same `Registry` as the simulator's namespaces (`simulator.language.registry`) but live
here, because the simulator never imports reports. Tables and charts come out in the order they were
registered (the order of the modules' code), so adding one never reorders the others.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from rich.table import Table

from simulator.language.registry import Registry

TableFn = Callable[[dict[str, dict[str, Any]]], list[Table]]
ChartFn = Callable[[Any, Path], list[Path]]

# Component type -> `fn(components of that type by name) -> tables` (the terminal and HTML reports).
type_tables: Registry[TableFn] = Registry("component data table")
# Chart name -> `fn(result, out_dir) -> written paths` (return [] when it does not apply).
chart_makers: Registry[ChartFn] = Registry("chart")
