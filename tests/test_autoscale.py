"""Autoscaling (a server's `autoscale:`) and the cost model (`cost:`): exact, hand-computed traces.

Every scenario here is deterministic (constant arrivals, constant service times, no network latency),
so the measured utilisation, the scaling steps, the billed replica-hours and the outcomes are known
in advance; the comments derive them.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.engine.request import ERROR, OK, TIMED_OUT
from tests.helpers import run

# One replica serves a 100ms request at a time. `base` sends 4/s all run long (utilisation 0.4 on
# one replica); `extra` adds 4/s from 100s to 140s (0.8 on one replica). Both arrive at 100, 100.25,
# ... at the same instants (a constant process's first arrival is one gap after its start: base at
# 0.25s, extra at 100.25s; its stop is exclusive), so in a window of whole quarter-seconds the busy
# time is 0.2s per quarter: utilisation 0.8 on one replica (0.79 in 100-110s, whose first quarter
# has base alone), 0.4 on each of two (round robin gives each one request of a pair).
STEP = """
name: step
seed: 0
duration: 300s
warmup: {warmup}
metrics: {{bucket: 5s}}
components:
  app:
    type: server
    workers: 1
    service_time: 100ms
    autoscale:
      metric: utilization
      target: 50%
      min_replicas: 1
      max_replicas: 4
      interval: 10s
      provision_delay: 5s
      cooldown: {{up: 30s, down: 60s}}
workloads:
  base: {{arrivals: constant(rate=4/s), target: app}}
  extra: {{arrivals: constant(rate=4/s), target: app, start: 100s, stop: 140s}}
{extra}
"""


def _step(warmup: str = "0s", extra: str = ""):
    return run(STEP, warmup=warmup, extra=extra)


def test_step_in_load_scales_up_after_interval_and_delay_and_down_after_cooldown():
    res = _step()
    # Up to 100s: utilisation 0.4 < 0.5, ratio 0.8 is outside 1 ± 10%, but ceil(1 × 0.8) = 1: no change.
    # Evaluation at 110s (window 100-110s): 0.79, desired ceil(1 × 0.79 / 0.5) = 2: 1 -> 2 at 110s;
    # app[2] serves from 115s (interval + provision_delay after the step).
    # At 120s: app[1] 0.8 for 5s and 0.4 for 5s, app[2] 0.4 for its 5s: (4 + 2 + 2) / 15 = 0.533,
    # within 10% of the target: no change. At 130s and 140s: 0.4 each: ceil(2 × 0.8) = 2: no change.
    # From 140s only `base`: 0.2 each; desired ceil(2 × 0.4) = 1 from the 150s evaluation on, but the
    # down cool-down (60s after the step at 110s) holds it until 170s: 2 -> 1 at 170s.
    events = [(e["at_s"], e["description"].split(" (")[0]) for e in res.events]
    assert events == [(110.0, "app: 1 -> 2 replicas"), (170.0, "app: 2 -> 1 replicas")]
    assert all(e["kind"] == "scale" for e in res.events)
    ts = res.timeseries
    replicas = dict(zip(ts["end_s"], ts["app.replicas"]))
    assert replicas[115.0] == 1.0 and replicas[120.0] == 2.0  # serving from 115s, not from the decision
    assert replicas[170.0] == 2.0 and replicas[175.0] == 1.0
    st = res.summary["components"]["app"]
    assert (st["scale_ups"], st["scale_downs"], st["replicas_min"], st["replicas_max"], st["replicas_final"]) == \
        (1, 1, 1, 2, 1)
    # Billed: app[1] all 300s, app[2] from the decision (110s) to its drain at 170s (it held nothing:
    # its last request, at 169.75s at the latest, was done by 169.85s).
    assert st["replica_hours"] == pytest.approx((300 + 60) / 3600, rel=1e-12)
    # Serving (in rotation) replicas over time: 1 × 300s + 1 × (170 - 115)s.
    assert st["replicas_mean"] == pytest.approx((300 + 55) / 300, rel=1e-12)
    req = res.summary["requests"]
    assert req["ok"] == req["generated"] and req["generated"] == 1199 + 159


def test_scale_up_and_down_are_held_by_their_cooldowns():
    # The step, plus `more` (4/s) from 120s to 200s: 12/s in 120-140s, 8/s in 140-200s, 4/s after.
    # 130s (window 120-130s): 1.2 erlangs on two replicas, 0.6 each: desired ceil(2 × 1.2) = 3, but the
    # up cool-down (30s after the step at 110s) holds it; at 140s (the same 0.6) 2 -> 3.
    # 150s: 0.8 erlangs on three, 0.267: desired ceil(3 × 0.533) = 2, held by the down cool-down (60s)
    # until 200s: 3 -> 2. 210s: 0.4 erlangs on two, 0.2: desired 1, held until 260s: 2 -> 1.
    more = "  more: {arrivals: constant(rate=4/s), target: app, start: 120s, stop: 200s}"
    res = _step(extra=more)
    steps = [(e["at_s"], e["description"].split(" (")[0]) for e in res.events]
    assert steps == [(110.0, "app: 1 -> 2 replicas"), (140.0, "app: 2 -> 3 replicas"),
                     (200.0, "app: 3 -> 2 replicas"), (260.0, "app: 2 -> 1 replicas")]
    # Without the up cool-down the second step comes at 130s, as derived above.
    eager = run(STEP.replace("{{up: 30s, down: 60s}}", "{{up: 0s, down: 60s}}"), warmup="0s", extra=more)
    assert [e["at_s"] for e in eager.events][:2] == [110.0, 130.0]


def test_cost_arithmetic_is_exact():
    cost = """
