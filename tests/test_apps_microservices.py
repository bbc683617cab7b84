"""scenarios/microservices.yaml: the gateway routes each operation to its service, the call chain of an
order reaches each service's own database exactly once, and the payment call's breaker keeps a slow
payment provider from cascading to the routes that never use it."""
from __future__ import annotations

import simulator
from tests.helpers import assert_conserved

SHORT = ["duration=60s", "warmup=0s", "faults.0.at=15s", "faults.0.duration=35s"]


def _run(extra=(), seed=2):
    sc = simulator.load_scenario("scenarios/microservices.yaml", overrides=SHORT + list(extra))
    return simulator.run(sc, seed=seed)


def _during(res, op, t0=25.0, t1=50.0):
    """(requests, error share) of operation `op` started inside [t0, t1) (the slowdown's window,
    less its first 10 s while the breaker learns)."""
    r = res.requests
    sel = r[(r["operation"] == op) & (r["start_s"] >= t0) & (r["start_s"] < t1)]
    return len(sel), float((sel["outcome"] != "ok").mean())


def test_each_route_reaches_exactly_the_services_it_needs():
    # no fault and no timeout on payment (its tail passes 500 ms now and then): every request succeeds
    res = _run(["faults=[]", "components.orders.operations.place_order.calls.1.resilience=null"])
    s = res.summary
    assert_conserved(res)
    ops = res.requests.groupby("operation")["outcome"].agg(lambda o: int((o == "ok").sum()))
    assert s["requests"]["ok"] == s["requests"]["generated"] - s["requests"]["in_flight"]  # no fault: all ok
    c = s["components"]
    # users-db: one read per profile, and one per order placed (the order service asks for the customer)
    done = {op: n for op, n in ops.items()}
    in_flight_margin = s["requests"]["in_flight"]
    assert abs(c["users-db"]["reads"] - (done["get_profile"] + done["place_order"])) <= in_flight_margin
    assert abs(c["orders-db"]["reads"] - done["list_orders"]) <= in_flight_margin
    assert abs(c["orders-db"]["writes"] - done["place_order"]) <= in_flight_margin
    assert abs(c["payment-db"]["writes"] - done["place_order"]) <= in_flight_margin
    assert c["users-db"]["writes"] == 0 and c["payment-db"]["reads"] == 0
    # per-service scaling: the replicas of each service share its calls
    assert [c[f"payment[{i}]"]["served"] > 0 for i in range(1, 5)] == [True] * 4
    assert "payment[5]" not in c and "users[3]" not in c


def test_the_breaker_contains_a_slow_dependency_and_without_it_the_slowness_cascades():
    guarded = _run()
    n, err_profile = _during(guarded, "get_profile")
    _n, err_orders = _during(guarded, "place_order")
    assert n > 5000  # 25 s x 400/s x 60%
    # get_profile never touches payment: with the breaker it stays (nearly) error-free; orders fail
    # (timeouts, then short circuits). Tolerances: the binomial sd of a 0.5% share over >5,000
    # requests is ~0.1%, and the orders' share is near 50% (the breaker's threshold)
    assert err_profile < 0.01
    assert err_orders > 0.2
    assert guarded.summary["requests"]["short_circuited"] > 0

    bare = _run(["components.orders.operations.place_order.calls.1.resilience=null"])
    _n, err_profile_bare = _during(bare, "get_profile")
    # every order holds an order-service worker ~8x longer: they all wait, then the gateway's do
    assert err_profile_bare > 0.1  # (0.23 with this seed: twenty times the guarded bound)
    assert bare.summary["requests"].get("short_circuited", 0) == 0


def test_same_seed_same_summary():
    a = _run(["duration=20s"]).summary
    b = _run(["duration=20s"]).summary
    assert a == b
