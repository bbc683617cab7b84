"""Run time of the application scenarios (issue 13: each runs its default duration in under a minute
on a 2-core machine): wall time, events, events per second and operations recorded, each scenario in
a fresh interpreter, its default settings, `repeat` times (the median is printed).

    python benchmarks/bench_apps.py [--repeat 3] [scenario.yaml ...]
"""
from __future__ import annotations

import argparse
import statistics
import textwrap
from pathlib import Path

from subprocess_run import run_code

ROOT = Path(__file__).resolve().parents[1]
APPS = ("whatsapp", "uber", "netflix", "instagram", "microservices", "saga", "cqrs")

CODE = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, sys.argv[2])
    import simulator
    sc = simulator.load_scenario(sys.argv[1])
    t0 = time.perf_counter()
    s = simulator.run(sc).summary
    wall = time.perf_counter() - t0
    print(json.dumps({"wall_s": wall, "events": s["events"], "operations": s["requests"]["generated"],
                      "simulated_s": s["duration_s"]}))
""")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", help="scenario files (default: the application scenarios that exist)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    paths = [Path(p) for p in args.scenarios] or [ROOT / "scenarios" / f"{a}.yaml" for a in APPS
                                                   if (ROOT / "scenarios" / f"{a}.yaml").exists()]
    print(f"{'scenario':<16}{'simulated':>10}{'wall s':>9}{'events':>12}{'events/s':>11}{'operations':>12}")
    for p in paths:
        runs = [run_code(CODE, p, ROOT) for _ in range(args.repeat)]
        wall = statistics.median(r["wall_s"] for r in runs)
        r = runs[0]
        print(f"{p.stem:<16}{r['simulated_s']:>9g}s{wall:>9.1f}{r['events']:>12,}{r['events'] / wall:>11,.0f}"
              f"{r['operations']:>12,}")


if __name__ == "__main__":
    main()
