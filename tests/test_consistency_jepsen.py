"""The linearizability checker agrees with every verdict of the Jepsen etcd histories (Porcupine's test
data, copied into tests/fixtures/jepsen-etcd with its README and licence), and the CLI gives each one's
exit code."""
from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from simulator.consistency import check, read_history

FIXTURES = Path(__file__).parent / "fixtures" / "jepsen-etcd"
VERDICTS = {row["file"]: row["linearizable"] == "true" for row in csv.DictReader(open(FIXTURES / "verdicts.csv"))}


def test_every_fixture_has_a_verdict():
    assert len(VERDICTS) == 61 and sum(VERDICTS.values()) == 13
    assert sorted(p.name for p in FIXTURES.glob("*.log")) == sorted(VERDICTS)


def test_every_verdict_agrees():
    wrong, elapsed, cpu = [], [], time.process_time()
    for name, linearizable in sorted(VERDICTS.items()):
        history = read_history(FIXTURES / name)
        started = time.monotonic()
        report = check(history, "cas-register", budget_s=60)
        elapsed.append(time.monotonic() - started)
        if report.valid is not linearizable:
            wrong.append(f"{name}: expected {linearizable}, got {report.valid}")
        if report.valid is False:  # a violation always comes with its counterexample
            assert report.linearizability.counterexample is not None, name
    assert not wrong, "\n".join(wrong)
    cpu = time.process_time() - cpu
    print(f"\n{len(elapsed)} etcd histories: {sum(elapsed) / len(elapsed) * 1000:.1f} ms per file on average "
          f"({cpu / len(elapsed) * 1000:.1f} ms CPU), {max(elapsed) * 1000:.0f} ms at most")


@pytest.mark.parametrize("name", ["etcd_000.log", "etcd_002.log"])
def test_cli_exit_codes_on_fixtures(name):
    result = CliRunner().invoke(main, ["check", str(FIXTURES / name), "--model", "cas-register"])
    assert result.exit_code == (0 if VERDICTS[name] else 1), result.output
    assert ("not linearizable" in result.output) != VERDICTS[name]