cost:
  replica_hour: {server: 0.5}
  per_gb_egress: 0.09
  response_size: 20KB
  per_million_requests: 0.4
  currency: EUR
"""
    res = _step(warmup="50s", extra=cost)
    c = res.summary["cost"]
    req = res.summary["requests"]
    hours = (250 + 60) / 3600  # measured from 50s: app[1] 250s, app[2] 110s..170s
    assert c["replica_hours"] == {"app": pytest.approx(hours, rel=1e-12)}
    assert c["by_component"]["app"] == pytest.approx(hours * 0.5, rel=1e-12)
    finished = req["generated"] - req["in_flight"]
    assert req["generated"] == 1000 + 159  # base 50s..299.75s, extra 100.25s..139.75s
    assert c["egress_gb"] == pytest.approx(finished * 20e3 / 1e9, rel=1e-12)
    assert c["egress"] == pytest.approx(finished * 20e3 / 1e9 * 0.09, rel=1e-12)
    assert c["requests"] == pytest.approx(req["generated"] / 1e6 * 0.4, rel=1e-12)
    assert c["total"] == pytest.approx(c["replicas"] + c["egress"] + c["requests"], rel=1e-12)
    assert c["currency"] == "EUR"


def test_cost_of_fixed_components_is_count_times_hours():
    res = run("""
name: fixed
duration: 7200s
components:
  lb: {type: load_balancer, backends: [app]}
  app: {type: server, replicas: 3, workers: 1, service_time: 10ms}
  db: {type: database, read_time: 1ms, write_time: 1ms}
workloads:
  web: {arrivals: constant(rate=1/s), target: lb}
cost:
  replica_hour: {server: 0.25, db: 2.0}
""")
    c = res.summary["cost"]
    # Priced by type (app: 3 replicas × 2h × 0.25) and by name (db: 1 × 2h × 2.0); the lb has no price.
    assert c["by_component"] == {"app": pytest.approx(1.5, rel=1e-12), "db": pytest.approx(4.0, rel=1e-12)}
    assert c["replica_hours"] == {"app": pytest.approx(6.0, rel=1e-12), "db": pytest.approx(2.0, rel=1e-12)}
    assert c["total"] == pytest.approx(5.5, rel=1e-12) and c["egress"] == 0.0 and c["requests"] == 0.0


def test_without_cost_or_autoscale_nothing_new_appears():
    res = run("""
name: plain
duration: 20s
components:
  app: {type: server, replicas: 2, workers: 1, service_time: 10ms}
workloads:
  web: {arrivals: constant(rate=10/s), target: app}
