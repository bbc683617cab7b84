"""Speed and memory of dsim's hot path against bare SimPy, on the M/M/c model (c=8, rho=0.9).

Runs N requests through `dsim` (full metrics on) and through an idiomatic SimPy program of the same
model (one generator process per customer, `simpy.Resource`), each in its own subprocess so that
peak memory (max RSS) is measured separately, and prints requests/s, their ratio and peak memory.

    python benchmarks/bench_mmc.py [--requests 1000000]
"""
from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from subprocess_run import run_code

ROOT = Path(__file__).resolve().parents[1]
RATE, WORKERS, MEAN_S = 7.2, 8, 1.0

BARE = textwrap.dedent("""
    import json, random, resource, sys, time
    import simpy
    n, rate, c, mean = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=c)
    rnd = random.Random(42)
    latencies = []

    def customer(env):
        t0 = env.now
        with server.request() as req:
            yield req
            yield env.timeout(rnd.expovariate(1.0 / mean))
        latencies.append(env.now - t0)

    def source(env):
        for _ in range(n):
            yield env.timeout(rnd.expovariate(rate))
            env.process(customer(env))

    env.process(source(env))
    t = time.perf_counter()
    env.run()
    wall = time.perf_counter() - t
    print(json.dumps({"wall_s": wall, "requests": len(latencies),
                      "mean_latency_s": sum(latencies) / len(latencies),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")

DSIM = textwrap.dedent("""
    import json, resource, sys, time
    sys.path.insert(0, sys.argv[5])
    import simulator
    n, rate, c, mean = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    text = f'''
    name: bench-mmc
    seed: 42
    duration: {n / rate!r}s
    components:
      app: {{type: server, workers: {c}, service_time: exponential(mean={mean!r}s)}}
    workloads:
      clients: {{arrivals: poisson(rate={rate!r}/s), target: app}}
    '''
    scenario = simulator.loads_scenario(text)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    result = simulator.run(scenario)
    summary = result.summary  # include computing the summary from the records
    wall = time.perf_counter() - t
    print(json.dumps({"wall_s": wall, "requests": summary["requests"]["generated"],
                      "mean_latency_s": summary["latency_s"]["mean"],
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "import_rss_mb": base_rss}))
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    args = parser.parse_args()
    bare = run_code(BARE, args.requests, RATE, WORKERS, MEAN_S, ROOT)
    dsim = run_code(DSIM, args.requests, RATE, WORKERS, MEAN_S, ROOT)
    bare_rps = bare["requests"] / bare["wall_s"]
    dsim_rps = dsim["requests"] / dsim["wall_s"]
    print(f"M/M/{WORKERS}, rho={RATE / WORKERS / (1 / MEAN_S):.2f}, {args.requests:,} requests")
    print(f"{'':14}{'requests/s':>14}{'wall s':>10}{'mean latency s':>16}{'peak RSS MB':>13}")
    print(f"{'bare SimPy':14}{bare_rps:>14,.0f}{bare['wall_s']:>10.2f}{bare['mean_latency_s']:>16.4f}{bare['peak_rss_mb']:>13.0f}")
    print(f"{'dsim':14}{dsim_rps:>14,.0f}{dsim['wall_s']:>10.2f}{dsim['mean_latency_s']:>16.4f}{dsim['peak_rss_mb']:>13.0f}")
    print(f"dsim time / bare SimPy time: {dsim['wall_s'] / bare['wall_s']:.2f} wall (target <= 0.35)")
    print(f"dsim peak memory: {dsim['peak_rss_mb']:.0f} MB (of which {dsim['import_rss_mb']:.0f} MB after imports); "
          f"target < 300 MB")


if __name__ == "__main__":
    main()
