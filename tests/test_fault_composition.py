"""Property: whatever faults overlap, at every instant each target's state is exactly the combination of
the faults whose windows contain that instant, and when the last window closes it is the identity
again. Random timelines of crashes, pauses, slowdowns, partitions, latencies and losses on one server
and the link to it (hypothesis, derandomized in CI)."""
from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

import simulator
from simulator.simulation.runner import schedule_faults

SYSTEM = """
name: compose
duration: 100s
components:
  app: {{type: server, workers: 2, service_time: 10ms, zone: dc}}
workloads:
  clients: {{arrivals: poisson(rate=5/s), target: app, zone: edge}}
faults: [{faults}]
"""

NODE = st.sampled_from(["crash", "pause", "slow"])
LINK = st.sampled_from(["partition", "latency", "packet_loss"])
WINDOW = st.tuples(st.integers(0, 80), st.integers(1, 40))  # whole seconds: checks sit at .5


@st.composite
def fault(draw):
    at, length = draw(WINDOW)
    window = {"at": at, "end": at + length}
    if draw(st.booleans()):
        kind = draw(NODE)
        value = draw(st.sampled_from([1.5, 2.0, 4.0])) if kind == "slow" else True
        text = f"{{type: {kind}, target: app, at: {at}s, duration: {length}s"
        text += f", factor: {value}}}" if kind == "slow" else "}"
    else:
        kind = draw(LINK)
        # Name the link's ends in different ways: zones, the workload, the component.
        groups = draw(st.sampled_from(["[[edge], [dc]]", "[[clients], [app]]", "[[dc], [clients]]"]))
        value = {"partition": True, "latency": draw(st.sampled_from([0.01, 0.05])),
                 "packet_loss": draw(st.sampled_from([0.1, 0.5]))}[kind]
        extra = {"partition": "", "latency": f", add: {value * 1000:g}ms", "packet_loss": f", probability: {value}"}[kind]
        text = f"{{type: {kind}, groups: {groups}, at: {at}s, duration: {length}s{extra}}}"
    return kind, value, window, text


def expected(faults, t):
    on = [(k, v) for k, v, w, _ in faults if w["at"] < t < w["end"]]
    return {
        "down": any(k == "crash" for k, _ in on),
        "paused": any(k == "pause" for k, _ in on),
        "slowdown": math.prod(v for k, v in on if k == "slow"),
        "cut": any(k == "partition" for k, _ in on),
        "extra_s": math.fsum(v for k, v in on if k == "latency"),
        "loss": 1.0 - math.prod(1.0 - v for k, v in on if k == "packet_loss"),
    }


@settings(max_examples=30, deadline=None)
@given(st.lists(fault(), min_size=1, max_size=6))
def test_state_is_the_combination_of_the_active_faults(faults):
    sc = simulator.loads_scenario(SYSTEM.format(faults=", ".join(f[3] for f in faults)))
    env, system = simulator.build(sc)
    schedule_faults(env, system)
    for wl in system.workloads:
        wl.start()
    app = system.get("app")
    link = system.workloads[0].link
    for t in [x + 0.5 for x in range(0, 100, 3)]:  # up to 99.5
        env.run(until=t)
        want = expected(faults, t)
        got = {"down": app.down, "paused": app.paused, "slowdown": app.slowdown, "cut": link.cut,
               "extra_s": link.extra_s, "loss": link.loss}
        for key in want:
            assert math.isclose(got[key], want[key], rel_tol=1e-12, abs_tol=1e-12), (t, key, got, want)
        assert link.cut_back == link.cut and link.extra_back_s == link.extra_s and link.loss_back == link.loss
        assert app.unavailable == (app.down or app.paused)
    # After the last window: exactly the identity, not a rounding residue of divisions.
    if max(f[2]["end"] for f in faults) < 99:
        assert (app.down, app.paused, app.slowdown, link.cut, link.extra_s, link.loss) == (False, False, 1.0, False, 0.0, 0.0)
        assert app.held == []
