"""The last reply of an open-loop request is recorded when it leaves, for the time it arrives, with no
event of its own (network.Link.sink): the same outcomes and times as an event would give."""
import simulator

SCENARIO = """
name: sink
seed: 3
duration: {duration}
warmup: 0s
network:
  default_latency: 0.25s
components:
  app: {{type: server, workers: 1, service_time: 0.5s}}
workloads:
  clients: {{arrivals: constant(rate=1/s), target: app{timeout}}}
"""


def run(duration="10.5s", timeout="", profile=False):
    return simulator.run(simulator.loads_scenario(SCENARIO.format(duration=duration, timeout=timeout)),
                         profile=profile)


def test_a_reply_is_recorded_at_its_arrival_and_costs_no_event():
    res = run(profile=True)
    req = res.requests
    # arrivals at 1, 2, ... 10 s; each takes 0.25 + 0.5 + 0.25 s; the last is in flight at the end
    assert list(req["start_s"]) == [float(t) for t in range(1, 11)]
    assert list(req["latency_s"])[:9] == [1.0] * 9
    assert req["outcome"].tolist() == ["ok"] * 9 + ["in_flight"]
    kinds = {row["kind"]: row["events"] for row in res.profile}
    assert kinds["workload"] == 10 and kinds["hop → server"] == 10 and kinds["server"] == 9
    assert not any(kind.startswith("reply") for kind in kinds)  # the replies back took no event


def test_a_reply_arriving_exactly_at_the_client_timeout_times_out_as_its_event_would():
    assert set(run(timeout=", timeout: 1s").requests["outcome"][:9]) == {"timed_out"}  # the timeout was set first
    assert set(run(timeout=", timeout: 1.0001s").requests["outcome"][:9]) == {"ok"}


def test_a_reply_arriving_at_the_end_of_the_run_stays_in_flight():
    # the reply of the request of 9 s lands at 10 s: events at the end time are not processed
    assert run(duration="10s").requests["outcome"].tolist()[8] == "in_flight"
    assert run(duration="10.0001s").requests["outcome"].tolist()[8] == "ok"
