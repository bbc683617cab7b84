"""The order saga (models/apps/saga.py, scenarios/saga.yaml): exact step timings, compensation exactly
once whatever the redeliveries, orders stuck while a service is down, determinism, bad input."""
from __future__ import annotations

import pytest

import simulator
from tests.helpers import assert_bad, assert_conserved, scenario

# Constant times, no network latency, orders 1 s apart (no queueing): every figure is a sum of
# service times. The happy path: store the order (orders 10 ms + orders-db insert 5 ms), publish
# (2 ms), reserve (inventory 10 ms + inventory-db 6 ms), publish (2 ms), charge (payment 100 ms +
# payment-db 5 ms), publish (2 ms), then in parallel close (orders 10 + orders-db update 5 = 15 ms),
# notify (notification 12 ms) and, when the payment failed, release (inventory 10 + 6 = 16 ms).
EXACT = """
name: saga-exact
seed: 3
duration: {duration}
warmup: 0s
network: {{default_latency: 0ms}}
components:
  shop:
    type: saga
    order_interval: 1s
    payment_failure_probability: {p}
  orders: {{type: server, workers: 4, service_time: 10ms, calls: [orders-db]}}
  orders-db: {{type: database, read_time: 1ms, write_time: 5ms}}
  inventory: {{type: server, workers: 4, service_time: 10ms, calls: [inventory-db]}}
  inventory-db: {{type: database, read_time: 1ms, write_time: 6ms,
                 write_operations: [reserve, release]}}
  payment: {{type: server, workers: 4, service_time: 100ms, calls: [payment-db]}}
  payment-db: {{type: database, read_time: 1ms, write_time: 5ms, write_operations: [charge]}}
  notification: {{type: server, workers: 4, service_time: 12ms}}
  order-events:
    type: queue
    publish_time: 2ms
    consumer_groups: {{inventory: {{target: shop, operation: reserve_inventory}}}}
  inventory-events:
    type: queue
    publish_time: 2ms
    consumer_groups: {{payment: {{target: shop, operation: charge_payment}}}}
  payment-events:
    type: queue
    partitions: 2
    publish_time: 2ms
    consumer_groups:
      inventory: {{target: shop, operation: settle_inventory, retry_delay: 500ms}}
      orders: {{target: shop, operation: close_order}}
      notification: {{target: shop, operation: notify}}
faults: {faults}
"""
BEFORE_PARALLEL = 0.015 + 0.002 + 0.016 + 0.002 + 0.105 + 0.002


def run_exact(p, duration="20.5s", faults="[]", seed=None):
    res = simulator.run(scenario(EXACT, p=p, duration=duration, faults=faults), seed=seed)
    return res, res.summary["components"]["shop"]["metrics"]


def test_payment_never_fails_no_compensation_and_exact_order_time():
    res, m = run_exact(0)
    assert m["orders_placed"] == 20  # orders at 1 s, 2 s, ..., 20 s
    assert m["compensations"] == 0 and m["orders_cancelled"] == 0
    assert m["orders_completed"] == 20
    # completed when closed (15 ms) and notified (12 ms): the later of the two
    assert m["order_time_s"]["max"] == pytest.approx(BEFORE_PARALLEL + 0.015, abs=1e-9)
    assert m["order_time_s"]["p50"] == pytest.approx(BEFORE_PARALLEL + 0.015, abs=1e-9)
    assert m["duplicate_events"] == 0 and m["step_failures"] == 0
    # the customers' request (place_order) ends once the order is stored and order_created published
    assert res.summary["latency_s"]["max"] == pytest.approx(0.015 + 0.002, abs=1e-9)


def test_payment_always_fails_every_order_compensated_exactly_once():
    res, m = run_exact(1)
    assert m["orders_placed"] == m["orders_cancelled"] == m["compensations"] == 20
    assert m["orders_completed"] == 0
    # cancelled when released (16 ms), closed (15 ms) and notified (12 ms)
    assert m["cancelled_order_s"]["max"] == pytest.approx(BEFORE_PARALLEL + 0.016, abs=1e-9)
    assert m["compensation_s"]["max"] == pytest.approx(0.002 + 0.016, abs=1e-9)  # publish, then release
    comps = res.summary["components"]
    assert comps["inventory-db"]["writes"] == 2 * 20  # one reservation and one release per order


