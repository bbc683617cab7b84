"""Speed of a realistic stack against bare SimPy: scenarios/three-tier.yaml (clients -> load
balancer -> 3 app servers -> database, client timeouts, network latency), its faults removed, for
about N requests, and an idiomatic bare-SimPy model of the same system (a generator process per
request, `simpy.Resource` for workers and connections, `env.timeout` for each network hop).

Prints requests/s, wall and CPU time, mean latency (both must agree), peak memory, dsim's heap
events per request (counted by the run itself: `events` in its summary) and the time ratio.

    python benchmarks/bench_three_tier.py [--requests 1000000]
"""
from __future__ import annotations

import argparse
import textwrap

from versus_simpy import compare

# The bare model leaves out what never happens without faults at this load: client timeouts (2 s)
# and the app servers' queue limit (200); its least-connections balancer breaks ties by rotating.
BARE = textwrap.dedent("""
    import json, math, random, resource, sys, time
    import simpy
    n = int(sys.argv[1])
    RATE, HOP = 300.0, 0.0005
    env = simpy.Environment()
    apps = [simpy.Resource(env, capacity=8) for _ in range(3)]
    db = simpy.Resource(env, capacity=6)
    outstanding = [0, 0, 0]
    rnd = random.Random(42)
    s2 = math.log(1 + 0.5 ** 2)  # lognormal(mean=20ms, std=10ms)
    APP_MU, APP_SIGMA = math.log(0.020) - s2 / 2, math.sqrt(s2)
    NET_MU, NET_SIGMA = math.log(0.020), math.log(0.080 / 0.020) / 2.3263478740408408  # median 20ms, p99 80ms
    latencies = []
    turn = [0]

    def request(env):
        t0 = env.now
        yield env.timeout(rnd.lognormvariate(NET_MU, NET_SIGMA))  # client -> lb
        turn[0] = (turn[0] + 1) % 3
        i = min(((turn[0] + j) % 3 for j in range(3)), key=outstanding.__getitem__)
        outstanding[i] += 1
        yield env.timeout(HOP)  # lb -> app
        with apps[i].request() as worker:
            yield worker
            yield env.timeout(rnd.lognormvariate(APP_MU, APP_SIGMA))
            yield env.timeout(HOP)  # app -> db
            with db.request() as conn:
                yield conn
                yield env.timeout(rnd.expovariate(1 / 0.008) if rnd.random() < 0.8 else rnd.expovariate(1 / 0.020))
            yield env.timeout(HOP)  # db -> app
        yield env.timeout(HOP)  # app -> lb
        outstanding[i] -= 1
        yield env.timeout(rnd.lognormvariate(NET_MU, NET_SIGMA))  # lb -> client
        latencies.append(env.now - t0)

    def clients(env):
        while True:
            yield env.timeout(rnd.expovariate(RATE))
            env.process(request(env))

    env.process(clients(env))
    t, c = time.perf_counter(), time.process_time()
    env.run(until=n / RATE)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "requests": len(latencies),
                      "mean_latency_s": sum(latencies) / len(latencies),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each; the fastest is shown")
    parser.add_argument("--requests", type=int, default=1_000_000)
    args = parser.parse_args()
    compare("three-tier without faults", BARE, "scenarios/three-tier.yaml", args.requests, target=0.5, repeat=args.repeat)


if __name__ == "__main__":
    main()
