"""A run-cache entry that is not a record of its run is a miss, never a crash (issue 9: B19)."""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import scenario
from simulator.study.comparison import compare
from simulator.study.run_cache import ResultCache
from simulator.study.sweep import parse_axis

SMALL = """
name: small
seed: 3
duration: 30s
warmup: 2s
components:
  a: {type: server, workers: 2, service_time: exponential(mean=50ms)}
workloads:
  w: {arrivals: poisson(rate=20/s), target: a}
"""
AXIS = "components.a.workers=2,3"


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.json"))


def _record_with(change: Callable[[dict], None]) -> Callable[[str], str]:
    def edit(text: str) -> str:
        rec = json.loads(text)
        change(rec)
        return json.dumps(rec)
    return edit


BAD = {
    "empty mapping": lambda t: "{}",
    "a list": lambda t: "[]",
    "null": lambda t: "null",
    "truncated": lambda t: t[: len(t) // 2],
    "empty file": lambda t: "",
    "not UTF-8": lambda t: "\udcff",
    "deeply nested": lambda t: "[" * 100_000 + "]" * 100_000,
    "another seed's": _record_with(lambda r: r.update(seed=r["seed"] + 1)),
    "metrics not a mapping": _record_with(lambda r: r.update(metrics="fast")),
    "a metric not a number": _record_with(lambda r: r["metrics"].update(latency_mean_s="fast")),
    "a count not an integer": _record_with(lambda r: r["requests"].update(ok=1.5)),
    "no warm-up": _record_with(lambda r: r.pop("warmup_s")),
    "time series of other lengths": _record_with(lambda r: r["timeseries"]["end_s"].append(1.0)),
    "a fault without times": _record_with(lambda r: r.update(faults=[{"description": "x"}])),
    "warnings not text": _record_with(lambda r: r.update(warnings=[1])),
}


@pytest.fixture(scope="module")
def reference():
    return compare(scenario(SMALL), [parse_axis(AXIS)], 2)


@pytest.mark.parametrize("kind", list(BAD))
def test_a_bad_entry_is_computed_again_and_rewritten(tmp_path, reference, kind):
    cache = ResultCache(tmp_path / "cache")
    first = compare(scenario(SMALL), [parse_axis(AXIS)], 2, cache=cache)
    assert first.from_cache == 0 and len(_entries(cache.dir)) == 4
    for entry in _entries(cache.dir):
        text = BAD[kind](entry.read_text())
        entry.write_bytes(text.encode("utf-8", "surrogateescape"))
    again = compare(scenario(SMALL), [parse_axis(AXIS)], 2, cache=cache)
    assert again.from_cache == 0
    assert again.table.equals(reference.table)
    assert compare(scenario(SMALL), [parse_axis(AXIS)], 2, cache=cache).from_cache == 4  # rewritten whole


def test_an_entry_that_is_not_a_regular_file_is_a_miss(tmp_path):
    cache = ResultCache(tmp_path / "cache")
    compare(scenario(SMALL), [parse_axis(AXIS)], 1, cache=cache)
    fifo, directory = _entries(cache.dir)
    fifo.unlink()
    os.mkfifo(fifo)  # reading it would wait for a writer for ever
    directory.unlink()
    directory.mkdir()
    assert compare(scenario(SMALL), [parse_axis(AXIS)], 1, cache=cache).from_cache == 0


def test_the_code_fingerprint_changes_when_a_source_file_changes(tmp_path):
    """A developer's edit must not bring back runs computed by the code before it (the version
    number stays the same): the key includes a digest of the source of simulator/ and models/."""
    from simulator.study.run_cache import code_fingerprint
    for package in ("simulator", "models"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "a.py").write_text("x = 1\n")
    before = code_fingerprint(str(tmp_path))
    code_fingerprint.cache_clear()
    assert code_fingerprint(str(tmp_path)) == before  # deterministic
    (tmp_path / "models" / "a.py").write_text("x = 2\n")
    code_fingerprint.cache_clear()
    assert code_fingerprint(str(tmp_path)) != before
    (tmp_path / "models" / "a.py").write_text("x = 1\n")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "b.py").write_text("y = 1\n")  # drawing code does not change a run
    code_fingerprint.cache_clear()
    assert code_fingerprint(str(tmp_path)) == before
    code_fingerprint.cache_clear()
    assert len(code_fingerprint()) == 16  # the installed code
