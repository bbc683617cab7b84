"""The messaging application (models/apps/whatsapp): exact deliveries on a tiny system with constant
latencies and service times, driven by hand; the ready scenario end to end at a small scale; the
reconnect storm with and without jitter; determinism; bad input."""
from __future__ import annotations

import math

import pytest

import simulator
from models.apps.whatsapp.app import MSG, Item
from simulator.simulation.runner import build, schedule_faults
from tests.helpers import assert_bad, run_validate, scenario

# Two users, two WebSocket servers (round robin: the first to connect gets ws-1, the next ws-2),
# everything constant. Users never come online on their own (an absence of ~30 years): the tests
# say who connects when. One-way latencies: phone <-> data centre 40 ms, inside it 0.5 ms, push 1 s.
TINY = """
name: tiny
seed: 1
duration: 100s
network:
  default_latency: 0.5ms
  links:
    - between: [phones, dc]
      latency: 40ms
    - between: [push, phones]
      latency: 1s
components:
  chat:
    type: whatsapp
    zone: phones
    users: {users}
    groups: 0
    lb: lb
    presence: presence
    store: db
    offline_queue: offline
    push: push
    session: 1ms
    absence: 1000000000s
    think_time: 1000000000s
    read_delay: 1000000000s
    detect_delay: 1s
    diurnal: null
    heartbeat: 10s
    reconnect: {{delay: 2s, jitter: none, timeout: 3s}}
    ack_after: {ack_after}
  lb: {{type: load_balancer, zone: dc, algorithm: round_robin, backends: [ws-1, ws-2]}}
  ws-1: {{type: websocket, zone: dc, workers: 1, handshake_time: 50ms, message_time: 1ms}}
  ws-2: {{type: websocket, zone: dc, workers: 1, handshake_time: 50ms, message_time: 1ms}}
  presence: {{type: presence, zone: dc, ttl: {ttl}, op_time: 0.2ms}}
  db: {{type: database, zone: dc, connections: 4, read_time: 1ms, write_time: 3ms}}
  offline: {{type: offline_queue, zone: dc, op_time: 2ms}}
  push: {{type: server, zone: push, workers: 1, service_time: 10ms}}
faults: {faults}
"""
# The steps' times, from the constants above.
PHONE = 0.040  # phone <-> data centre, one way
DC = 0.0005  # inside the data centre, one way
CONNECTED = PHONE + DC + 0.050 + DC + PHONE  # phone -> lb -> ws (handshake) -> lb -> phone
WRITE = DC + 0.003 + DC  # ws -> db -> ws
LOOKUP = DC + 0.0002 + DC  # ws -> presence -> ws
QUEUE_OP = DC + 0.002 + DC  # ws -> offline queue -> ws


def tiny(ack_after: str = "route", ttl: str = "300s", faults: str = "[]", users: int = 2):
    sc = scenario(TINY.format(ack_after=ack_after, ttl=ttl, faults=faults, users=users))
    env, system = build(sc)
    schedule_faults(env, system)
    app = system.get("chat")
    app.start()  # the users start offline (probability 1e-12 each of starting online)
    assert not any(app.conn) and not any(app.connecting)
    return env, system, app


def online(app, env, u: int) -> None:
    app.want[u] = True
    app.start_dial(u)


def message(app, sender: int, to: int) -> Item:
    item = Item(app.new_id(), MSG, sender, 7, (to,), app.now)
    app.send_item(item)
    return item


def test_direct_delivery_to_an_online_user_takes_the_sum_of_its_hops():
    env, system, app = tiny()
    online(app, env, 0)  # ws-1
    env.run(until=1.0)
    online(app, env, 1)  # ws-2
    env.run(until=2.0)
    assert app.conn[0].name == "ws-1" and app.conn[1].name == "ws-2"
    message(app, 0, 1)
    env.run(until=3.0)
    # phone -> ws-1 (1 ms of work), store write, presence lookup, ws-1 -> ws-2 (1 ms), ws-2 -> phone
    expected = PHONE + 0.001 + WRITE + LOOKUP + DC + 0.001 + PHONE
    assert list(app.deliver_s.values) == [pytest.approx(expected, abs=1e-9)]
    assert app.delivered.n == 1 and app.offline_s.values.tolist() == [] and app.inbox.count == 0
    # the 'sent' tick (ack_after: route) comes when the phone has answered ws-2, ws-2 ws-1, ws-1 the sender
    assert list(app.sent_s.values) == [pytest.approx(expected + PHONE + DC + PHONE, abs=1e-9)]
    # the delivered receipt leaves user 1's phone at once and reaches user 0's the same way back
    receipt = PHONE + 0.001 + LOOKUP + DC + 0.001 + PHONE
    assert list(app.receipt_s.values) == [pytest.approx(receipt, abs=1e-9)]
    assert app.undelivered == 0


