"""Speed and memory of a cache-heavy model: zipf keys, an LRU cache in front of a sharded store.

Each configuration runs in its own subprocess (peak memory measured separately). The cache's
per-request cost must not grow with its size (no scan on a hit or an eviction): the same
1,000,000 requests run with caches of 1,000, 10,000 and 100,000 items, and the script prints
requests/s for each and their ratio to the smallest (close to 1 means O(1)), beside a baseline
in the same run: the same workload straight to the sharded store with no cache.

    python benchmarks/bench_cache.py [--requests 1000000]
"""
from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from subprocess_run import run_code

ROOT = Path(__file__).resolve().parents[1]
RATE = 10_000.0

CODE = textwrap.dedent("""
    import json, resource, sys, time
    sys.path.insert(0, sys.argv[4])
    import simulator
    n, rate, capacity = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    target = "cache" if capacity else "store"
    text = f'''
    name: bench-cache
    seed: 42
    duration: {n / rate!r}s
    components:
      cache: {{type: cache, capacity: {max(capacity, 1)}, eviction: lru, backing: store}}
      store: {{type: sharded, strategy: consistent_hash, shards: [db-1, db-2, db-3, db-4]}}
      db-1: {{type: database, connections: 64, read_time: exponential(mean=1ms), write_time: exponential(mean=2ms)}}
      db-2: {{type: database, connections: 64, read_time: exponential(mean=1ms), write_time: exponential(mean=2ms)}}
      db-3: {{type: database, connections: 64, read_time: exponential(mean=1ms), write_time: exponential(mean=2ms)}}
      db-4: {{type: database, connections: 64, read_time: exponential(mean=1ms), write_time: exponential(mean=2ms)}}
    workloads:
      clients:
        arrivals: poisson(rate={rate!r}/s)
        target: {target}
        mix: {{read: 0.95, write: 0.05}}
        keys: zipf(n=1000000, s=0.9)
    '''
    scenario = simulator.loads_scenario(text)
    t = time.perf_counter()
    result = simulator.run(scenario)
    summary = result.summary
    wall = time.perf_counter() - t
    cache = summary["components"]["cache"]
    print(json.dumps({"wall_s": wall, "requests": summary["requests"]["generated"],
                      "hit_ratio": cache["hit_ratio"] if capacity else None,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1_000_000)
    n = ap.parse_args().requests
    rows = [("no cache (baseline)", run_code(CODE, n, RATE, 0, ROOT))]
    for cap in (1_000, 10_000, 100_000):
        rows.append((f"LRU {cap:,} items", run_code(CODE, n, RATE, cap, ROOT)))
    base = rows[1][1]["requests"] / rows[1][1]["wall_s"]
    print(f"{n:,} requests, zipf(s=0.9) over 1,000,000 keys, 95% reads, 4 consistent-hash shards")
    print(f"{'configuration':<22}{'hit ratio':>10}{'req/s':>12}{'vs 1k cache':>13}{'wall s':>9}{'peak MB':>9}")
    for label, r in rows:
        rps = r["requests"] / r["wall_s"]
        hit = "-" if r["hit_ratio"] is None else f"{100 * r['hit_ratio']:.1f}%"
        print(f"{label:<22}{hit:>10}{rps:>12,.0f}{rps / base:>13.2f}{r['wall_s']:>9.2f}{r['peak_rss_mb']:>9.0f}")


if __name__ == "__main__":
    main()
