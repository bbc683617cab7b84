"""A load balancer's `resilience:`: retries and hedges choose a backend again (one the call has not
tried), and a backend whose circuit breaker refuses calls is skipped. Exact traces."""
from __future__ import annotations

import simulator
from simulator.resilience.chain import Guarded
from tests.unit.eventlog import Probe

LB = """
    name: t
    duration: 20s
    components:
      lb: {{type: load_balancer, backends: [a, b], resilience: {res}}}
      a: {{type: server, workers: 1, service_time: {a_time}}}
      b: {{type: server, workers: 1, service_time: 100ms}}
    workloads:
      web: {{target: lb, arrivals: constant(rate=1/s)}}
    faults:
      - {{type: crash, target: a, at: {at}, duration: {crash}}}
"""


def _probe(res: str, last: int, a_time: str = "100ms", crash: str = "8s", at: str = "0.5s"):
    p = Probe(LB.format(res=res, a_time=a_time, crash=crash, at=at))
    p.watch_service("a", "b")
    for t in range(1, last + 1):
        p.send(float(t), f"r{t}")
    return p, p.run(last + 3)


def _ok_on(server: str, *ts):
    return [x for t in ts for x in [(t + 0.1, f"{server} served r{t}"), (t + 0.1, f"r{t} ok")]]


def test_a_retry_goes_to_another_backend():
    """Round robin sends r1, r3, r5, r7 to a (down from 0.5s to 8.5s): refused at once, retried at once
    on b, which the call has not tried. Every call succeeds; from r9 a serves its turn again."""
    p, log = _probe("{retry: {max_attempts: 2, backoff: constant, base: 0s}}", 11)
    assert log == [x for t in range(1, 9) for x in _ok_on("b", t)] + _ok_on("a", 9) + _ok_on("b", 10) + _ok_on("a", 11)
    lb = p.system.get("lb")
    assert lb.stats(1.0)["rerouted"] == 4 and lb.sent == [6, 9]
    assert p.system.get("a").failed == 4  # the four calls it refused while down


def test_a_backend_whose_breaker_is_open_is_skipped():
    """r1 goes to a (down): error, and a's breaker (threshold 1) opens at 1.0 for 5 s. r2-r5 go to b
    (a is skipped: refused by its breaker; round robin over [b] alone leaves its cursor at 0); at 6.0
    a's breaker would let a trial through, but round robin's turn is b's (cursor 1); r7 is a's trial:
    error, open again until 12.0; r8-r11 skip a. a is back at 8.5s; r12 is b's turn, r13 a's trial:
    ok, its breaker closes."""
    p, log = _probe("{circuit_breaker: {failure_threshold: 1, open_for: 5s}}", 13)
    assert log == [(1.0, "r1 error")] + [x for t in range(2, 7) for x in _ok_on("b", t)] + [(7.0, "r7 error")] + [
        x for t in range(8, 13) for x in _ok_on("b", t)] + _ok_on("a", 13)
    lb = p.system.get("lb")
    assert lb.stats(1.0)["skipped_open"] == 8  # r2-r5 and r8-r11
    br = lb.breakers[0]
    assert br.calls == 3 and br.short_circuited == 0  # no call was refused: the balancer went round a
    assert br.stats()["transitions"] == [[1.0, "open"], [7.0, "half_open"], [7.0, "open"], [13.0, "half_open"],
                                          [13.1, "closed"]]
    assert lb.breakers[1].calls == 10


def test_a_hedge_goes_to_another_backend_and_the_loser_is_cancelled():
    """a is slow (1 s), b fast (100ms). r1 goes to a at 1.0; its hedge at 1.05 to the backend not tried,
    b: ok at 1.15; a serves r1 until 2.0 (in service when cancelled: wasted). r2 goes to b (round robin;
    over [b] alone the hedge left the cursor at 0) and its hedge at 2.05 to a, which serves it (wasted)
    although r2 was answered at 2.1. So with one slow backend every call is answered by b."""
    p, log = _probe("{hedge: {after: 50ms}}", 4, a_time="1s", at="100s", crash="1s")
    assert log == [(1.15, "b served r1"), (1.15, "r1 ok"), (2.0, "a served r1")] + [
        x for t in (2, 3, 4) for x in [(t + 0.1, f"b served r{t}"), (t + 0.1, f"r{t} ok"), (t + 1.05, f"a served r{t}")]]
    g = p.system.get("lb").around
    assert isinstance(g, Guarded) and list(g.policies) == ["hedge"]
    h = g.policies["hedge"].stats()
    assert h["hedges"] == 4 and h["won_by_extra"] == 1 and h["wasted_requests"] == 4 and h["cancelled"] == 4


def test_policies_split_around_and_per_backend():
    text = LB.format(res="{timeout: 1s, retry: {}, circuit_breaker: {}, bulkhead: {max_concurrent: 2}}",
                     a_time="1ms", crash="1s", at="1s")
    env, system = simulator.build(simulator.loads_scenario(text))
    lb = system.get("lb")
    assert [g.label for g in system.guarded] == ["lb->a", "lb->b", "lb->*"]
    assert list(lb.links[0].policies) == ["circuit_breaker", "bulkhead", "timeout"]
    assert list(lb.around.policies) == ["retry"]


def test_without_retry_hedge_or_breaker_the_balancer_is_unchanged():
    env, system = simulator.build(simulator.loads_scenario(LB.format(res="{timeout: 1s}", a_time="1ms", crash="1s", at="1s")))
    lb = system.get("lb")
    assert not lb.routed and "handle" not in vars(lb) and [g.label for g in system.guarded] == ["lb->a", "lb->b"]