def test_message_to_an_offline_user_is_queued_then_delivered_exactly_once_after_reconnect():
    env, system, app = tiny()
    online(app, env, 0)
    env.run(until=1.0)
    message(app, 0, 1)
    env.run(until=5.0)
    assert app.delivered.n == 0 and app.inbox.count == 1 and app.pushes.n == 1 and app.undelivered == 1
    online(app, env, 1)
    env.run(until=20.0)
    # user 1 connects at 5 s, then fetches: phone -> ws-2 (1 ms), the queue's fetch, ws-2 -> phone
    fetched_at = 5.0 + CONNECTED + PHONE + 0.001 + QUEUE_OP + PHONE
    assert list(app.offline_s.values) == [pytest.approx(fetched_at - 1.0, abs=1e-9)]
    assert app.delivered.n == 1 and app.dups.n == 0 and app.inbox.count == 0  # acked: removed
    # the user goes away and comes back: nothing is delivered twice
    app.want[1] = False
    app.leave(1)
    env.run(until=30.0)
    online(app, env, 1)
    env.run(until=40.0)
    assert app.delivered.n == 1 and app.dups.n == 0 and app.undelivered == 0


def test_a_lost_ack_to_the_queue_makes_a_duplicate_the_phone_drops():
    # The offline queue is down when the ack of the fetched message reaches it (5 s + connect + fetch
    # + the phone's answer ~ 5.22 s): the message stays queued, is fetched again at the next connect
    # and the phone, which has it, drops it.
    env, system, app = tiny(faults="[{type: crash, target: offline, at: 5.2s, duration: 1s}]")
    online(app, env, 0)
    env.run(until=1.0)
    message(app, 0, 1)
    env.run(until=5.0)
    online(app, env, 1)
    env.run(until=10.0)
    assert app.delivered.n == 1 and app.inbox.count == 1
    app.want[1] = False
    app.leave(1)
    env.run(until=12.0)
    online(app, env, 1)
    env.run(until=20.0)
    assert app.delivered.n == 1 and app.dups.n == 1 and app.inbox.count == 0


@pytest.mark.parametrize("ack_after, lost", [("store", 1), ("route", 0)])
def test_a_server_crash_mid_route_loses_a_message_only_when_acked_after_the_store(ack_after, lost):
    # User 0 on ws-1 sends at 2 s to user 1 (offline); the write ends at 2 + 40 ms + 1 ms + 4 ms and
    # ws-1 crashes during the presence lookup that follows. ack_after: store has already told the
    # sender 'sent': the copy is lost. ack_after: route never acknowledged it: the phone resends
    # after reconnecting, and the copy is queued.
    crash_at = 2.0 + PHONE + 0.001 + WRITE + 0.0006
    env, system, app = tiny(ack_after=ack_after,
                            faults=f"[{{type: crash, target: ws-1, at: {crash_at!r}s, duration: 30s}}]")
    online(app, env, 0)
    env.run(until=2.0)
    message(app, 0, 1)
    env.run(until=60.0)
    assert app.count_lost() == lost
    assert app.inbox.count == 1 - lost
    assert app.sent.n == 1  # acknowledged once either way (the resend, for route)
    assert app.reconnect_s.values.tolist() != []  # user 0 reconnected (to ws-2)


def test_presence_shows_a_dropped_user_online_until_the_ttl():
    # User 0 connects at 0 (presence set at CONNECTED - 40 ms - 0.5 ms + 0.5 ms + 0.2 ms, TTL 30 s),
    # ws-1 crashes at 5 s and the user stops wanting to be online: nobody refreshes the entry.
    env, system, app = tiny(ttl="30s", faults="[{type: crash, target: ws-1, at: 5s, duration: 100s}]")
    online(app, env, 0)
    env.run(until=4.0)
    assert app.shown_online_not_connected() == 0 and app.connected_not_shown() == 0
    app.want[0] = False
    env.run(until=6.0)
    assert app.conn[0] is None
    assert app.shown_online_not_connected() == 1
    set_at = PHONE + DC + 0.050 + DC + 0.0002  # the handshake done, ws-1 -> presence, its work
    env.run(until=set_at + 30.0 - 0.01)
    assert app.shown_online_not_connected() == 1
    env.run(until=set_at + 30.0 + 0.01)
    assert app.shown_online_not_connected() == 0


