"""Speed of the linearizability checker: a generated, linearizable history of N operations (5
processes, 10 keys, reads / writes / compare-and-sets on a cas-register per key, about 1 % of
operations timing out as `info`) checked with `dsim check`'s code; prints the time (target: 100,000
operations in under 30 s).

    python benchmarks/bench_checker.py [--ops 100000] [--keys 10] [--seed 1]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator.consistency import check  # noqa: E402
from simulator.consistency.history import Event, History, pair  # noqa: E402


def generate(n_ops: int, processes: int = 5, keys: int = 10, seed: int = 1) -> History:
    """Processes act on real in-memory registers: each operation takes effect at one random step
    between its invocation and its completion, so the history is linearizable by construction."""
    rnd = random.Random(seed)
    registers: dict[int, int | None] = {k: None for k in range(keys)}
    phase = [0] * processes  # 0 idle, 1 invoked, 2 took effect
    current: list[list] = [[] for _ in range(processes)]
    pid = list(range(processes))  # a process that timed out continues under a new number (Jepsen)
    events: list[Event] = []
    value = 0
    invoked = 0
    t = 0.0
    while invoked < n_ops or any(phase):
        p = rnd.randrange(processes)
        t += rnd.expovariate(1000.0)
        if phase[p] == 0:
            if invoked >= n_ops:
                continue
            key, r = rnd.randrange(keys), rnd.random()
            if r < 0.5:
                f, v = "read", None
            elif r < 0.8:
                value += 1
                f, v = "write", value
            else:
                value += 1
                f, v = "cas", [registers[key] if rnd.random() < 0.7 else -1, value]
            current[p] = [f, key, v, "ok"]
            events.append(Event(pid[p], "invoke", f, None if f == "read" else v, key, t, len(events)))
            invoked += 1
            phase[p] = 1
        elif phase[p] == 1:
            f, key, v, _ = current[p]
            if f == "write":
                registers[key] = v
            elif f == "read":
                current[p][2] = registers[key]
            elif registers[key] == v[0]:
                registers[key] = v[1]
            else:
                current[p][3] = "fail"
            phase[p] = 2
        else:
            f, key, v, outcome = current[p]
            if f != "read" and rnd.random() < 0.01:
                outcome = "info"
            events.append(Event(pid[p], outcome, f, v, key, t, len(events)))
            if outcome == "info":
                pid[p] += processes
            phase[p] = 0
    return pair(events, f"generated ({n_ops} operations)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keys", type=int, default=10, help="1: one register for all (the hardest for memory)")
    args = parser.parse_args()
    started = time.perf_counter()
    history = generate(args.ops, keys=args.keys, seed=args.seed)
    generated = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    report = check(history, "cas-register", budget_s=None)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    lin = report.linearizability
    print(f"{len(history.ops)} operations ({lin.ops} checked, {lin.partitions} independent parts) "
          f"generated in {generated:.2f} s")
    import resource  # noqa: PLC0415 (POSIX only, like the other benchmarks)

    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"verdict: {report.verdict}; checked in {elapsed:.2f} s wall, {cpu:.2f} s CPU "
          f"(linearizability {lin.elapsed_s:.2f} s, anomalies {elapsed - lin.elapsed_s:.2f} s); target < 30 s")
    sys.exit(0 if report.valid else 1)


if __name__ == "__main__":
    main()
