"""Bad input for the data tier: one clear, located message and exit code 2 from `dsim validate`."""
import pytest

from tests.helpers import assert_bad, run_validate

BASE = """\
name: data
duration: 100s
components:
{components}
  db-1: {{type: database, read_time: 1ms, write_time: 2ms}}
  db-2: {{type: database, read_time: 1ms, write_time: 2ms}}
workloads:
  web: {{arrivals: poisson(rate=10/s), target: {target}, keys: uniform(n=1000)}}
"""


def front_scenario(component: str, target: str = "front") -> str:
    return BASE.format(components=f"  front: {component}", target=target)


GOOD = [
    "{type: cache, capacity: 100, backing: db-1}",
    "{type: cache, capacity: 64MB, eviction: lfu, ttl: 30s, mode: refresh_ahead, backing: db-1}",
    "{type: sharded, strategy: range, shards: [db-1, db-2], boundaries: [500]}",
    "{type: sharded, strategy: consistent_hash, shards: [db-1], reshard: [{at: 10s, add: db-2}]}",
    "{type: replicated, replicas: [db-1, db-2], mode: semi_sync, acks: 1, read_from: nearest}",
    "{type: cdn, origin: db-1, regions: [eu, us], capacity: 10GB}",
    "{type: replicated, replicas: [db-1, db-2], failover: {interval: 1s, timeout: 3s, fencing: true}}",
    "{type: replicated, replicas: [db-1, db-2], failover: {fencing: true, lease_reads: true}}",
    "{type: replicated, replicas: [db-1, db-2], mode: eventual, resolve: version_vectors, anti_entropy: {interval: 2s}, "
    "session: read_your_writes, read_from: any}",
    "{type: replicated, replicas: [db-1, db-2], mode: quorum, sloppy: true, home: 1}",
    "{type: replicated, replicas: [db-1, db-2], mode: consensus}",
    "{type: replicated, replicas: [db-1, db-2], mode: consensus, consensus: {election_timeout: [150ms, 150ms], "
    "heartbeat: 20ms, lease: 100ms, reads: lease, unavailable: wait, pre_vote: false}}",
]


