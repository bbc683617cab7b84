"""Terminal tables for the data tier: caches, shards, replica sets, CDNs (one table per type)."""
from __future__ import annotations

from typing import Any

from rich.table import Table

from reports.formatting import duration, gigabytes, ms, num, pct
from reports.registries import type_tables


def _table(title: str, columns: list[str]) -> Table:
    t = Table(title=title, title_justify="left", min_width=len(title))  # a narrow table would wrap its title
    for i, col in enumerate(columns):
        t.add_column(col, justify="left" if i == 0 else "right")
    return t


@type_tables.register("cache")
def caches(comps: dict[str, dict[str, Any]]) -> list[Table]:
    t = _table("Caches", ["cache", "mode", "eviction", "hit ratio", "hits", "misses", "evictions", "items",
                          "fill", "stale hits", "lost writes"])
    for name, c in comps.items():
        t.add_row(name, c["mode"], c["eviction"], pct(c["hit_ratio"], 1), num(c["hits"]), num(c["misses"]),
                  num(c["evictions"]), num(c["items"]), pct(c["fill_ratio"], 0),
                  num(c.get("stale_reads")), num(c.get("lost_writes")))
    return [t]


@type_tables.register("sharded")
def shards(comps: dict[str, dict[str, Any]]) -> list[Table]:
    out = []
    for name, c in comps.items():
        t = _table(f"Shards of {name} ({c['strategy']}, skew max/mean {num(c['skew'])})",
                   ["shard", "requests", "share"])
        for shard, s in c["shards"].items():
            t.add_row(shard, num(s["requests"]), pct(s["share"], 1))
        out.append(t)
        if c["reshards"]:
            r = _table(f"Resharding of {name}", ["at s", "change", "shards", "keys moved", "fraction moved",
                                                 "copy time"])
            for ev in c["reshards"]:
                r.add_row(num(ev["at_s"]), ev["change"], f"{ev['shards_before']} -> {ev['shards_after']}",
                          num(ev["keys_moved"]), pct(ev["fraction_moved"], 1), duration(ev.get("migration_s")))
            r.caption = (f"copied {num(c['keys_copied'])} keys, {num(c['keys_waiting_copy'])} waiting; "
                         f"{num(c['migration_misses'])} reads missed on the new shard during migration")
            nominal = [ev for ev in c["reshards"] if ev.get("migration_nominal_s") is not None]
            if nominal:  # what the copy time means, and how it compares with the rate alone
                r.caption += ("; copy time: first copy sent to last acknowledged (keys / rate alone: "
                              f"{', '.join(duration(ev['migration_nominal_s']) for ev in nominal)}; "
                              "'-': still copying at the end)")
            out.append(r)
    return out


