"""How fast a run went: the footer of `dsim run` (events processed, events per second of wall
clock) and the `--profile` table (events and time by kind). Wall-clock figures are shown here only,
never written to summary.json, which stays the same for the same scenario and seed."""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from reports.formatting import num


def speed_line(events: int | None, wall_s: float) -> str:
    """`1,604,888 events in 5.21 s of wall clock (308,040 events/s)`."""
    if events is None:
        return f"run took {wall_s:.2f} s of wall clock"
    rate = events / wall_s if wall_s > 0 else float("inf")
    return f"{num(events)} events in {wall_s:.2f} s of wall clock ({num(rate)} events/s)"


def profile_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Where the time went, by kind of event (--profile; wall clock, the profile's own cost included)",
                  title_justify="left")
    for col in ("kind", "events", "seconds", "share", "µs/event"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for r in rows:
        table.add_row(r["kind"], num(r["events"]), f"{r['seconds']:.2f}", f"{100 * r['share']:.1f}%",
                      f"{r['us_per_event']:.1f}")
    return table


def print_speed(events: int | None, wall_s: float, profile: list[dict[str, Any]] | None,
                console: Console | None = None) -> None:
    console = console or Console()
    if profile:
        console.print(profile_table(profile))
    console.print(f"[dim]{speed_line(events, wall_s)}[/dim]")
