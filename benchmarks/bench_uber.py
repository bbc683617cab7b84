"""Run time and events/s of scenarios/uber.yaml (the default run), for the README's table of scenarios.

    python benchmarks/bench_uber.py [--repeat 3]

Prints the best wall-clock time of `--repeat` runs and the events simulated per second.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's dsim, not another installed one

import simulator  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    scenario = simulator.load_scenario(ROOT / "scenarios" / "uber.yaml")
    best, events = float("inf"), 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = simulator.run(scenario)
        best = min(best, time.perf_counter() - t0)
        events = result.summary.get("events") or events
    rate = f"{events / best:,.0f} events/s" if events else "events not reported"
    print(f"uber.yaml: {best:.2f} s of wall clock, {events:,} events ({rate})")


if __name__ == "__main__":
    main()