@type_tables.register("replicated")
def replicas(comps: dict[str, dict[str, Any]]) -> list[Table]:
    t = _table("Replication", ["store", "mode", "reads from", "lag p50 ms", "lag p99 ms", "lag max ms",
                               "stale reads", "stale %", "staleness p99 ms", "conflicts", "writes failed"])
    for name, c in comps.items():
        lag = c["replication_lag_s"]
        quorum = c["mode"] == "quorum"
        t.add_row(name, f"quorum W={c['write_quorum']}" if quorum else c["mode"],
                  f"R={c['read_quorum']} of {len(c['replicas'])}" if quorum else c["read_from"],
                  ms(lag["p50"]), ms(lag["p99"]), ms(lag["max"]),
                  num(c["stale_reads"]), pct(c["stale_ratio"], 2), ms(c["staleness_s"]["p99"]),
                  num(c.get("conflicts")), num(c["writes_failed"]))
    per = _table("Replicas", ["replica", "store", "reads", "writes led", "lag p50 ms", "lag p99 ms", "backlog"])
    for name, c in comps.items():
        for rep, r in c["replicas"].items():
            per.add_row(rep, name, num(r["reads"]), num(r["writes_led"]), ms(r["lag_s"]["p50"]),
                        ms(r["lag_s"]["p99"]), num(r["backlog"]))
    out = [t, per]
    with_failover = {name: c for name, c in comps.items() if c.get("failover")}
    if with_failover:  # only stores with `failover:` (the others' output stays as it was)
        fo = _table("Failovers", ["store", "at", "old leader", "new leader", "epoch", "detection",
                                  "unavailable", "lost writes"])
        # "fenced reads" only when a store fences reads (`lease_reads`), so other tables stay as they were
        lease = any("reads_fenced" in c["failover"] for c in with_failover.values())
        totals = _table("Failover totals", ["store", "leader", "failovers", "unavailable", "lost writes",
                                            "split-brain writes", "fenced writes", "refused in failover"]
                        + (["fenced reads"] if lease else []))
        for name, c in with_failover.items():
            f = c["failover"]
            for ev in f["failovers"]:
                fo.add_row(name, duration(ev["at_s"]), ev["old_leader"], ev["new_leader"], num(ev["epoch"]),
                           duration(ev["detection_s"]), duration(ev["unavailable_s"]), num(ev["lost_writes"]))
            totals.add_row(name, c["leader"], num(len(f["failovers"])), duration(f["unavailable_s"]),
                           num(c["lost_writes"]), num(f["split_brain_writes"]), num(f["writes_fenced"]),
                           num(f["writes_refused_during_failover"]),
                           *([num(f.get("reads_fenced", 0))] if lease else []))
        out += [fo, totals] if any(c["failover"]["failovers"] for c in with_failover.values()) else [totals]
    with_consensus = {name: c for name, c in comps.items() if c.get("consensus")}
    if with_consensus:  # only stores in mode consensus
        cons = _table("Consensus", ["store", "leader", "term", "elections", "split votes", "leaderless",
                                    "commit p99 ms", "rejected", "uncertain", "lost writes"])
        for name, c in with_consensus.items():
            k = c["consensus"]
            cons.add_row(name, c["leader"], num(k["term"]), num(k["elections"]), num(k["split_votes"]),
                         duration(k["time_without_leader_s"]), ms(k["commit_latency_s"]["p99"]),
                         num(k["writes_rejected"] + k["reads_rejected"]), num(k["writes_uncertain"]),
                         num(c["lost_writes"]))
        out.append(cons)
    return out


@type_tables.register("cdn")
def cdns(comps: dict[str, dict[str, Any]]) -> list[Table]:
    out = []
    for name, c in comps.items():
        t = _table(f"CDN {name}: hit ratio {pct(c['hit_ratio'], 1)}, origin {num(c['origin_load_rps'])} req/s",
                   ["edge", "requests", "hit ratio", "egress GB"])
        for edge, e in c["edges"].items():
            t.add_row(edge, num(e["requests"]), pct(e["hit_ratio"], 1), gigabytes(e["egress_bytes"]))
        t.caption = (f"egress {gigabytes(c['egress_bytes'])} GB from edges, "
                     f"{gigabytes(c['origin_egress_bytes'])} GB from the origin")
        out.append(t)
    return out


@type_tables.register("queue")
def queues(comps: dict[str, dict[str, Any]]) -> list[Table]:
    t = _table("Message queues", ["queue / group", "produced", "consumed", "backlog", "max", "p50 ms",
                                  "p99 ms", "util", "redeliv", "dups", "dlq", "dropped"])
    for name, q in comps.items():
        done = q["completion_latency_s"]
        t.add_row(name, num(q["produced"]), "", num(q["backlog"]), num(q["backlog_max"]), ms(done["p50"]),
                  ms(done["p99"]), "", "", num(q["duplicates"]), num(q["dead_lettered"]),
                  num(q["dropped_retention"]))
        for g, s in q["consumer_groups"].items():
            t.add_row(f"  {g} x{s['workers']}", "", num(s["consumed"]), num(s["backlog"]), "",
                      ms(s["lag_s"]["p50"]), ms(s["lag_s"]["p99"]), pct(s["utilization"], 1),
                      num(s["redeliveries"]), num(s["duplicates"]), num(s["dead_lettered"]),
                      num(s["lost_to_retention"]))
    t.caption = ("queue rows: completion latency (request start to processed); group rows (x workers): "
                 "produce-to-consume lag; max: the largest backlog seen")
    return [t]


def data_tables(components: dict[str, dict[str, Any]]) -> list[Table]:
    from reports.app_tables import app_tables

    tables = app_tables(components)  # applications' own metrics first: they are what such a run is about
    for type_name, fn in type_tables.in_registration_order():
        of_type = {n: c for n, c in components.items() if c.get("type") == type_name}
        if of_type:
            tables += fn(of_type)
    return tables
