"""Run time of the architecture-pattern scenarios (microservices, saga, CQRS) at their default
duration: events, wall and CPU time of the simulation itself (loading and reports excluded), events/s.

    python benchmarks/bench_patterns.py [--scenario saga] [--repeat 3]

The issue asks each scenario to run its default duration in under a minute on a 2-core machine;
the figures are in docs/apps/patterns.md. CPU time is the figure to compare on a shared machine.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's dsim, whatever is installed

import simulator  # noqa: E402

SCENARIOS = ("microservices", "saga", "cqrs")


def measure(name: str) -> tuple[int, float, float]:
    sc = simulator.load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    wall, cpu = time.perf_counter(), time.process_time()
    res = simulator.run(sc)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return int(res.summary["events"]), wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", action="append", choices=SCENARIOS, help="default: all three")
    ap.add_argument("--repeat", type=int, default=1, help="runs per scenario; the fastest is kept")
    args = ap.parse_args()
    print(f"{'scenario':<14} {'events':>10} {'wall s':>8} {'cpu s':>8} {'events/s (cpu)':>15}")
    for name in args.scenario or SCENARIOS:
        events, wall, cpu = min((measure(name) for _ in range(max(1, args.repeat))), key=lambda r: r[2])
        print(f"{name:<14} {events:>10,} {wall:>8.2f} {cpu:>8.2f} {events / cpu:>15,.0f}")


if __name__ == "__main__":
    main()