""")
    assert "cost" not in res.summary
    assert "replicas_mean" not in res.summary["components"]["app"]
    assert not any(k.endswith(".replicas") for k in res.timeseries.columns)


# Scale-in drains: three replicas with 1s requests get 6/s for 10s (queues build on each), then
# nothing. A queue_length target of 50 is far above what they hold, so the step rule removes one
# replica at each evaluation (5s, 10s) while they still hold queued work; that work is finished.
DRAIN = """
name: drain
duration: 100s
metrics: {{bucket: 5s}}
components:
  app:
    type: server
    workers: 1
    service_time: 1s
    calls: {calls}
    autoscale: {{metric: queue_length, target: 50, rule: step, min_replicas: 1, max_replicas: 3, initial_replicas: 3, interval: 5s,
                provision_delay: 0s, cooldown: 0s}}
{db}
workloads:
  web: {{arrivals: constant(rate=6/s), target: app, stop: 10s}}
{faults}
"""


def test_scale_in_drains_and_loses_nothing():
    res = run(DRAIN, calls="[]", db="", faults="")
    events = [(e["at_s"], e["description"].split(" (")[0]) for e in res.events]
    assert events == [(5.0, "app: 3 -> 2 replicas"), (10.0, "app: 2 -> 1 replicas")]
    req = res.summary["requests"]
    assert req["generated"] == 60 and req["ok"] == 60  # nothing refused or lost by the drains
    comps = res.summary["components"]
    # Round robin over three until 5s (arrivals every 1/6 s from 1/6 s: app[3] gets 0.5s, 1.0s, ...,
    # 4.5s: 9 requests), then over two until 10s, then app[1] alone: 26, 25, 9.
    assert [comps[f"app[{i}]"]["served"] for i in (1, 2, 3)] == [26, 25, 9]
    ts = res.timeseries
    busy = dict(zip(ts["end_s"], ts["app[3].utilization"]))
    # app[3] left the rotation at 5s holding 4 requests (its 9 run back to back from 0.5s to 9.5s):
    # still working while it drains, then idle.
    assert busy[10.0] == pytest.approx(0.9, rel=1e-12) and busy[15.0] == 0.0
    # Billed until each drain ends: app[1] the whole 100s, app[2] until its 25th request ends (back to
    # back from 1/3 s: 25⅓ s), app[3] until 9.5s.
    assert comps["app"]["replica_hours"] * 3600 == pytest.approx(100 + 25 + 1 / 3 + 9.5, rel=1e-12)


def test_crash_of_the_server_reaches_a_replica_provisioned_during_it():
    # The step scenario with `app` crashed from 112s to 125s (during app[2]'s provisioning, 110-115s)
    # and, overlapping, app[2] alone from 120s to 135s. Expected: every request arriving in
    # [112s, 125s) fails (both replicas are down: app[2] came into service crashed, since the crash of
    # `app` names every slot); in [125s, 135s) only those sent to app[2] fail (round robin: one of
    # each pair); from 135s on nothing fails: each fault lasted exactly its window.
    faults = """faults:
  - {type: crash, target: app, at: 112s, duration: 13s}
  - {type: crash, target: "app[2]", at: 120s, duration: 15s}