def test_presence_outage_forgets_who_is_online_until_the_next_heartbeat():
    env, system, app = tiny(faults="[{type: crash, target: presence, at: 3s, duration: 2s}]")
    online(app, env, 0)
    env.run(until=2.0)
    assert app.connected_not_shown() == 0
    env.run(until=6.0)
    assert app.connected_not_shown() == 1  # back, but empty (not persistent)
    env.run(until=11.0)  # the heartbeat at 10 s (+ the way to the presence cache) sets it again
    assert app.connected_not_shown() == 0


def test_group_message_fans_out_to_every_other_member():
    # A group of 4: users 1 and 2 online (delivered at once, in parallel), user 3 offline (queued).
    env, system, app = tiny(users=4)
    for u in (0, 1, 2):
        online(app, env, u)
    env.run(until=2.0)
    app.send_item(Item(app.new_id(), MSG, 0, 99, (1, 2, 3), app.now))
    env.run(until=4.0)
    assert app.delivered.n == 2 and len(app.deliver_s.values) == 2
    assert app.inbox.count == 1 and app.pushes.n == 1 and app.undelivered == 1
    assert app.sent.n == 1 and len(app.receipt_s.values) == 2  # one message, a receipt from each reader


def test_overlapping_server_crashes_every_phone_back_and_the_message_delivered_once():
    # ws-1 down 3-13 s, ws-2 down 5-9 s (it recovers inside ws-1's window): both phones are dropped;
    # user 0 writes at 6 s while disconnected (outbox); both reconnect with backoff (some dials reach a
    # server that is down and are refused) and the message arrives once.
    env, system, app = tiny(faults="[{type: crash, target: ws-1, at: 3s, duration: 10s}, "
                                   "{type: crash, target: ws-2, at: 5s, duration: 4s}]")
    online(app, env, 0)
    online(app, env, 1)
    env.run(until=6.0)
    assert app.conn == [None, None] and app.online == 0
    message(app, 0, 1)
    env.run(until=60.0)
    assert all(c is not None for c in app.conn) and app.online == 2
    assert sum(len(s.sessions) for s in app.servers) == 2
    assert app.delivered.n == 1 and app.dups.n == 0 and app.count_lost() == 0 and app.undelivered == 0
    assert len(app.reconnect_s.values) == 2


def test_a_partition_between_phones_and_servers_delays_a_message_without_losing_it():
    # Phones cut from the data centre 3-8 s: user 0's send at 4 s fails and is retried over the same
    # connection (the server did not crash, so the phone does not reconnect) until the partition heals.
    env, system, app = tiny(faults="[{type: partition, groups: [[phones], [dc]], at: 3s, duration: 5s}]")
    online(app, env, 0)
    online(app, env, 1)
    env.run(until=4.0)
    message(app, 0, 1)
    env.run(until=30.0)
    assert app.delivered.n == 1 and app.dups.n == 0 and app.count_lost() == 0
    assert app.deliver_s.values[0] > 8.0 - 4.0  # not before the partition ended
    assert app.sent.n == 1


NET_TIMEOUT = 1.0  # a call over a cut link fails after the network's timeout (the default 1 s)
HEARTBEAT = 10.0


