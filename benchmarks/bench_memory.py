"""Peak memory against the number of requests: is it flat in the simulated duration?

Runs the M/M/c model of bench_mmc.py (c=8, rho=0.9) for N requests, each point in a fresh
interpreter (its own max RSS), once computing the summary and once also writing everything `dsim run
--out` writes (summary.json, requests.parquet, CSVs, charts, report.html), and prints peak memory,
what the run added to the memory after imports, and that per request.

    python benchmarks/bench_memory.py [--requests 1000000,3000000,10000000]
"""
from __future__ import annotations

import argparse
import tempfile
import textwrap
from pathlib import Path

from subprocess_run import run_code

ROOT = Path(__file__).resolve().parents[1]
RATE, WORKERS, MEAN_S = 7.2, 8, 1.0

CODE = textwrap.dedent("""
    import json, resource, sys, time
    sys.path.insert(0, sys.argv[5])
    import simulator
    from reports.files import write_run
    n, rate, c, mean, out = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[6]
    text = f'''
    name: bench-memory
    seed: 42
    duration: {n / rate!r}s
    components:
      app: {{type: server, workers: {c}, service_time: exponential(mean={mean!r}s)}}
    workloads:
      clients: {{arrivals: poisson(rate={rate!r}/s), target: app}}
    '''
    scenario = simulator.loads_scenario(text)
    if out != "-":
        import matplotlib  # imported before the baseline: --out loads it anyway, whatever the run's length
        import matplotlib.pyplot  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    result = simulator.run(scenario)
    summary = result.summary
    if out != "-":
        write_run(result, out)
    wall = time.perf_counter() - t
    print(json.dumps({"wall_s": wall, "requests": summary["requests"]["generated"], "exact": result.exact,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "import_rss_mb": base_rss}))
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", default="1000000,3000000,10000000",
                        help="Comma-separated request counts (default 1M, 3M, 10M).")
    args = parser.parse_args()
    sizes = [int(float(s)) for s in args.requests.split(",")]
    print(f"M/M/{WORKERS}, rho={RATE / WORKERS / (1 / MEAN_S):.2f}; each point in a fresh interpreter")
    print(f"{'requests':>12}{'--out':>7}{'records':>10}{'peak RSS MB':>13}{'after imports MB':>18}"
          f"{'run added MB':>14}{'bytes/request':>15}{'wall s':>9}")
    for n in sizes:
        for with_out in (False, True):
            with tempfile.TemporaryDirectory(prefix="dsim-bench-memory-") as tmp:
                r = run_code(CODE, n, RATE, WORKERS, MEAN_S, ROOT, tmp if with_out else "-")
            added = r["peak_rss_mb"] - r["import_rss_mb"]
            print(f"{r['requests']:>12,}{'yes' if with_out else 'no':>7}{'memory' if r['exact'] else 'spilled':>10}"
                  f"{r['peak_rss_mb']:>13.0f}{r['import_rss_mb']:>18.0f}{added:>14.0f}"
                  f"{added * 2**20 / r['requests']:>15.1f}{r['wall_s']:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
