"""Cost of recording histories: the same checkable workload run with `history: true` and without,
best of a few interleaved runs each (CPU time); prints both wall-clock times and their ratio (target: on/off <= 1.2), and
the time `check: [linearizable]` then adds (the checker runs after the simulation).

A replicated store (async, leader reads) of three databases, 50 checkable processes on 5 keys, with
a crash: about 100,000 operations by default.

    python benchmarks/bench_history.py [--duration 100s] [--repeat 3]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import simulator  # noqa: E402

SCENARIO = """
name: bench-history
duration: {duration}
{top}
components:
  store: {{type: replicated, replicas: [db-1, db-2, db-3], mode: async, read_from: leader}}
  db-1: &db {{type: database, connections: 16, read_time: exponential(mean=2ms), write_time: exponential(mean=4ms)}}
  db-2: *db
  db-3: *db
workloads:
  clients:
    target: store
    users: 50
    think_time: exponential(mean=50ms)
    timeout: 1s
    checkable: true
    keys: uniform(n=5)
    mix: {{read: 0.5, write: 0.3, cas: 0.2}}
faults:
  - {{type: crash, target: db-2, at: 10s, duration: 5s}}
"""


def once(text: str) -> tuple[float, simulator.Result]:
    """CPU seconds of one run (CPU time, not wall clock: the machine is shared)."""
    sc = simulator.loads_scenario(text)
    t = time.process_time()
    result = simulator.run(sc)
    return time.process_time() - t, result


def best(text: str, repeat: int) -> tuple[float, simulator.Result]:
    runs = [once(text) for _ in range(repeat)]
    return min(r[0] for r in runs), runs[-1][1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", default="100s")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    off_text = SCENARIO.format(duration=args.duration, top="")
    on_text = SCENARIO.format(duration=args.duration, top="history: true")
    offs, ons = [], []
    for _ in range(args.repeat):  # interleaved, so a change in the machine's load hits both alike
        offs.append(once(off_text))
        ons.append(once(on_text))
    off_s, on_s, on = min(t for t, _r in offs), min(t for t, _r in ons), ons[-1][1]
    ops = on.summary["consistency"]["operations"]
    print(f"operations: {ops:,}")
    print(f"history off: {off_s:.3f} s   history on: {on_s:.3f} s (CPU, best of {args.repeat})   ratio on/off: {on_s / off_s:.3f}")
    check_s, checked = best(SCENARIO.format(duration=args.duration, top="check: [linearizable]"), 1)
    verdict = checked.summary["consistency"]["checks"]["linearizable"]["verdict"]
    print(f"with check: [linearizable]: {check_s:.3f} s (the check adds {check_s - on_s:.3f} s; verdict {verdict})")


if __name__ == "__main__":
    main()