def test_a_partition_cutting_a_server_makes_its_phone_detect_the_dead_connection_and_reconnect_elsewhere():
    # ws-1 cut from the phones and the load balancer 3-43 s. User 0 (on ws-1, connected at CONNECTED)
    # pings at CONNECTED + 10 s and + 20 s; each fails at the network timeout; the second miss
    # (heartbeat_misses: 2) closes the connection. The phone dials after backoff(0) = 2 s; the load
    # balancer (round robin) sends it to ws-1, cut: it fails at the lb's network timeout (plus the way
    # back) and the phone waits backoff(0) again, then lands on ws-2.
    env, system, app = tiny(faults="[{type: partition, groups: [[phones, lb], [ws-1]], at: 3s, duration: 40s}]")
    online(app, env, 0)
    online(app, env, 1)
    env.run(until=2.0)
    assert [c.name for c in app.conn] == ["ws-1", "ws-2"]
    env.run(until=4.0)
    to0, to1 = message(app, 1, 0), message(app, 0, 1)  # both written during the partition
    detect = CONNECTED + 2 * HEARTBEAT + NET_TIMEOUT
    env.run(until=detect - 0.001)
    assert app.conn[0].name == "ws-1" and app.dead.n == 0 and app.delivered.n == 0
    env.run(until=detect + 0.001)
    assert app.conn[0] is None and app.dead.n == 1 and app.online == 1
    back = detect + 2.0 + (PHONE + NET_TIMEOUT + PHONE) + 2.0 + CONNECTED
    env.run(until=back - 0.001)
    assert app.conn[0] is None
    env.run(until=back + 0.001)
    assert app.conn[0].name == "ws-2" and app.conn[1].name == "ws-2"
    assert list(app.reconnect_s.values) == [pytest.approx(back - detect, abs=1e-9)]
    env.run(until=100.0)  # the partition heals at 43 s: nothing lost, nothing twice
    assert app.delivered.n == 2 and app.dups.n == 0 and app.undelivered == 0 and app.inbox.count == 0
    assert app.sent.n == 2 and app.count_lost() == 0 and app.dead.n == 1 and app.online == 2
    # user 1's message waited in the queue (ws-1 could not reach the phone); user 0's went out on ws-2
    assert len(app.offline_s.values) == 1 and len(app.deliver_s.values) == 1
    assert app.offline_s.values[0] > back - 4.0 and app.deliver_s.values[0] > back - 4.0
    assert to0.id in app.seen[0] and to1.id in app.seen[1]


def test_a_short_partition_misses_fewer_heartbeats_than_the_limit_and_keeps_the_connection():
    # Cut 9-12 s: the ping at CONNECTED + 10 s fails, the one at + 20 s is answered (the count restarts),
    # the one at + 30 s fails again in a second cut 29-32 s: never two misses in a row.
    env, system, app = tiny(faults="[{type: partition, groups: [[phones], [ws-1]], at: 9s, duration: 3s}, "
                                   "{type: partition, groups: [[phones], [ws-1]], at: 29s, duration: 3s}]")
    online(app, env, 0)
    env.run(until=60.0)
    assert app.conn[0].name == "ws-1" and app.dead.n == 0 and app.missed[0] == 0
    assert app.reconnect_s.values.tolist() == []


def test_heartbeat_detection_composes_with_a_crash_inside_the_partition():
    # ws-1 cut 3-43 s (user 0 detects it at CONNECTED + 21 s and moves to ws-2, as above); ws-2 crashes
    # 30-35 s, inside the cut: both phones are dropped by the crash, reconnect (ws-1 still cut for the
    # dials the round robin sends there), and after both faults end every message is there once.
    env, system, app = tiny(faults="[{type: partition, groups: [[phones, lb], [ws-1]], at: 3s, duration: 40s}, "
                                   "{type: crash, target: ws-2, at: 30s, duration: 5s}]")
    online(app, env, 0)
    online(app, env, 1)
    env.run(until=4.0)
    message(app, 1, 0)
    message(app, 0, 1)
    env.run(until=31.0)
    assert app.conn == [None, None] and app.dead.n == 1
    message(app, 1, 0)
    env.run(until=200.0)
    assert all(c is not None for c in app.conn) and app.online == 2
    assert app.delivered.n == 3 and app.dups.n == 0 and app.undelivered == 0 and app.inbox.count == 0
    assert app.sent.n == 3 and app.count_lost() == 0


# --- the ready scenario, small -------------------------------------------------------------------------
SMALL = ["components.chat.users=3000", "components.chat.groups=150", "duration=200s", "warmup=40s",
         "components.ws-1.connections=100", "components.ws-2.connections=100", "components.ws-3.connections=100",
         "components.ws-1.handshake_time=300ms", "components.ws-2.handshake_time=300ms",
         "components.ws-3.handshake_time=300ms",
         "faults=[{type: crash, target: ws-2, at: 100s, duration: 30s}, "
         "{type: crash, target: presence, at: 150s, duration: 10s}]"]


def run_small(*extra: str, seed: int | None = None) -> simulator.Result:
    # 3,000 users (~170 online, ~57 per server) with handshakes 6 times as costly as the default's: the
    # same ratio of dropped phones to handshake capacity as the full scenario's ~390 at 50 ms.
    sc = simulator.load_scenario("scenarios/whatsapp.yaml", overrides=[*SMALL, *extra])
    return simulator.run(sc, seed=seed)


@pytest.fixture(scope="module")
def storm():
    return {j: run_small(f"components.chat.reconnect.jitter={j}") for j in ("full", "none")}


