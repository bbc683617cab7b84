"""Run time and events per second of scenarios/instagram.yaml (the default run, or one strategy).

    python benchmarks/bench_instagram.py                      # hybrid, as committed
    python benchmarks/bench_instagram.py --strategy pull

Prints the wall-clock time of the run (build included), the events the run loop processed and
events per second. Not a test: the figures depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import simulator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", choices=["push", "pull", "hybrid"], default=None)
    args = parser.parse_args()
    overrides = [f"components.feed.strategy={args.strategy}"] if args.strategy else []
    scenario = simulator.load_scenario(ROOT / "scenarios/instagram.yaml", overrides=overrides)
    t0 = time.perf_counter()
    result = simulator.run(scenario)
    wall = time.perf_counter() - t0
    events = result.extras["events"]
    feed = result.summary["components"]["feed"]["metrics"]
    print(f"instagram ({args.strategy or 'as committed'}): {wall:.1f} s, {events:,} events, "
          f"{events / wall:,.0f} events/s; {feed['reads']:,} feed reads, {feed['posts']:,} posts")


if __name__ == "__main__":
    main()