"""
    res = _step(extra=faults)
    c = res.columns
    start, outcome = c["start"], c["outcome"]
    both_down = (start >= 112) & (start < 125)
    assert both_down.sum() == 13 * 8 and np.all(outcome[both_down] == ERROR)  # base and extra: 8/s for 13s
    assert np.all(outcome[(start < 112) | (start >= 135)] == OK)
    one_down = (start >= 125) & (start < 135)
    assert (outcome[one_down] == ERROR).sum() == one_down.sum() - (outcome[one_down] == OK).sum()
    assert 0 < (outcome[one_down] == ERROR).sum() < one_down.sum()  # only app[2]'s share
    # The scale-up decision (110s) came before the crash; no evaluation saw a ready replica in 112-125s
    # (the metric leaves out replicas that are down), so nothing else was decided then.
    assert [e["at_s"] for e in res.events][0] == 110.0
    assert not [e for e in res.events if 112.0 <= e["at_s"] < 125.0]


def test_partition_during_scale_in_lets_the_drain_finish():
    # The drain scenario with a database behind app and a partition between app[3] and db from 4s to
    # 30s: app[3] leaves the rotation at 5s holding queued requests; each of their database calls is
    # cut and fails after the network timeout (1s), so its calls answer timed_out, the drain still
    # ends (nothing is left in flight) and billing stops.
    res = run(DRAIN, calls="[db]",
              db="  db: {type: database, connections: 10, read_time: 1ms, write_time: 1ms}",
              faults="faults:\n  - {type: partition, groups: [[\"app[3]\"], [db]], at: 4s, duration: 26s}")
    req = res.summary["requests"]
    assert req["in_flight"] == 0
    assert req["generated"] == req["ok"] + req["timed_out"] + req["errors"] + req["rejected"]
    assert req["timed_out"] > 0
    # app[3] serves 0.5s, 1.0s, ..., 4.5s back to back from 0.5s; its first three finish (with their
    # database call) before the partition at 4s; each later one holds its worker for the service (1s)
    # plus the cut call's network timeout (1s): they end timed_out at about 5.5, 7.5, ..., 15.5s.
    assert req["timed_out"] == 6 and res.summary["components"]["app[3]"]["served"] == 9
    c = res.columns
    cut = c["outcome"] == TIMED_OUT
    assert np.allclose(c["start"][cut], [2.0, 2.5, 3.0, 3.5, 4.0, 4.5])
    assert np.allclose(c["end"][cut] - 0.003, [5.5, 7.5, 9.5, 11.5, 13.5, 15.5], atol=1e-3)
    assert np.all(c["outcome"][~cut] == OK)
    assert res.summary["components"]["app"]["replicas_final"] == 1
    # The drain of app[3] ended with its last timed-out call (~15.5s), then billing stopped.
    hours = res.summary["components"]["app"]["replica_hours"] * 3600
    assert 100 + 25 + 15.5 < hours < 100 + 25 + 16.5


def test_latency_metric_and_proportional_formula():
    # latency_p99 target 150ms; one worker, 100ms service, 12/s on one replica is overloaded: p99
    # grows far above target; the proportional rule asks ceil(1 × p99/target) replicas, capped at max.
    res = run("""
name: lat
duration: 60s
components:
  app:
    type: server
    workers: 1
    service_time: 100ms
    autoscale: {metric: latency_p99, target: 150ms, max_replicas: 3, interval: 10s, provision_delay: 2s, cooldown: 0s}
workloads:
  web: {arrivals: constant(rate=12/s), target: app}
""")
    first = res.events[0]
    assert first["at_s"] == 10.0 and first["description"].startswith("app: 1 -> 3 replicas (latency_p99")
    assert res.summary["requests"]["ok"] == res.summary["requests"]["generated"] - res.summary["requests"]["in_flight"]


def test_proportional_rule_unit():
    from models.autoscale import AutoscaleConfig, Proportional, Step

    cfg = AutoscaleConfig(target="60%", max_replicas=10)
    rule = Proportional(cfg)
    assert rule.desired(2, 2, 0.9) == 3  # 2 × 0.9 / 0.6 = 3.0000000000000004 in floating point: still 3
    assert rule.desired(2, 2, 0.63) == 2  # within 10% of the target: no change
    assert rule.desired(4, 3, 0.2) == 1
    step = Step(cfg.model_copy(update={"rule": "step", "step": 2}))
    assert (step.desired(3, 3, 0.9), step.desired(3, 3, 0.61), step.desired(3, 3, 0.3)) == (5, 3, 1)


def test_compare_on_cost(tmp_path):
    from click.testing import CliRunner
    from cli import main

    path = tmp_path / "s.yaml"
    path.write_text(STEP.format(warmup="0s", extra="cost: {replica_hour: {server: 1.0}}").replace("duration: 300s", "duration: 200s"))
    result = CliRunner().invoke(main, ["compare", str(path), "--vary", "components.app.autoscale.min_replicas=1,2",
                                       "--replications", "1", "--metric", "cost.total", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "cost.total" in result.output


def test_load_balancer_rotation_api_with_a_health_check():
    # add_backend/remove_backend compose with the health check: a backend out of rotation is not brought
    # back by its recovery; one put back while down waits for the check to see it up.
    from simulator.simulation.runner import build, schedule_faults
    from tests.helpers import scenario

    sc = scenario("""
name: rot
duration: 100s
components:
  lb: {type: load_balancer, backends: [a, b, c], health_check: 1s}
  a: {type: server, service_time: 1ms}
  b: {type: server, service_time: 1ms}
  c: {type: server, service_time: 1ms}
workloads:
  web: {arrivals: constant(rate=1/s), target: lb}
faults:
  - {type: crash, target: b, at: 10s, duration: 10s}
  - {type: crash, target: c, at: 30s, duration: 10s}
