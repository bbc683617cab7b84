"""Instructions per request, counted by valgrind's cachegrind: a measure of dsim's cost that does not
depend on how fast the machine happens to run (its speed swings by up to 50% between runs of the
same program on a shared machine; an instruction count repeats to within a fraction of a percent).

Each system runs twice in a fresh interpreter under `valgrind --tool=cachegrind --cache-sim=no`, for
N1 and N2 requests without faults and warm-up; the difference divided by N2 - N1 is the cost of one
more request, with imports, building and what a run pays once cancelling out. `--tree` measures
another checkout in the same run (a commit before a change: `git worktree add ../before REV`).
Needs `valgrind` on the PATH; each system takes a minute or two.

    python benchmarks/bench_instructions.py [--tree ../before] [--small 10000 --large 40000]
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

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


def instructions(tree: Path, source: str, n: int) -> int:
    """Instructions executed by a fresh interpreter running `source` for about `n` requests."""
    out = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                          sys.executable, "-c", RUN, str(tree), source, str(n)],
                         capture_output=True, text=True, check=True)
    match = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    return int(match.group(1).replace(",", ""))


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
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("bench_instructions.py needs valgrind (apt install valgrind)")
    trees = [ROOT] + ([args.tree.resolve()] if args.tree else [])
    print(f"instructions per request (cachegrind, runs of {args.large:,} minus {args.small:,} requests)")
    header = f"  {'system':26}{'this checkout':>15}" + (f"{'--tree':>15}{'change':>9}" if args.tree else "")
    print(header)
    for name, scenario in SYSTEMS:
        counts = [per_request(tree, scenario, args.small, args.large) for tree in trees]
        row = f"  {name:26}{counts[0]:>15,.0f}"
        if args.tree:
            row += f"{counts[1]:>15,.0f}{100 * (counts[0] / counts[1] - 1):>+8.1f}%"
        print(row, flush=True)


if __name__ == "__main__":
    main()
