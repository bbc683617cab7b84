"""Wall time of a comparison: 4 variants x 8 replications, at 1 and 2 local workers, and on Dask.

Prints the wall time of each, the speed-up of 2 workers over 1 (close to 2 on a 2-core machine
when runs are long enough to hide process start-up), and the overhead of the Dask path (a local
cluster of 2 worker processes, started inside the timing) against the local pool of 2. The run
cache is off, so every run is computed.

    python benchmarks/bench_compare.py [--duration 120s] [--replications 8]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import simulator  # noqa: E402
from simulator.study.comparison import compare  # noqa: E402
from simulator.study.executors import make_executor  # noqa: E402
from simulator.study.sweep import parse_axis  # noqa: E402
from simulator.language.units import parse_duration  # noqa: E402

AXIS = "components.lb.algorithm=round_robin,least_connections,power_of_two_choices,random"


def timed(kind: str, workers: int, scenario, axes, replications: int) -> tuple[float, dict]:
    t = time.perf_counter()
    with make_executor(kind, workers) as ex:
        study = compare(scenario, axes, replications, ex, cache=None)
    wall = time.perf_counter() - t
    return wall, {k: json.dumps(v, sort_keys=True) for k, v in study.records.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", default="120s")
    ap.add_argument("--replications", type=int, default=8)
    args = ap.parse_args()
    warmup = parse_duration(args.duration) / 4  # the scenario's own 30 s would not fit a short run
    scenario = simulator.load_scenario(ROOT / "scenarios/three-tier.yaml", duration=args.duration,
                                       overrides=[f"warmup={warmup!r}s"])
    axes = [parse_axis(AXIS)]
    runs = 4 * args.replications
    one, rec1 = timed("local", 1, scenario, axes, args.replications)
    two, rec2 = timed("local", 2, scenario, axes, args.replications)
    dask, rec3 = timed("dask", 2, scenario, axes, args.replications)
    assert rec1 == rec2 == rec3, "executors disagree"
    print(f"three-tier, {args.duration} simulated per run, 4 variants x {args.replications} replications = {runs} runs")
    print(f"{'executor':<28}{'wall s':>9}{'runs/s':>9}")
    for label, wall in (("local, 1 worker", one), ("local, 2 workers", two), ("dask local cluster, 2", dask)):
        print(f"{label:<28}{wall:>9.2f}{runs / wall:>9.2f}")
    print(f"speed-up of 2 workers over 1: {one / two:.2f}x")
    print(f"dask overhead against the local pool of 2: {dask - two:+.2f} s ({dask / two:.2f}x), "
          f"cluster start-up included")
    print("results identical run for run across the three executors: yes")


if __name__ == "__main__":
    main()
