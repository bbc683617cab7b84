"""Speed of a five-service call chain against bare SimPy: clients -> svc-1 -> svc-2 -> ... -> svc-5,
each a server that does its own work, then calls the next and holds its worker until the answer
comes back, with 0.5 ms of network latency on every hop; and an idiomatic bare-SimPy model of it
(one generator process per request, the calls delegated with `yield from`, `simpy.Resource` per
service, `env.timeout` per hop).

    python benchmarks/bench_call_chain.py [--requests 500000]
"""
from __future__ import annotations

import argparse
import textwrap

from versus_simpy import compare

RATE, WORKERS, SERVICE_MS, HOP_MS = 1000.0, 32, 2.0, 0.5

SCENARIO = f"""
name: call-chain
seed: 1
duration: 60s
network: {{default_latency: {HOP_MS}ms}}
components:
""" + "".join(
    f"  svc-{i}: {{type: server, workers: {WORKERS}, service_time: exponential(mean={SERVICE_MS}ms)"
    + (f", calls: [svc-{i + 1}]}}\n" if i < 5 else "}\n") for i in range(1, 6)) + f"""
workloads:
  web: {{arrivals: poisson(rate={RATE}/s), target: svc-1}}
"""

BARE = textwrap.dedent(f"""
    import json, random, resource, sys, time
    import simpy
    n = int(sys.argv[1])
    RATE, HOP, MEAN = {RATE}, {HOP_MS / 1000}, {SERVICE_MS / 1000}
    env = simpy.Environment()
    services = [simpy.Resource(env, capacity={WORKERS}) for _ in range(5)]
    rnd = random.Random(42)
    latencies = []

    def call(env, k):
        yield env.timeout(HOP)  # the request crosses the network
        with services[k].request() as worker:
            yield worker
            yield env.timeout(rnd.expovariate(1 / MEAN))
            if k + 1 < len(services):
                yield from call(env, k + 1)
        yield env.timeout(HOP)  # the reply crosses back

    def request(env):
        t0 = env.now
        yield from call(env, 0)
        latencies.append(env.now - t0)

    def clients(env):
        while True:
            yield env.timeout(rnd.expovariate(RATE))
            env.process(request(env))

    env.process(clients(env))
    t, c = time.perf_counter(), time.process_time()
    env.run(until=n / RATE)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(json.dumps({{"wall_s": wall, "cpu_s": cpu, "requests": len(latencies),
                      "mean_latency_s": sum(latencies) / len(latencies),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each; the fastest is shown")
    parser.add_argument("--requests", type=int, default=500_000)
    args = parser.parse_args()
    compare("five-service call chain", BARE, SCENARIO, args.requests, target=0.5, repeat=args.repeat)


if __name__ == "__main__":
    main()
