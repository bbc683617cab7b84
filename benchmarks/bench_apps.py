"""Run time of the application scenarios (issue 13: each runs its default duration in under a minute
on a 2-core machine): wall and CPU time of the simulation (loading and reports excluded), events,
events per second of CPU and operations recorded, each scenario in a fresh interpreter with its default
settings, `repeat` times (the medians are printed). On a shared machine, compare CPU times.

    python benchmarks/bench_apps.py [--repeat 3] [whatsapp uber ... | path/to/scenario.yaml ...]
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
    t0, c0 = time.perf_counter(), time.process_time()
    s = simulator.run(sc).summary
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "events": s["events"], "operations": s["requests"]["generated"],
                      "simulated_s": s["duration_s"]}))
""")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", help="scenario files (default: the application scenarios that exist)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    paths = [Path(p) if p.endswith(".yaml") else ROOT / "scenarios" / f"{p}.yaml" for p in args.scenarios] or [ROOT / "scenarios" / f"{a}.yaml" for a in APPS
                                                   if (ROOT / "scenarios" / f"{a}.yaml").exists()]
    print(f"{'scenario':<16}{'simulated':>10}{'wall s':>9}{'CPU s':>8}{'events':>12}{'events/s CPU':>14}"
          f"{'operations':>12}")
    for p in paths:
        runs = [run_code(CODE, p, ROOT) for _ in range(args.repeat)]
        wall = statistics.median(r["wall_s"] for r in runs)
        cpu = statistics.median(r["cpu_s"] for r in runs)
        r = runs[0]
        print(f"{p.stem:<16}{r['simulated_s']:>9g}s{wall:>9.1f}{cpu:>8.1f}{r['events']:>12,}{r['events'] / cpu:>14,.0f}"
              f"{r['operations']:>12,}", flush=True)


if __name__ == "__main__":
    main()