@pytest.mark.parametrize("component", GOOD)
def test_good_data_tier_components_validate(tmp_path, component):
    result, _ = run_validate(tmp_path, front_scenario(component))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("component,fragments", [
    ("{type: cache, capacity: 0, backing: db-1}", ["components.front.capacity", "greater than 0"]),
    ("{type: cache, capacity: 10 apples, backing: db-1}", ["number of items", "or a size"]),
    ("{type: cache, backing: db-1}", ["needs a 'capacity'"]),
    ("{type: cache, capacity: 100, mode: write_behind}", ["components.front.backing", "required but missing"]),
    ("{type: cache, capacity: 100, backing: db-3}", ["unknown component 'db-3'", "did you mean"]),
    ("{type: cache, capacity: 100, backing: db-1, eviction: lru2}", ["unknown eviction policy 'lru2'", "did you mean 'lru'"]),
    ("{type: cache, capacity: 100, backing: db-1, mode: write_around}", ["components.front.mode", "write_through"]),
    ("{type: cache, capacity: 100, backing: db-1, mode: refresh_ahead}", ["needs a 'ttl'"]),
    ("{type: sharded, shards: [db-1, db-9]}", ["components.front.shards[1]", "unknown component 'db-9'"]),
    ("{type: sharded, shards: [db-1, db-1]}", ["listed twice"]),
    ("{type: sharded, shards: []}", ["components.front.shards"]),
    ("{type: sharded, strategy: ranges, shards: [db-1, db-2]}", ["unknown sharding strategy 'ranges'", "did you mean 'range'"]),
    ("{type: sharded, strategy: range, shards: [db-1, db-2, db-1x], boundaries: [600, 300]}", ["strictly ascending"]),
    ("{type: sharded, strategy: range, shards: [db-1, db-2], boundaries: [100, 200]}", ["need 1 boundaries"]),
    ("{type: sharded, strategy: geo, shards: [db-1, db-2]}", ["needs 'regions'"]),
    ("{type: sharded, strategy: geo, shards: [db-1, db-2], regions: {eu: db-3}}", ["regions.eu", "not one of the shards"]),
    ("{type: sharded, shards: [db-1], reshard: [{at: 10s, remove: db-1}]}", ["last shard"]),
    ("{type: sharded, shards: [db-1], reshard: [{at: 10s, add: db-1}]}", ["already a shard"]),
    ("{type: sharded, shards: [db-1], reshard: [{at: 10s}]}", ["exactly one of 'add' or 'remove'"]),
    ("{type: replicated, replicas: [db-1, db-7]}", ["components.front.replicas[1]", "unknown component 'db-7'"]),
    ("{type: replicated, replicas: [db-1, db-2], leader: db-3}", ["leader 'db-3' is not one of the replicas"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: semi_sync, acks: 2}", ["needs at least 2 followers"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: paxos}", ["components.front.mode", "quorum"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: quorum, write_quorum: 3}", ["write_quorum=3 is more than the 2"]),
    ("{type: replicated, replicas: [db-1, db-2], read_quorum: 1}", ["'read_quorum' is for mode quorum only"]),
    ("{type: replicated, replicas: [db-1, db-2], read_from: closest}", ["components.front.read_from", "nearest"]),
    ("{type: replicated, replicas: [db-1, db-2], resolve: version_vectors}", ["'resolve' is for mode eventual only"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: quorum, anti_entropy: {}}", ["'anti_entropy' is for mode eventual only"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: eventual, resolve: crdt}",
     ["components.front.resolve", "'lww' or 'version_vectors'"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: eventual, anti_entropy: {interval: 0s}}",
     ["components.front.anti_entropy.interval", "greater than 0"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: eventual, anti_entropy: {every: 1s}}",
     ["components.front.anti_entropy", "every"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: eventual, session: sticky}",
     ["components.front.session", "read_your_writes"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: eventual, failover: {}}", ["'failover' is for the single-leader modes"]),
    ("{type: replicated, replicas: [db-1, db-2], sloppy: true}", ["'sloppy' and 'home' are for mode quorum only"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: quorum, home: 1}", ["'home' is for sloppy quorums only"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: quorum, sloppy: true, home: 2}", ["needs at least one fallback"]),
    ("{type: replicated, replicas: [db-1, db-2, db-1x], mode: quorum, sloppy: true, write_quorum: 3}",
     ["write_quorum=3 is more than the 2 home replicas"]),
    ("{type: replicated, replicas: [db-1, db-2], failover: {interval: 2s, timeout: 2s}}",
     ["components.front.failover", "timeout (2s) must be longer than interval (2s)"]),
    ("{type: replicated, replicas: [db-1, db-2], failover: {promotion_delay: -1s}}",
     ["components.front.failover.promotion_delay", "must not be negative"]),
    ("{type: replicated, replicas: [db-1, db-2], failover: {interval: 0s}}",
     ["components.front.failover.interval", "greater than 0"]),
    ("{type: replicated, replicas: [db-1, db-2], failover: {quorum: 2}}", ["failover.quorum=2 can never be met"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: quorum, failover: {}}", ["'failover' is for the single-leader modes"]),
    ("{type: replicated, replicas: [db-1, db-2], failover: {fencing: maybe}}", ["components.front.failover.fencing"]),
    ("{type: replicated, replicas: [db-1, db-2], failover: {writes_during_failover: queue}}",
     ["components.front.failover.writes_during_failover", "wait"]),
    ("{type: replicated, replicas: [db-1, db-2], failover: {timout: 3s}}", ["unknown key 'timout'", "did you mean 'timeout'"]),
    ("{type: replicated, replicas: [db-1, db-2], failover: {lease_reads: true}}",
     ["components.front.failover", "lease_reads needs fencing: true"]),
    ("{type: replicated, replicas: [db-1, db-2], read_from: any, failover: {fencing: true, lease_reads: true}}",
     ["components.front", "failover.lease_reads is for read_from: leader"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: consensus, failover: {}}", ["'failover' is for the single-leader modes"]),
    ("{type: replicated, replicas: [db-1, db-2], consensus: {}}", ["'consensus' is for mode consensus only"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: consensus, resilience: {retry: {max_attempts: 2}}}",
     ["'resilience' is not supported in mode consensus"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: consensus, read_from: any}", ["serves every read at the leader"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: consensus, consensus: {election_timeout: [300ms, 150ms]}}",
     ["components.front.consensus", "the max is below the min"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: consensus, consensus: {election_timeout: [150ms]}}",
     ["components.front.consensus.election_timeout"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: consensus, consensus: {election_timeout: [0s, 1s]}}",
     ["components.front.consensus.election_timeout", "greater than 0"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: consensus, consensus: {heartbeat: 200ms}}",
     ["heartbeat (0.2s) must be shorter than the election timeout min (0.15s)"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: consensus, consensus: {lease: 1s}}",
     ["lease (1s) must not exceed the election timeout min (0.15s)"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: consensus, consensus: {reads: stale}}",
     ["components.front.consensus.reads", "read_index"]),
    ("{type: replicated, replicas: [db-1, db-2], mode: consensus, consensus: {hearbeat: 20ms}}",
     ["unknown key 'hearbeat'", "did you mean 'heartbeat'"]),
    ("{type: cdn, origin: db-1, regions: [eu, eu], capacity: 10GB}", ["region 'eu' is listed twice"]),
    ("{type: cdn, origin: db-1, regions: [eu], capacity: 0}", ["greater than 0"]),
    ("{type: cdn, origin: nowhere, regions: [eu], capacity: 100}", ["unknown component 'nowhere'"]),
])
def test_bad_data_tier_components(tmp_path, component, fragments):
    assert_bad(tmp_path, front_scenario(component), *fragments, line=4)


def test_a_cycle_of_components_that_pass_every_request_on_is_refused(tmp_path):
    text = BASE.format(components="  front: {type: cache, capacity: 10, backing: mid}\n"
                                  "  mid: {type: cache, capacity: 10, backing: front}", target="front")
    assert_bad(tmp_path, text, "front -> mid -> front is a cycle", line=4)
    looped = BASE.format(components="  front: {type: load_balancer, backends: [app]}\n"
                                    "  app: {type: server, service_time: 1ms, calls: [db-1, front]}", target="front")
    assert_bad(tmp_path, looped, "front -> app -> front is a cycle")


def test_a_call_back_with_some_probability_is_allowed_and_its_load_estimate_ends(tmp_path):
    text = BASE.format(components="  front: {type: load_balancer, backends: [app]}\n"
                                  "  app: {type: server, workers: 4, service_time: 1ms,"
                                  " calls: [db-1, {target: front, probability: 0.3}], hold_worker: false}",
                       target="front")
    result, _ = run_validate(tmp_path, text)
    assert result.exit_code == 0, result.output


def test_a_loop_back_to_a_server_holding_its_worker_is_warned_about(tmp_path):
    loop = "  front: {type: load_balancer, backends: [app]}\n  app: {type: server, service_time: 1ms, " \
           "calls: [db-1, {target: front, probability: 0.3}]HOLD}"
    result, _ = run_validate(tmp_path, BASE.format(components=loop.replace("HOLD", ""), target="front"))
    assert result.exit_code == 0 and "deadlock" in result.output
    result, _ = run_validate(tmp_path, BASE.format(components=loop.replace("HOLD", ", hold_worker: false"), target="front"))
    assert result.exit_code == 0 and "deadlock" not in result.output