""")
    env, system = build(sc)
    schedule_faults(env, system)
    lb = system.components["lb"]
    seen = {}
    for at, action in ((5, lambda: lb.remove_backend(1)), (15, lambda: lb.add_backend(1)),
                       (35, lambda: lb.remove_backend(2)), (45, lambda: lb.add_backend(2))):
        env.call_later(at, lambda _t, f=action: f())
    for at in (6, 12, 16, 22, 32, 36, 42, 46):
        env.call_later(at, lambda _t, a=at: seen.__setitem__(a, list(lb.healthy)))
    env.run(until=50)
    assert seen == {6: [0, 2], 12: [0, 2], 16: [0, 2],  # b put back while down: not used yet
                    22: [0, 1, 2],                      # b up at 20s, seen by the check at 21s
                    32: [0, 1],                         # c ejected at 31s
                    36: [0, 1], 42: [0, 1],             # c out of rotation: its recovery (40s, 41s) does not bring it back
                    46: [0, 1, 2]}                      # put back, up: at once


def test_replicas_chart_is_written(tmp_path):
    from reports.charts import run_charts

    paths = run_charts(_step(), tmp_path)
    assert tmp_path / "replicas_app.png" in paths and (tmp_path / "replicas_app.png").stat().st_size > 0


def test_retries_move_to_another_replica_while_a_new_one_is_down():
    # Neighbours: the clients retry errors. app[2] comes into service (115s) crashed (a crash of
    # app[2] from 112s to 135s); each call the balancer sends it is refused at once and the retry, sent
    # 10ms later (the default backoff), gets the next replica in the round robin; the other request
    # of the pair may have taken app[1] meanwhile, so a retry can hit app[2] once more (with 2 attempts
    # `extra`'s retries all do: a pair's second request and the first's retry alternate); the third
    # attempt, 20ms later with nobody else choosing, gets app[1]. So nothing fails and the retries are
    # exactly the calls app[2] refused.
    retry = ", resilience: {{retry: {{max_attempts: 3, retry_on: [error]}}}}}}"
    text = (STEP.replace("target: app}}\n  extra", "target: app" + retry + "\n  extra")
            .replace("stop: 140s}}", "stop: 140s" + retry))
    res = run(text, warmup="0s", extra='faults:\n  - {type: crash, target: "app[2]", at: 112s, duration: 23s}')
    req = res.summary["requests"]
    assert req["ok"] == req["generated"] == 1199 + 159
    pol = res.summary["resilience"]
    retries = pol["base->app"]["retry"]["retries"] + pol["extra->app"]["retry"]["retries"]
    refused = res.summary["components"]["app[2]"]["failed"]
    assert retries == refused > 0
    assert [e["at_s"] for e in res.events][0] == 110.0


def test_effective_config_reloads_with_every_metric():
    # The configuration written next to the results (and each variant of a study) validates again.
    import simulator
    from simulator.scenario.schema import validate

    for metric, target in (("utilization", "70%"), ("queue_length", "3"), ("latency_p99", "250ms")):
        sc = simulator.with_overrides(simulator.load_scenario("scenarios/autoscaling.yaml"),
                                      [f"components.app.autoscale.metric={metric}",
                                       f"components.app.autoscale.target={target}"])
        again = validate(sc.effective(), file="effective")
        assert again.components["app"].autoscale == sc.components["app"].autoscale
        assert again.cost == sc.cost


def test_no_step_while_no_replica_is_ready():
    # Both replicas crashed from 5s to 35s: the calls answered meanwhile are instant refusals (a p99
    # of 0, far below the 150ms target), which would ask for min_replicas; with no ready replica the
    # autoscaler takes no step. After the crash, 4/s of 100ms work on two replicas: p99 100ms is
    # below target × (1 − 10%): ceil(2 × 100/150) = 2, no change.
    res = run("""
name: dark
duration: 60s
components:
  app:
    type: server
    workers: 1
    service_time: 100ms
    autoscale: {metric: latency_p99, target: 150ms, max_replicas: 3, initial_replicas: 2, interval: 10s,
                cooldown: 0s}
workloads:
  web: {arrivals: constant(rate=4/s), target: app}
faults:
  - {type: crash, target: app, at: 5s, duration: 30s}
""")
    assert res.summary["requests"]["errors"] == 30 * 4
    assert res.events == []