def test_redelivered_payment_failures_still_compensate_once():
    """The inventory consumers crash while they hold a release: order k's payment_failed is stored at
    k + 0.142 s and its release runs until k + 0.158 s, so crashes at 3.15 s and 7.15 s (the second
    overlapped by a third) each catch one. The events are redelivered after the recovery, the releases
    they asked for had completed, and the redelivery is recognised as done: one release per order."""
    faults = ("[{type: crash, target: payment-events.inventory, at: 3.15s, duration: 1s},"
              " {type: crash, target: payment-events.inventory, at: 7.15s, duration: 100ms},"
              " {type: crash, target: payment-events.inventory, at: 7.2s, duration: 2s}]")  # overlapping
    res, m = run_exact(1, faults=faults)
    q = res.summary["components"]["payment-events"]["consumer_groups"]["inventory"]
    assert q["redeliveries"] >= 2  # the crashes at 3.15 s and 7.15 s each held one release
    assert m["duplicate_events"] >= 2
    assert m["compensations"] == m["orders_cancelled"] == m["orders_placed"] == 20
    assert res.summary["components"]["inventory-db"]["writes"] == 40


def test_a_crashed_service_leaves_orders_stuck_then_they_drain():
    """The payment service down from 3.5 s to 33.5 s: orders 4..33 wait reserved (the bus retries the
    charge every second), stuck after 20 s without a step; after the recovery every one finishes."""
    faults = "[{type: crash, target: payment, at: 3.5s, duration: 30s}]"
    sc = scenario(EXACT, p=0, duration="60.5s", faults=faults)
    sc = simulator.with_overrides(sc, {"components.shop.stuck_after": "20s"})
    res = simulator.run(sc)
    shop = res.summary["components"]["shop"]
    m = shop["metrics"]
    assert m["orders_placed"] == 60
    assert m["orders_completed"] == 60 and m["stuck_at_end"] == 0
    assert m["step_failures"] > 0
    assert m["stuck_orders"]["max"] >= 10  # orders 4..13 reserved by 13.2 s, no step until 33.5 s
    ts = res.timeseries
    reserved = ts["shop.orders_by_state.reserved"]
    during = ts[(ts["end_s"] > 10) & (ts["end_s"] <= 33)]
    assert (during["shop.orders_by_state.reserved"] > 0).all()
    assert reserved.iloc[-1] == 0
    assert m["order_time_s"]["max"] > 29  # order 4 waited for the recovery
    assert_conserved(res)


def test_scenario_runs_with_its_faults_and_is_deterministic():
    sc = simulator.load_scenario("scenarios/saga.yaml", overrides=["duration=160s", "warmup=10s"])
    a = simulator.run(sc, seed=5).summary
    b = simulator.run(sc, seed=5).summary
    assert a == b
    m = a["components"]["shop"]["metrics"]
    assert m["compensations"] == m["orders_cancelled"] > 0
    assert m["stuck_orders"]["max"] > 0  # the payment crash at 120 s
    assert 0.05 < m["compensation_ratio"] < 0.15  # 10% declined: 2,800 orders, sd of the share ~0.6%
    assert a["components"]["shop"]["extrapolation"][0].startswith("2,000 orders/s")


@pytest.mark.parametrize("change, fragments", [
    (("operation: notify,", "operation: notifi,"), ["consumer_groups.notification.operation", "got 'notifi'"]),
    (("orders: order-events,", "orders: orders,"), ["shop.topics.orders", "expected a queue"]),
    (("inventory: inventory,", "inventory: inventori,"), ["shop.services.inventory", "did you mean"]),
    (("payment_failure_probability: 10%", "payment_failure_probability: 120%"), ["payment_failure_probability"]),
    (("      notification: {workers: 3, target: shop, operation: notify, retry_delay: 1s}\n", ""),
     ["shop.topics", "no consumer group delivers notify"]),
])
def test_bad_saga_input_is_one_located_line(tmp_path, change, fragments):
    text = open("scenarios/saga.yaml").read()
    assert change[0] in text
    out = assert_bad(tmp_path, text.replace(change[0], change[1]), *fragments)
    assert len(out.strip().splitlines()) == 1
