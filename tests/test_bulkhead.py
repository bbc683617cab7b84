"""The bulkhead: at most N calls in flight to a target, a bounded wait, refusals `rejected`:
exact traces with a pause, a crash and a partition, and the Erlang-B loss probability."""
from __future__ import annotations

import math
import textwrap

import pytest

import simulator
from simulator.language.errors import ScenarioError
from simulator.simulation.runner import schedule_faults
from tests.unit.eventlog import Probe

BASE = """
name: t
duration: 30s
components:
  app: {{type: server, workers: 10, service_time: 1s}}
workloads:
  web: {{target: app, arrivals: constant(rate=1/s), resilience: {{bulkhead: {{{bulkhead}}}{more}}}}}
faults:
  - {fault}
"""


def _probe(bulkhead: str, fault: str = "{type: crash, target: app, at: 100s}", more: str = "") -> Probe:
    p = Probe(BASE.format(bulkhead=bulkhead, fault=fault, more=more))
    p.watch_service("app")
    return p


def test_full_bulkhead_queues_then_rejects():
    p = _probe("max_concurrent: 1, queue: 1")
    p.send(0.0, "r1")  # a slot
    p.send(0.1, "r2")  # waits for r1's slot
    p.send(0.2, "r3")  # no slot, the queue full: rejected at once
    assert p.run(5) == [(0.2, "r3 rejected"), (1.0, "app served r1"), (1.0, "r1 ok"),
                        (2.0, "app served r2"), (2.0, "r2 ok")]
    bh = p.system.guarded[0].policies["bulkhead"]
    assert (bh.calls, bh.waited, bh.rejected, bh.max_in_use) == (2, 1, 1, 1)


def test_max_wait_rejects_a_call_that_waited_too_long():
    p = _probe("max_concurrent: 1, queue: 5, max_wait: 500ms")
    p.send(0.0, "r1")
    p.send(0.1, "r2")  # waits 0.5 s, then rejected
    p.send(0.8, "r3")  # waits from 0.8, gets r1's slot at 1.0
    assert p.run(5) == [(0.6, "r2 rejected"), (1.0, "app served r1"), (1.0, "r1 ok"),
                        (2.0, "app served r3"), (2.0, "r3 ok")]


def test_a_paused_target_holds_the_slots_and_the_rest_is_rejected_fast():
    p = _probe("max_concurrent: 2", fault="{type: pause, target: app, at: 1s, duration: 4s}")
    for t in (2.0, 2.5, 3.0, 3.5):
        p.send(t, f"r{t}")
    assert p.run(10) == [(3.0, "r3.0 rejected"), (3.5, "r3.5 rejected"),
                         (6.0, "app served r2.0"), (6.0, "r2.0 ok"), (6.0, "app served r2.5"), (6.0, "r2.5 ok")]


def test_a_crashed_target_frees_its_slots_at_once():
    p = _probe("max_concurrent: 1", fault="{type: crash, target: app, at: 1s, duration: 4s}")
    for t in (2.0, 2.5, 3.0):
        p.send(t, f"r{t}")
    assert p.run(10) == [(2.0, "r2.0 error"), (2.5, "r2.5 error"), (3.0, "r3.0 error")]
    assert p.system.guarded[0].policies["bulkhead"].rejected == 0


def test_a_partition_holds_a_slot_until_the_network_gives_up():
    p = _probe("max_concurrent: 1, queue: 1", fault="{type: partition, groups: [[web], [app]], at: 1s, duration: 4s}")
    p.send(2.0, "r1")  # lost: timed out at 3.0 (network.timeout 1 s)
    p.send(2.5, "r2")  # waits for r1's slot, sent at 3.0, lost too: timed out at 4.0
    p.send(2.6, "r3")  # rejected
    assert p.run(10) == [(2.6, "r3 rejected"), (3.0, "r1 timed_out"), (4.0, "r2 timed_out")]


def test_attempt_timeout_inside_frees_the_slot_and_retry_outside_tries_again():
    p = _probe("max_concurrent: 1", fault="{type: pause, target: app, at: 1s, duration: 2s}",
               more=", timeout: 500ms, retry: {max_attempts: 2, backoff: constant, base: 100ms, retry_on: [timed_out, rejected]}")
    p.send(1.5, "r1")  # held, times out at 2.0 (slot freed); retried at 2.1, held, times out at 2.6
    p.send(1.6, "r2")  # rejected at 1.6, retried at 1.7: rejected again (r1 holds the slot)
    assert p.run(10) == [(1.7, "r2 rejected"), (2.6, "r1 timed_out"), (4.0, "app served r1"), (4.0, "app served r1")]


