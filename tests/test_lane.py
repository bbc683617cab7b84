"""The lane (simulator.engine.env): hops over links of the network's most common constant latency
wait in a FIFO instead of the heap. It must change nothing but speed: every event keeps its place
in SimPy's `(time, priority, id)` order, with and without faults on the links."""
import json

import pytest

import simulator
from simulator.engine.env import SimEnv, Timer
from simulator.simulation.runner import build


def _log(env, log, name):
    return Timer(lambda t: log.append((env.now, name)))


def test_lane_events_take_their_id_order_among_heap_and_simpy_events_of_the_same_time():
    env = SimEnv(seed=1)
    env.lane_delay = 1.0
    log = []
    env.at(1.0, _log(env, log, "heap-1"))
    env.to_lane(_log(env, log, "lane-1"))
    env.timeout(1.0).callbacks.append(lambda e: log.append((env.now, "simpy")))
    env.to_lane(_log(env, log, "lane-2"))
    env.at(1.0, _log(env, log, "heap-2"))
    env.at(0.5, _log(env, log, "heap-early"))
    env.at(1.5, _log(env, log, "heap-late"))
    env.run()
    assert log == [(0.5, "heap-early"), (1.0, "heap-1"), (1.0, "lane-1"), (1.0, "simpy"), (1.0, "lane-2"),
                   (1.0, "heap-2"), (1.5, "heap-late")]
    assert env.events == 7


def test_an_event_made_in_the_lane_by_a_lane_event_follows_the_heap_events_made_before_it():
    env = SimEnv(seed=1)
    env.lane_delay = 0.25
    log = []

    def chain(timer):
        log.append((env.now, timer._value))
        if timer._value < 3:
            env.to_lane(Timer(chain, timer._value + 1))

    env.to_lane(Timer(chain, 0))  # made first: first at 0.25
    for t in (0.25, 0.5, 0.6, 0.75, 1.0):  # made at 0, before the later lane events: first at equal times
        env.at(t, _log(env, log, f"heap@{t}"))
    env.run()
    assert log == [(0.25, 0), (0.25, "heap@0.25"), (0.5, "heap@0.5"), (0.5, 1), (0.6, "heap@0.6"),
                   (0.75, "heap@0.75"), (0.75, 2), (1.0, "heap@1.0"), (1.0, 3)]


def _lane_at_1_heap_at_2():
    env = SimEnv(seed=1)
    env.lane_delay = 1.0
    log = []
    env.to_lane(_log(env, log, "lane"))
    env.at(2.0, _log(env, log, "heap"))
    return env, log


def test_peek_and_step_see_the_lane():
    env, log = _lane_at_1_heap_at_2()
    env.at(0.5, _log(env, log, "early"))
    assert env.peek() == 0.5
    env.step()
    assert log == [(0.5, "early")] and env.peek() == 1.0
    env.step()
    assert log == [(0.5, "early"), (1.0, "lane")] and env.peek() == 2.0 and env.events == 2


def test_run_until_stops_before_lane_events_at_that_time_and_resumes():
    env, log = _lane_at_1_heap_at_2()
    env.run(until=1.0)  # `until` (URGENT) comes before the NORMAL lane event at 1.0, as in SimPy
    assert log == [] and env.now == 1.0
    env.run()
    assert log == [(1.0, "lane"), (2.0, "heap")]


HOPS = """
name: lane
seed: 7
duration: 20s
network:
  default_latency: 0.5ms
  links:
    - between: [users, edge]
      latency: lognormal(median=5ms, p99=20ms)
components:
  lb: {type: load_balancer, zone: edge, backends: [app], algorithm: least_connections}
  app: {type: server, zone: core, replicas: 3, workers: 4, service_time: exponential(mean=4ms), calls: [cache]}
  cache: {type: cache, zone: core, capacity: 500, backing: db, mode: read_through}
  db: {type: database, zone: data, connections: 4, read_time: exponential(mean=3ms), write_time: 6ms}
workloads:
  web:
    arrivals: poisson(rate=500/s)
    target: lb
    zone: users
    keys: zipf(n=5000, s=1.0)
    mix: {read: 0.9, write: 0.1}
    timeout: 1s
"""

# Overlapping partitions and latency on the data tier, a crash inside them, loss at the edge: the
# links they reach leave the lane, the others stay in it.
FAULTS = """
faults:
  - {type: partition, groups: [[core], [data]], at: 4s, duration: 3s}
  - {type: partition, groups: [[core], [data]], at: 5s, duration: 4s}
  - {type: latency, groups: [[cache], [db]], add: 20ms, at: 6s, duration: 6s}
  - {type: crash, target: "app[1]", at: 8s, duration: 2s}
  - {type: packet_loss, groups: [[lb], [core]], probability: 5%, at: 11s, duration: 3s}
"""


@pytest.mark.parametrize("faults", ["", FAULTS], ids=["no-faults", "overlapping-faults"])
def test_a_run_with_the_lane_is_the_run_without_it(monkeypatch, faults):
    scenario = simulator.loads_scenario(HOPS + faults)
    with_lane = simulator.run(scenario).summary
    monkeypatch.setattr(SimEnv, "use_lane", False)
    without = simulator.run(scenario).summary
    assert json.dumps(with_lane, sort_keys=True, default=str) == json.dumps(without, sort_keys=True, default=str)
    monkeypatch.setattr(SimEnv, "use_lane", True)
    env, system = build(scenario)  # links the faults cannot reach took the lane both ways
    assert env.lane_delay == 0.0005 and any(link.hop.__name__ == "_LaneHop" for link in system.network.links)
    assert with_lane["events"] > 10 * with_lane["requests"]["generated"] // 2


def test_the_lane_takes_the_most_common_constant_latency_and_holds_hops_in_flight():
    env, system = build(simulator.loads_scenario(HOPS))
    assert env.lane_delay == 0.0005
    for wl in system.workloads:
        wl.start()
    most = 0
    while env.now < 1.0:
        env.step()
        most = max(most, len(env._lane))
    assert most > 0


def test_a_profiled_run_takes_the_lane_in_the_same_order():
    scenario = simulator.loads_scenario(HOPS + FAULTS)
    plain, profiled = simulator.run(scenario), simulator.run(scenario, profile=True)
    assert plain.summary == profiled.summary
    kinds = {row["kind"]: row["events"] for row in profiled.profile}
    assert sum(kinds.values()) == plain.summary["events"]
