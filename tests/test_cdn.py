"""CDN edges: routing by region or latency, per-edge hit ratio, origin load, egress bytes."""
import pytest

from tests.helpers import run

CDN = """
name: cdn
duration: 100s
warmup: 10s
network:
  default_latency: 2ms
  links:
    - {{between: [eu, us], latency: 40ms}}
    - {{between: [ap, us], latency: 60ms}}
    - {{between: [ap, eu], latency: 80ms}}
components:
  cdn: {{type: cdn, origin: origin, regions: [eu, us], routing: {routing}, capacity: {capacity}, object_size: 100KB}}
  origin: {{type: server, zone: us, workers: 64, service_time: 10ms}}
workloads:
  viewers:
    arrivals: poisson(rate=300/s)
    target: cdn
    keys: zipf(n=20000, s=0.9)
    attributes: {{region: {{eu: 0.4, us: 0.4, ap: 0.2}}}}
"""


def _cdn(routing="region", capacity=2000):
    return run(CDN, routing=routing, capacity=capacity).summary


def test_clients_use_their_region_edge_and_others_the_nearest():
    s = _cdn()
    edges = s["components"]["cdn"]["edges"]
    total = edges["cdn.eu"]["requests"] + edges["cdn.us"]["requests"]
    # ap clients have no edge: us (60 ms) is nearer than eu (80 ms)
    assert edges["cdn.eu"]["requests"] / total == pytest.approx(0.4, abs=0.02)
    assert edges["cdn.us"]["requests"] / total == pytest.approx(0.6, abs=0.02)


def test_origin_sees_only_edge_misses_and_egress_adds_up():
    s = _cdn()
    cdn = s["components"]["cdn"]
    assert 0.2 < cdn["hit_ratio"] < 0.9
    assert s["components"]["origin"]["served"] == pytest.approx(cdn["origin_requests"], abs=64)
    # every object is 100KB, so bytes are request counts times 100,000
    served = sum(e["requests"] for e in cdn["edges"].values())
    assert cdn["egress_bytes"] == pytest.approx(served * 100_000)
    assert cdn["origin_egress_bytes"] == pytest.approx(cdn["origin_requests"] * 100_000)
    assert cdn["byte_hit_ratio"] == pytest.approx(cdn["hit_ratio"])


def test_bigger_edges_hit_more_and_offload_the_origin():
    small, big = _cdn(capacity=500), _cdn(capacity=5000)
    assert big["components"]["cdn"]["hit_ratio"] > small["components"]["cdn"]["hit_ratio"] + 0.1
    assert big["components"]["origin"]["served"] < small["components"]["origin"]["served"]


def test_a_crashed_edge_fails_its_region_only():
    res = run(CDN.replace("workloads:", "faults:\n  - {{type: crash, target: cdn.eu, at: 50s, duration: 10s}}\nworkloads:"),
              routing="region", capacity=2000)
    s = res.summary
    assert s["requests"]["errors"] == pytest.approx(0.4 * 300 * 10, rel=0.1)
    assert s["components"]["cdn.eu"]["failed"] == s["requests"]["errors"]
