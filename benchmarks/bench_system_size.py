"""Cost of system size: the same traffic through systems of 100, 1,000 and 10,000 servers, in 10,
100 and 1,000 zones, behind power-of-two-choices balancers (a top balancer over one replicated
server per zone), each server calling an LRU cache of 1,000,000 keys in front of a database.

For each size, in a fresh interpreter: the time to load and validate the scenario, to build the
system, the memory the built system takes per component, and the cost per request of a run of N
requests (CPU µs: the difference between runs of 2N and N requests, so that what a run pays once
cancels out), which should stay flat as the system grows.

    python benchmarks/bench_system_size.py [--requests 200000]
"""
from __future__ import annotations

import argparse
import textwrap

from subprocess_run import run_code
from versus_simpy import ROOT

RATE = 2000.0

CODE = textwrap.dedent("""
    import json, os, resource, sys, time
    sys.path.insert(0, sys.argv[1])
    import simulator
    servers, zones, n, rate = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    per_zone = servers // zones
    mean_ms = 0.5 * 100 / rate * 1000  # utilisation 0.5 at 100 servers
    def scenario_text(requests):
        lines = [f"name: size-{servers}", "seed: 1", f"duration: {requests / rate!r}s", "warmup: 0s",
                 "network: {default_latency: 0.5ms}", "components:",
                 "  front: {type: load_balancer, algorithm: power_of_two_choices, backends: ["
                 + ", ".join(f"app-{z}" for z in range(zones)) + "]}"]
        for z in range(zones):
            lines.append(f"  app-{z}: {{type: server, zone: zone-{z}, replicas: {per_zone}, "
                         f"balancer: power_of_two_choices, workers: 1, "
                         f"service_time: exponential(mean={mean_ms!r}ms), calls: [cache]}}")
        lines += ["  cache: {type: cache, capacity: 1000000, eviction: lru, backing: db}",
                  "  db: {type: database, connections: 64, read_time: exponential(mean=1ms), "
                  "write_time: exponential(mean=2ms)}",
                  "workloads:",
                  f"  web: {{arrivals: poisson(rate={rate!r}/s), target: front, keys: zipf(n=1000000, s=0.9)}}"]
        return "\\n".join(lines) + "\\n"

    def timed_run(requests):
        scenario = simulator.loads_scenario(scenario_text(requests))
        t = time.process_time()
        s = simulator.run(scenario).summary
        return time.process_time() - t, s

    t = time.process_time()
    scenario = simulator.loads_scenario(scenario_text(n))
    load_s = time.process_time() - t
    before = rss_mb()
    t = time.process_time()
    env, system = simulator.build(scenario)
    build_s = time.process_time() - t
    components = len(system.components)
    links = len(env.network.links)
    built_mb = rss_mb() - before
    del env, system
    # The cost per request is the difference between a run of 2n requests and one of n: what is paid
    # once per run (building, each component's first random numbers, 100 time-series samples of
    # every component, the summary) cancels out.
    one_s, _ = timed_run(n)
    two_s, s = timed_run(2 * n)
    print(json.dumps({"components": components, "links": links, "load_s": load_s, "build_s": build_s,
                      "built_mb": built_mb, "fixed_s": 2 * one_s - two_s, "per_request_s": (two_s - one_s) / n,
                      "requests": s["requests"]["generated"], "events": s["events"],
                      "mean_latency_s": s["latency_s"]["mean"], "cache_items": s["components"]["cache"]["items"],
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    n = parser.parse_args().requests
    rows = [(s, z, run_code(CODE, ROOT, s, z, n, RATE)) for s, z in ((100, 10), (1_000, 100), (10_000, 1_000))]
    print(f"runs of {n:,} and {2 * n:,} requests at {RATE:,.0f}/s through each system (CPU time)")
    print(f"{'servers':>8}{'zones':>7}{'components':>12}{'links':>8}{'load s':>8}{'build s':>9}"
          f"{'KB/component':>14}{'fixed s':>9}{'µs/request':>12}{'vs 100':>8}{'events/req':>12}{'mean ms':>9}")
    base = rows[0][2]["per_request_s"]
    for servers, zones, r in rows:
        per_req = r["per_request_s"]
        print(f"{servers:>8,}{zones:>7,}{r['components']:>12,}{r['links']:>8,}{r['load_s']:>8.2f}{r['build_s']:>9.2f}"
              f"{1024 * r['built_mb'] / r['components']:>14.1f}{r['fixed_s']:>9.2f}{1e6 * per_req:>12.1f}"
              f"{per_req / base:>8.2f}{r['events'] / r['requests']:>12.2f}{1000 * r['mean_latency_s']:>9.2f}"
              f"{r['peak_rss_mb']:>9.0f}")
    print("fixed s: what a run pays once whatever its length (build, each component's first random numbers,")
    print("100 time-series samples of every component, the summary); µs/request: the cost of one more request;")
    print("peak MB: the interpreter's peak memory over the whole script (imports, the build, both runs)")


if __name__ == "__main__":
    main()
