"""Instructions per request, counted by valgrind's cachegrind: a measure of dsim's cost that does not
depend on how fast the machine happens to run (its speed swings by up to 50% between runs of the
same program on a shared machine; an instruction count repeats to within a fraction of a percent).

Each system runs twice in a fresh interpreter under `valgrind --tool=cachegrind --cache-sim=no`, for
N1 and N2 requests without faults and warm-up; the difference divided by N2 - N1 is the cost of one
more request, with imports, building and what a run pays once cancelling out. `--tree` measures
another checkout in the same run (a commit before a change: `git worktree add ../before REV`).
`--bare` also counts each system's idiomatic bare-SimPy program (its benchmark's) and prints the
ratio dsim / bare SimPy: the benchmarks' time ratios without the machine's swings (time also
depends on memory stalls, which instructions do not show: the time ratio reads a little higher).
Runs use a fixed `PYTHONHASHSEED`. Needs `valgrind` on the PATH; each system takes a minute or two.

    python benchmarks/bench_instructions.py [--tree ../before] [--bare] [--system NAME] [--small 10000 --large 40000]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import bench_cache_hierarchy
import bench_call_chain
import bench_mmc
import bench_three_tier
from bench_call_chain import SCENARIO as CALL_CHAIN
from bench_heapq import MMC

ROOT = Path(__file__).resolve().parents[1]

# (name, a scenario file under the checkout, or YAML text)
SYSTEMS = [
    ("three-tier", "scenarios/three-tier.yaml"),
    ("cache-hierarchy", "scenarios/cache-hierarchy.yaml"),
    ("five-service call chain", CALL_CHAIN),
    ("M/M/8", MMC),
]
# The idiomatic bare-SimPy program of each system (its benchmark's), with its arguments after `n`
BARE = {
    "three-tier": (bench_three_tier.BARE, ()),
    "cache-hierarchy": (bench_cache_hierarchy.BARE, ()),
    "five-service call chain": (bench_call_chain.BARE, ()),
    "M/M/8": (bench_mmc.BARE, (bench_mmc.RATE, bench_mmc.WORKERS, bench_mmc.MEAN_S)),
}
# String hashes are randomised per process, and with them the layout of every dict: up to 1-2% of a
# request's instructions from one run to the next. A fixed seed makes a count repeat exactly.
ENV = {**os.environ, "PYTHONHASHSEED": "0"}

RUN = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    import simulator
    source, n = sys.argv[2], int(sys.argv[3])
    scenario = simulator.load_scenario(source)
    rate = sum(w.arrivals.mean_rate() for w in scenario.workloads.values())
    scenario = simulator.with_overrides(scenario, {"faults": [], "warmup": "0s", "duration": f"{n / rate!r}s"})
    simulator.run(scenario).summary
""")


def counted(code: str, *args: Any) -> int:
    """Instructions executed by a fresh interpreter running `code` with `args`."""
    out = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                          sys.executable, "-c", code, *map(str, args)],
                         capture_output=True, text=True, check=True, env=ENV)
    match = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    return int(match.group(1).replace(",", ""))


def instructions(tree: Path, source: str, n: int) -> int:
    """Instructions executed by a fresh interpreter running `source` for about `n` requests."""
    return counted(RUN, tree, source, n)


def bare_per_request(name: str, small: int, large: int) -> float:
    code, args = BARE[name]
    return (counted(code, large, *args) - counted(code, small, *args)) / (large - small)


def per_request(tree: Path, scenario: str, small: int, large: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        if scenario.endswith(".yaml"):
            source = str(tree / scenario)
        else:
            source = str(Path(tmp) / "system.yaml")
            Path(source).write_text(scenario)
        return (instructions(tree, source, large) - instructions(tree, source, small)) / (large - small)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, help="another checkout to measure beside this one")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=40_000)
    parser.add_argument("--system", action="append", choices=[name for name, _ in SYSTEMS],
                        help="measure only this system (repeatable); default: all")
    parser.add_argument("--bare", action="store_true",
                        help="also count the bare-SimPy program of each system, and print dsim / bare SimPy")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("bench_instructions.py needs valgrind (apt install valgrind)")
    trees = [ROOT] + ([args.tree.resolve()] if args.tree else [])
    print(f"instructions per request (cachegrind, runs of {args.large:,} minus {args.small:,} requests)")
    header = f"  {'system':26}{'this checkout':>15}" + (f"{'--tree':>15}{'change':>9}" if args.tree else "")
    header += f"{'bare SimPy':>13}{'dsim/bare':>11}" if args.bare else ""
    print(header)
    for name, scenario in SYSTEMS:
        if args.system and name not in args.system:
            continue
        counts = [per_request(tree, scenario, args.small, args.large) for tree in trees]
        row = f"  {name:26}{counts[0]:>15,.0f}"
        if args.tree:
            row += f"{counts[1]:>15,.0f}{100 * (counts[0] / counts[1] - 1):>+8.1f}%"
        if args.bare:
            bare = bare_per_request(name, args.small, args.large)
            row += f"{bare:>13,.0f}{counts[0] / bare:>11.2f}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
