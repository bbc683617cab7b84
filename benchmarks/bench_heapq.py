"""dsim against the CPython limit for an event-list simulator: a hand-written `heapq` event loop
(no SimPy, no objects per event, a tuple per event and plain lists) of M/M/8 (rho = 0.9) and of a
two-node Jackson network (two M/M/4 stations in tandem, rho = 0.78 each). CPU time of the run only
(imports and building excluded on both sides; dsim's includes computing its summary).

    python benchmarks/bench_heapq.py [--requests 500000]
"""
from __future__ import annotations

import argparse
import textwrap

from versus_simpy import compare

# One loop for both models: `stations` is a list of (workers, mean service time); a request goes
# through them in order. Events are (time, seq, kind, station, start time): an arrival from outside
# or a service completion (moving on to the next station is part of it, as in dsim).
HEAPQ = textwrap.dedent("""
    import json, random, resource, sys, time
    from collections import deque
    from heapq import heappop, heappush
    n, rate = int(sys.argv[1]), float(sys.argv[2])
    stations = [tuple(map(float, s.split(":"))) for s in sys.argv[3].split(",")]
    rnd = random.Random(42)
    expo = rnd.expovariate
    t, c = time.perf_counter(), time.process_time()
    ARRIVE, DONE = 0, 1
    heap = [(expo(rate), 0, ARRIVE, 0, 0.0)]
    seq = 1
    free = [int(w) for w, _ in stations]
    rates = [1.0 / m for _, m in stations]
    queues = [deque() for _ in stations]
    last = len(stations) - 1
    total, count, end = 0.0, 0, n / rate
    while heap:
        now, _, kind, k, t0 = heappop(heap)
        if now >= end:
            break
        if kind == ARRIVE:  # an external arrival at the first station; the next one is scheduled
            t0 = now
            heappush(heap, (now + expo(rate), seq, ARRIVE, 0, 0.0)); seq += 1
        else:  # a service completion at station k: its worker takes the next in line, the request moves on
            q = queues[k]
            if q:
                heappush(heap, (now + expo(rates[k]), seq, DONE, k, q.popleft())); seq += 1
            else:
                free[k] += 1
            if k == last:
                total += now - t0
                count += 1
                continue
            k += 1
        if free[k]:  # the request arrives at station k
            free[k] -= 1
            heappush(heap, (now + expo(rates[k]), seq, DONE, k, t0)); seq += 1
        else:
            queues[k].append(t0)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "requests": count, "mean_latency_s": total / count,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")

MMC = """
name: mm8
seed: 42
duration: 1s
components:
  app: {type: server, workers: 8, service_time: exponential(mean=1s)}
workloads:
  clients: {arrivals: poisson(rate=7.2/s), target: app}
"""

JACKSON = """
name: jackson-tandem
seed: 42
duration: 1s
components:
  a: {type: server, workers: 4, service_time: exponential(mean=0.5s), calls: [b], hold_worker: false}
  b: {type: server, workers: 4, service_time: exponential(mean=0.5s)}
workloads:
  clients: {arrivals: poisson(rate=6.25/s), target: a}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each; the fastest is shown")
    args = parser.parse_args()
    n, r = args.requests, args.repeat
    # the heapq program takes its model from its arguments: n, rate, then workers:mean per station
    compare("M/M/8", HEAPQ.replace("sys.argv[2]", "'7.2'").replace("sys.argv[3]", "'8:1.0'"), MMC, n,
            target=2.0, repeat=r, label="heapq loop")
    compare("two-node Jackson network (tandem M/M/4)",
            HEAPQ.replace("sys.argv[2]", "'6.25'").replace("sys.argv[3]", "'4:0.5,4:0.5'"), JACKSON, n,
            target=2.0, repeat=r, label="heapq loop")


if __name__ == "__main__":
    main()
