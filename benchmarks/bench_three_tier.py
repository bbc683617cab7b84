"""Speed of a realistic stack: scenarios/three-tier.yaml (clients -> load balancer -> 3 app servers ->
database, client timeouts, network latency), its faults removed, for about N requests.

The timed run and the event count are separate subprocesses: the timed run is left as it is
(full metrics, summary computed, like bench_mmc.py), and the count wraps `SimEnv.step` (every
event taken off SimPy's heap) in a second run of the same scenario and seed, which processes the
same events. Prints requests/s, wall time, peak memory and heap events per request.

    python benchmarks/bench_three_tier.py [--requests 1000000]
"""
from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from subprocess_run import run_code

ROOT = Path(__file__).resolve().parents[1]

RUN = textwrap.dedent("""
    import json, resource, sys, time
    sys.path.insert(0, sys.argv[3])
    import simulator
    from simulator.engine.env import SimEnv
    n, count = int(sys.argv[1]), sys.argv[2] == "count"
    scenario = simulator.load_scenario(sys.argv[3] + "/scenarios/three-tier.yaml")
    rate = sum(w.arrivals.mean_rate() for w in scenario.workloads.values())
    # no warm-up: every request generated is counted, as every event is
    scenario = simulator.with_overrides(scenario, {"faults": [], "warmup": "0s", "duration": f"{n / rate!r}s"})
    events = [0]
    if count:
        step = SimEnv.step

        def counted(env):
            step(env)
            events[0] += 1

        SimEnv.step = counted
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    result = simulator.run(scenario)
    summary = result.summary  # include computing the summary from the records
    wall = time.perf_counter() - t
    print(json.dumps({"wall_s": wall, "requests": summary["requests"]["generated"], "events": events[0],
                      "duration_s": scenario.duration, "mean_latency_s": summary["latency_s"]["mean"],
                      "p99_latency_s": summary["latency_s"]["p99"],
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "import_rss_mb": base_rss}))
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    args = parser.parse_args()
    timed = run_code(RUN, args.requests, "time", ROOT)
    counted = run_code(RUN, args.requests, "count", ROOT)
    requests = timed["requests"]
    assert counted["requests"] == requests, (counted, timed)
    print(f"three-tier without faults, {timed['duration_s']:,.0f} s simulated, {requests:,} requests")
    print(f"{'requests/s':>12}{'wall s':>10}{'events/request':>16}{'mean latency s':>16}{'peak RSS MB':>13}")
    print(f"{requests / timed['wall_s']:>12,.0f}{timed['wall_s']:>10.2f}{counted['events'] / requests:>16.2f}"
          f"{timed['mean_latency_s']:>16.4f}{timed['peak_rss_mb']:>13.0f}")
    print(f"heap events: {counted['events']:,}; peak memory {timed['peak_rss_mb']:.0f} MB "
          f"(of which {timed['import_rss_mb']:.0f} MB after imports)")


if __name__ == "__main__":
    main()