def test_scenario_runs_with_its_domain_metrics(storm):
    s = storm["full"].summary
    chat = s["components"]["chat"]
    m = chat["metrics"]
    assert chat["app"] is True and chat["scale"] == pytest.approx(1e-5)
    # ~180 online x 160 s / 60 s think ~ 480 messages; ~5% of recipients online (+ fetches)
    assert m["messages_sent"] > 300 and m["deliveries"] > 50
    assert m["lost"] == 0  # ack_after: route: nothing can be lost
    assert m["deliver_s"]["count"] > 20 and m["offline_delivery_s"]["count"] > 20
    assert m["deliver_s"]["p50"] < 0.2 < m["offline_delivery_s"]["p50"]  # online is direct, offline waits
    assert m["presence_failures"] > 0  # the presence outage
    assert m["reconnect_s"]["count"] > 20  # the ws-2 crash dropped phones that came back
    assert s["components"]["ws-2"]["dropped_connections"] > 20
    assert any("WebSocket servers" in line for line in chat["extrapolation"])
    assert "chat.connections.ws-1" in storm["full"].timeseries.columns


def test_reconnect_storm_without_jitter_wastes_handshakes_and_reconnects_slower(storm):
    # ~57 phones dropped at 100 s. Without jitter they all dial at 100 s + 0.5-1.5 s + 5 s: 57 handshakes
    # of 300 ms on the 4 workers left take ~4.3 s, past the 3 s connect timeout, so the last ones give
    # up (their handshakes are wasted) and retry 10 s later. With full jitter the same dials spread
    # over 5 s (~11/s against ~13/s of capacity): few wait. Not a statistical margin: 2x apart here.
    full, none = (storm[j].summary["components"]["chat"]["metrics"] for j in ("full", "none"))
    assert none["wasted_handshakes"] > full["wasted_handshakes"]
    assert none["reconnect_s"]["p99"] > full["reconnect_s"]["p99"]


def test_same_seed_same_summary(storm):
    again = run_small("components.chat.reconnect.jitter=full").summary
    assert again["components"]["chat"]["metrics"] == storm["full"].summary["components"]["chat"]["metrics"]
    assert again["latency_s"] == storm["full"].summary["latency_s"]


# --- bad input -----------------------------------------------------------------------------------------
GOOD = TINY.format(ack_after="route", ttl="300s", faults="[]", users=2)


def test_tiny_scenario_validates(tmp_path):
    result, _ = run_validate(tmp_path, GOOD)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("old, new, fragments", [
    ("users: 2\n", "users: 0\n", ["components.chat.users", "greater than 0"]),
    ("jitter: none", "jitter: some", ["components.chat.reconnect.jitter", "'none'", "'full'"]),
    ("ack_after: route", "ack_after: later", ["components.chat.ack_after"]),
    ("ttl: 300s", "ttl: -5s", ["components.presence.ttl"]),
    ("offline_queue: offline", "offline_queue: ofline", ["components.chat.offline_queue", "did you mean 'offline'"]),
    ("{type: websocket, zone: dc, workers: 1,", "{type: websocket, zone: dc, workers: 1, connections: 0,",
     ["components.ws-1.connections"]),
    ("delay: 2s,", "delay: 2s, max_delay: 1s,", ["components.chat.reconnect", "shorter than delay"]),
    ("heartbeat: 10s\n", "heartbeat: 10s\n    heartbeat_misses: 0\n", ["components.chat.heartbeat_misses",
                                                                      "greater than 0"]),
    ("heartbeat: 10s\n", "heartbeat: 10s\n    heartbeat_timeout: 0s\n", ["components.chat.heartbeat_timeout"]),
])
def test_bad_input_is_one_located_line(tmp_path, old, new, fragments):
    assert old in GOOD
    out = assert_bad(tmp_path, GOOD.replace(old, new, 1), *fragments)
    assert len(out.strip().splitlines()) == 1, out


@pytest.mark.parametrize("old, new, fragments", [
    ("lb: lb\n", "lb: db\n", ["components.chat.lb", "'db' must be a load_balancer whose backends are websocket"]),
    ("backends: [ws-1, ws-2]", "backends: [ws-1, db]", ["components.chat.lb", "websocket servers"]),
    ("presence: presence\n", "presence: offline\n", ["components.chat.presence", "expected a presence component"]),
    ("offline_queue: offline", "offline_queue: push", ["components.chat.offline_queue", "expected an offline_queue"]),
])
def test_components_of_the_wrong_type_are_one_located_line(tmp_path, old, new, fragments):
    assert old in GOOD
    out = assert_bad(tmp_path, GOOD.replace(old, new, 1), *fragments)
    assert len(out.strip().splitlines()) == 1, out