def test_a_waiting_call_whose_caller_gave_up_is_not_sent():
    p = Probe("""
        name: t
        duration: 30s
        components:
          front:
            type: server
            workers: 10
            service_time: 0s
            calls: [{target: app, timeout: 300ms, resilience: {bulkhead: {max_concurrent: 1, queue: 1}}}]
          app: {type: server, workers: 10, service_time: 1s}
        workloads:
          web: {target: front, arrivals: constant(rate=1/s)}
    """)
    p.watch_service("app")
    p.send(0.0, "r1")  # a slot; the step gives up at 0.3, the slot is held until app answers at 1.0
    p.send(0.1, "r2")  # waits; the step gives up at 0.4; at 1.0 it is skipped, never sent
    assert p.run(5) == [(0.3, "r1 timed_out"), (0.4, "r2 timed_out"), (1.0, "app served r1")]
    bh = p.system.guarded[0].policies["bulkhead"]
    assert (bh.calls, bh.abandoned, bh.in_use) == (1, 1, 0)


def test_bulkhead_loss_probability_is_erlang_b():
    """Poisson calls, at most c in flight to a target that never queues, no wait: an M/G/c/c loss
    system, refused with the Erlang-B probability B(c, lambda S), whatever the service time's law."""
    lam, s, c, dur = 100.0, 0.04, 5, 200.0
    env, system = simulator.build(simulator.loads_scenario(textwrap.dedent(f"""
        name: erlang
        duration: {dur:g}s
        components:
          app: {{type: server, workers: 1000, service_time: exponential(mean={s * 1000:g}ms)}}
        workloads:
          web: {{target: app, arrivals: poisson(rate={lam:g}/s), resilience: {{bulkhead: {{max_concurrent: {c}}}}}}}
    """)), seed=3)
    schedule_faults(env, system)
    for wl in system.workloads:
        wl.start()
    bh = system.guarded[0].policies["bulkhead"]
    shares, last = [], (0, 0)
    for k in range(1, 11):  # ten batches: their spread gives the tolerance (rejections are correlated)
        env.run(until=dur * k / 10)
        offered, rejected = bh.calls + bh.rejected, bh.rejected
        shares.append((rejected - last[1]) / (offered - last[0]))
        last = (offered, rejected)
    a = lam * s
    erlang_b = (a ** c / math.factorial(c)) / sum(a ** k / math.factorial(k) for k in range(c + 1))
    mean = sum(shares) / len(shares)
    sd = math.sqrt(sum((x - mean) ** 2 for x in shares) / (len(shares) - 1))
    assert mean == pytest.approx(erlang_b, abs=4 * sd / math.sqrt(len(shares)))
    assert bh.max_in_use == c


@pytest.mark.parametrize("bulkhead, expected", [
    ("max_concurrent: 0", "greater than 0"),
    ("queue: 3", "max_concurrent"),
    ("max_concurrent: 2, max_wait: 1s", "'max_wait' needs a 'queue'"),
    ("max_concurrent: 2, queue: -1", "greater than or equal to 0"),
])
def test_bad_bulkhead_is_one_located_line(bulkhead, expected):
    with pytest.raises(ScenarioError) as e:
        simulator.loads_scenario(textwrap.dedent(BASE.format(bulkhead=bulkhead, fault="{type: crash, target: app, at: 2s}", more="")))
    msg = str(e.value)
    assert "\n" not in msg and "workloads.web.resilience.bulkhead" in msg and expected in msg


def test_summary_and_terminal_show_the_bulkhead():
    res = simulator.run(simulator.loads_scenario(textwrap.dedent(BASE.format(
        bulkhead="max_concurrent: 1", fault="{type: pause, target: app, at: 10s, duration: 5s}", more=""))))
    bh = res.summary["resilience"]["web->app"]["bulkhead"]
    assert bh["rejected"] == res.summary["requests"]["rejected"] > 0
    from reports.resilience_table import resilience_tables
    table = resilience_tables(res.summary)[-1]
    assert [c.header for c in table.columns][-1] == "bulkhead rej."
