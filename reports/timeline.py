"""What every time chart shares: numbered fault windows and instant events, a legend that does not
cover the curves, and latency axes with plain millisecond ticks.

Fault windows come from `Result.fault_windows` (start, end, description) and instant events (a
reshard, a failover) from `Result.events` (time, description): plain data, never the model.
"""
from __future__ import annotations

import math
import textwrap
from typing import Any, Iterable

from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

from reports.formatting import by_start, secs, window

FAULT_COLOUR = "#D55E00"
EVENT_COLOUR = "#000000"
# Plain ticks for a log latency axis: 1, 2, 5 in every decade (…, 20, 50, 100, 200, 500 ms, …).
NICE = (1.0, 2.0, 5.0)


def fault_label(i: int, fault: dict[str, Any]) -> str:
    """`F1 crash app-2 (60-90 s)`: the fault's number on the chart, its own description and window."""
    return f"F{i + 1} {fault.get('description') or fault.get('type', 'fault')} ({window(fault)})"


def event_label(i: int, event: dict[str, Any]) -> str:
    """`E1 users: reshard, add s4 (at 120 s)`."""
    return f"E{i + 1} {event.get('description') or event.get('kind', 'event')} (at {secs(event['at_s'])} s)"


def mark_timeline(ax: Any, faults: Iterable[dict[str, Any]] = (), events: Iterable[dict[str, Any]] = (),
                  legend: bool = True) -> None:
    """Shade each fault window and draw each instant event as a vertical line, numbered on the chart
    (F1, F2 …, E1 …) so they are told apart; with `legend`, each also gets a legend entry with its
    description (on one panel of a figure whose panels share the time axis, to say it once)."""
    top = ax.get_xaxis_transform()  # x in data, y in axes fraction: the number sits at the top
    for i, f in enumerate(by_start(faults)):
        ax.axvspan(f["start_s"], f["end_s"], color=FAULT_COLOUR, alpha=0.10 + 0.06 * (i % 2), lw=0,
                   label=fault_label(i, f) if legend else None)
        ax.text(f["start_s"], 0.98, f" F{i + 1}", transform=top, ha="left", va="top", fontsize="x-small",
                color=FAULT_COLOUR, clip_on=True)
    for i, ev in enumerate(events):
        ax.axvline(ev["at_s"], color=EVENT_COLOUR, ls=":", lw=1.2, label=event_label(i, ev) if legend else None)
        ax.text(ev["at_s"], 0.90, f" E{i + 1}", transform=top, ha="left", va="top", fontsize="x-small",
                color=EVENT_COLOUR, clip_on=True)


def in_window(events: Iterable[dict[str, Any]], start_s: float, end_s: float) -> list[dict[str, Any]]:
    """The instant events a chart from `start_s` to `end_s` can show (one in the warm-up is not measured)."""
    return [ev for ev in events if start_s <= ev["at_s"] <= end_s]


LEGEND_WIDTH = 42  # characters a legend line holds


def legend_beside(ax: Any, **kwargs: Any) -> Any:
    """A legend to the right of the plot, where it covers no curve (charts are saved with a tight box,
    or laid out so it fits). None when nothing has a label."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    # Long labels (a failover's description) wrapped, so the legend does not squeeze the plot.
    labels = [label if len(label) <= LEGEND_WIDTH else  # "48 s)" kept on one line
              textwrap.fill(label.replace(" s)", "\u00a0s)"), LEGEND_WIDTH, subsequent_indent="  ")
              for label in labels]
    return ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                     fontsize=kwargs.pop("fontsize", "small"), **kwargs)


def plain_ms_axis(ax: Any, which: str = "x") -> None:
    """A log millisecond axis with plain ticks (20, 50, 100, 200 …) instead of 10^n labels, and no
    labelled minor ticks to overlap them."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    lo, hi = ax.get_xlim() if which == "x" else ax.get_ylim()
    if lo <= 0 or hi <= 0:
        return
    decades = range(math.floor(math.log10(lo)) - 1, math.floor(math.log10(hi)) + 2)
    subs = NICE if len(decades) <= 6 else (1.0,)  # a very wide range: decades only, still plain numbers
    shown = [t for t in (m * 10.0 ** e for e in decades for m in subs) if lo <= t <= hi]
    axis.set_major_locator(FixedLocator(shown) if len(shown) >= 2 else LogLocator(subs=NICE))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: plain_number(v)))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def plain_number(v: float) -> str:
    """20, 0.5, 1000, 0.02: a tick label without scientific notation."""
    if v >= 1:
        return f"{v:,.0f}" if v >= 10000 else f"{v:.0f}" if v == round(v) else f"{v:g}"
    return f"{v:.6f}".rstrip("0").rstrip(".")
