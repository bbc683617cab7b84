"""Run time and events/s of scenarios/whatsapp.yaml (20,000 users for 6 simulated minutes, a server
crash and a presence outage), in a fresh interpreter per repeat; the best of the repeats is printed.

    python benchmarks/bench_whatsapp.py [--repeat 3] [--set components.chat.users=5000 ...]
"""
from __future__ import annotations

import argparse
import textwrap

from subprocess_run import run_code

CODE = textwrap.dedent("""
    import json, sys, time
    import simulator
    sc = simulator.load_scenario("scenarios/whatsapp.yaml", overrides=sys.argv[1:])
    t = time.perf_counter()
    r = simulator.run(sc)
    wall = time.perf_counter() - t
    m = r.summary["components"]["chat"]["metrics"]
    print(json.dumps({"wall_s": wall, "events": r.summary["events"], "messages": m["messages_sent"],
                      "simulated_s": sc.duration}))
""")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--set", action="append", default=[], help="an override, as dsim run --set")
    args = ap.parse_args()
    best = min((run_code(CODE, *args.set) for _ in range(args.repeat)), key=lambda r: r["wall_s"])
    print(f"whatsapp: {best['wall_s']:.1f} s of wall clock for {best['simulated_s']:g} simulated s, "
          f"{best['events']:,} events ({best['events'] / best['wall_s']:,.0f} events/s), "
          f"{best['messages']:,} messages")


if __name__ == "__main__":
    main()
