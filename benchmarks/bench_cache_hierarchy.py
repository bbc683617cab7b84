"""Speed of scenarios/cache-hierarchy.yaml against bare SimPy: shoppers -> an edge cache (TTL, LRU)
-> app servers -> a Redis-like cache with 4 I/O threads -> a read-through cache -> a database, and
sellers writing through the app tier (each write invalidates the cached entries); zipf keys over
1,000,000 keys. The bare-SimPy model is written the idiomatic way: one generator process per
request, the calls delegated with `yield from`, `simpy.Resource` for workers and connections,
`env.timeout` per network hop, `OrderedDict` LRU caches, and a shared `env.event()` per key for
the misses the read-through caches coalesce.

    python benchmarks/bench_cache_hierarchy.py [--requests 500000]
"""
from __future__ import annotations

import argparse
import textwrap

from versus_simpy import compare

BARE = textwrap.dedent("""
    import itertools, json, math, random, resource, sys, time
    from collections import OrderedDict
    import simpy
    n = int(sys.argv[1])
    SHOP_RATE, SELL_RATE, HOP, KEYS = 1000.0, 30.0, 0.0003, 1_000_000
    env = simpy.Environment()
    rnd = random.Random(42)
    app = simpy.Resource(env, capacity=32)
    app_cache_io = simpy.Resource(env, capacity=4)
    db = simpy.Resource(env, capacity=16)
    cum = list(itertools.accumulate(1.0 / (k + 1) ** 0.9 for k in range(KEYS)))  # zipf(s=0.9)
    population = range(KEYS)

    def lognormal(mean, std):
        s2 = math.log(1 + (std / mean) ** 2)
        return math.log(mean) - s2 / 2, math.sqrt(s2)

    EDGE_NET = (math.log(0.015), math.log(0.060 / 0.015) / 2.3263478740408408)  # median 15ms, p99 60ms
    APP, READ, WRITE = lognormal(0.002, 0.001), lognormal(0.008, 0.004), lognormal(0.015, 0.005)
    edge, app_cache, db_cache = OrderedDict(), OrderedDict(), OrderedDict()  # key -> expiry time (edge) or True
    app_pending, db_pending = {}, {}
    latencies = []

    def fill(cache, capacity, key, value):
        if key in cache:
            cache[key] = value
            return
        if len(cache) >= capacity:
            cache.popitem(last=False)
        cache[key] = value

    def database(write):
        with db.request() as conn:
            yield conn
            yield env.timeout(rnd.lognormvariate(*(WRITE if write else READ)))

    def read_through(cache, capacity, pending, key, write, backing):
        if write:  # to the store, then drop the entry
            yield env.timeout(HOP)
            yield from backing(key, True)
            yield env.timeout(HOP)
            cache.pop(key, None)
        elif key in cache:
            cache.move_to_end(key)
        elif key in pending:  # a fetch of this key is on its way: wait for it
            yield pending[key]
        else:
            pending[key] = done = env.event()
            yield env.timeout(HOP)
            yield from backing(key, False)
            yield env.timeout(HOP)
            fill(cache, capacity, key, True)
            del pending[key]
            done.succeed()

    def db_tier(key, write):  # the read-through cache in front of the database (no workers)
        yield from read_through(db_cache, 100_000, db_pending, key, write, lambda k, w: database(w))

    def app_tier(key, write):
        with app.request() as worker:
            yield worker
            yield env.timeout(rnd.lognormvariate(*APP))
            yield env.timeout(HOP)
            with app_cache_io.request() as io:  # the lookup's 0.2 ms on one of 4 threads
                yield io
                yield env.timeout(0.0002)
            yield from read_through(app_cache, 20_000, app_pending, key, write, db_tier)
            yield env.timeout(HOP)

    def shopper():
        t0 = env.now
        key = rnd.choices(population, cum_weights=cum)[0]
        yield env.timeout(rnd.lognormvariate(*EDGE_NET))
        expires = edge.get(key)
        if expires is not None and expires <= env.now:
            del edge[key]
            expires = None
        if expires is not None:
            edge.move_to_end(key)
        else:  # cache-aside: each miss fetches
            yield env.timeout(HOP)
            yield from app_tier(key, False)
            yield env.timeout(HOP)
            fill(edge, 2000, key, env.now + 30.0)
        yield env.timeout(rnd.lognormvariate(*EDGE_NET))
        latencies.append(env.now - t0)

    def seller():
        t0 = env.now
        key = rnd.choices(population, cum_weights=cum)[0]
        yield env.timeout(HOP)
        yield from app_tier(key, True)
        yield env.timeout(HOP)
        latencies.append(env.now - t0)

    def clients(rate, make):
        while True:
            yield env.timeout(rnd.expovariate(rate))
            env.process(make())

    env.process(clients(SHOP_RATE, shopper))
    env.process(clients(SELL_RATE, seller))
    t, c = time.perf_counter(), time.process_time()
    env.run(until=n / (SHOP_RATE + SELL_RATE))
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "requests": len(latencies),
                      "mean_latency_s": sum(latencies) / len(latencies),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each; the fastest is shown")
    parser.add_argument("--requests", type=int, default=500_000)
    args = parser.parse_args()
    compare("cache-hierarchy without faults", BARE, "scenarios/cache-hierarchy.yaml", args.requests,
            target=0.5, repeat=args.repeat)


if __name__ == "__main__":
    main()
