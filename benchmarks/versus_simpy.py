"""Run a scenario through dsim and an idiomatic bare-SimPy program of the same system, each in a
fresh interpreter, and print both side by side with the ratio of their times (the fastest of a few alternating runs
of each: the machine these figures come from is shared, and the slower runs measure the others' work).

A bare-SimPy program is a script that reads `n` (simulated seconds are `n / rate`) and prints one
JSON line with `wall_s`, `cpu_s`, `requests`, `mean_latency_s` and `peak_rss_mb`. dsim runs the
scenario with its faults removed and no warm-up, for the same simulated time, with full metrics and
the summary computed. Times exclude start-up (imports; for dsim, reading the scenario), and dsim's
include building the system from it (a bare program builds its model before its clock starts).
"""
from __future__ import annotations

import statistics
import textwrap
from pathlib import Path

from subprocess_run import run_code

ROOT = Path(__file__).resolve().parents[1]

DSIM = textwrap.dedent("""
    import json, resource, sys, time
    sys.path.insert(0, sys.argv[1])
    import simulator
    n, source = int(sys.argv[2]), sys.argv[3]
    scenario = simulator.load_scenario(source) if source.endswith(".yaml") else simulator.loads_scenario(source)
    rate = sum(w.arrivals.mean_rate() for w in scenario.workloads.values())
    # no warm-up: every request generated is counted, as every event is
    scenario = simulator.with_overrides(scenario, {"faults": [], "warmup": "0s", "duration": f"{n / rate!r}s"})
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t, c = time.perf_counter(), time.process_time()
    result = simulator.run(scenario)
    summary = result.summary  # include computing the summary from the records
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "requests": summary["requests"]["generated"],
                      "events": summary["events"], "duration_s": scenario.duration,
                      "mean_latency_s": summary["latency_s"]["mean"], "p99_latency_s": summary["latency_s"]["p99"],
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "import_rss_mb": base_rss}))
""")


def run_dsim(scenario: str, n: int) -> dict:
    """dsim on `scenario` (a path under the repository, or YAML text) for about `n` requests."""
    source = str(ROOT / scenario) if scenario.endswith(".yaml") else scenario
    return run_code(DSIM, ROOT, n, source)


def run_bare(code: str, n: int) -> dict:
    return run_code(code, n)


def fastest(runs: list[dict]) -> dict:
    """The run with the least CPU time (the others were slowed down by other work on the machine)."""
    return min(runs, key=lambda r: r["cpu_s"])


def compare(title: str, bare_code: str, scenario: str, n: int, target: float, repeat: int = 3,
            label: str = "bare SimPy") -> dict:
    """Run both `repeat` times, alternating (so both see the same machine), and print the fastest run
    of each: a table, the time ratio (against `target`) and the two mean latencies. `bare_code` may
    be any program printing the same JSON line (`label` names it)."""
    pairs = [(run_bare(bare_code, n), run_dsim(scenario, n)) for _ in range(repeat)]
    bare, dsim = fastest([b for b, _ in pairs]), fastest([d for _, d in pairs])
    print(f"{title}: {dsim['duration_s']:,.0f} s simulated, {dsim['requests']:,} requests "
          f"({label}: {bare['requests']:,}); {dsim['events'] / dsim['requests']:.2f} dsim events per request; "
          f"fastest of {repeat} alternating runs each")
    print(f"  {'':12}{'requests/s':>12}{'wall s':>9}{'cpu s':>9}{'mean latency ms':>17}{'peak RSS MB':>13}")
    for name, r in ((label, bare), ("dsim", dsim)):
        print(f"  {name:12}{r['requests'] / r['wall_s']:>12,.0f}{r['wall_s']:>9.2f}{r['cpu_s']:>9.2f}"
              f"{1000 * r['mean_latency_s']:>17.2f}{r['peak_rss_mb']:>13.0f}")
    ratio = dsim["wall_s"] / bare["wall_s"]
    cpu_ratio = dsim["cpu_s"] / bare["cpu_s"]
    agree = abs(dsim["mean_latency_s"] / bare["mean_latency_s"] - 1)
    print(f"  dsim time / {label} time: {ratio:.2f} wall, {cpu_ratio:.2f} cpu (target <= {target}); "
          f"mean latencies differ by {100 * agree:.1f}%")
    # The machine's speed drifts between minutes: each pair ran back to back, so its ratio is the
    # less disturbed comparison; their median and spread say how far to trust the line above.
    paired = sorted(d["cpu_s"] / b["cpu_s"] for b, d in pairs)
    if repeat > 1:
        print(f"  cpu ratio of each pair run back to back: median {statistics.median(paired):.2f} "
              f"(from {paired[0]:.2f} to {paired[-1]:.2f})")
    return {"bare": bare, "dsim": dsim, "ratio": ratio, "cpu_ratio": cpu_ratio, "paired": paired}
