"""A sharded store: routes each request to the shard that owns its key, and reshards on a timeline.

The router itself does no work (it stands for the client library or proxy that knows the
placement); every call to a shard still crosses the network. On a reshard the keys that change
owner are counted, and with a `migration_rate` they are copied in the background (a read on the
old shard and a write on the new one per key) while reads of keys not yet copied miss on the new
shard and go on to the old one: the migration load shows up in the shards' own figures.

The copy has back-pressure: at most `migration_in_flight` keys are being copied at once, and the
next is sent when one is acknowledged (and no sooner than the rate allows), so the copy never
pushes faster than the target takes it; its real duration (first copy sent to last acknowledged)
is reported, which is longer than keys / rate when the shards (or the network) are the bottleneck.
"""
from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from simulator.language import registry
from simulator.language.config import StrictModel
from simulator.engine.request import ERROR, OK, Reply, Request
from simulator.language.units import Duration, PositiveRate
from simulator.workload.keys import MAX_KEYS

from simulator.resilience import ResilienceConfig

from .base import ClientSide, ComponentConfig
from .versions import UNKNOWN, sub_request

MAX_RING_POINTS = 1_000_000  # consistent_hash: the ring is built (and sorted) before the run

DEFAULT_KEY_SPACE = 1_000_000


class ReshardConfig(StrictModel):
    """One change of the shard set at a point in time."""

    at: Duration = Field(description="When the change happens.")
    add: str | None = Field(None, description="Store to add as a new shard.")
    remove: str | None = Field(None, description="Shard to take out; its keys go to the others.")
    regions: dict[str, str] | None = Field(None, description="geo strategy: new region -> shard mapping entries.")

    @model_validator(mode="after")
    def _one_change(self) -> "ReshardConfig":
        if (self.add is None) == (self.remove is None) and self.regions is None:
            raise ValueError("a reshard event needs exactly one of 'add' or 'remove' (or 'regions' for geo)")
        if self.add is not None and self.remove is not None:
            raise ValueError("a reshard event needs exactly one of 'add' or 'remove'")
        return self


class ShardedConfig(ComponentConfig):
    type: Literal["sharded"] = "sharded"
    shards: list[str] = Field(min_length=1, description="Stores holding the shards, in order.")
    strategy: registry.name_in(registry.sharding_strategies) = Field("hash", description="Placement strategy (see the list of strategies).")
    key_space: PositiveInt | None = Field(
        None, le=MAX_KEYS, description="Keys 0..key_space-1 (default: the largest `keys.n` of the workloads)."
    )
    boundaries: list[NonNegativeInt] | None = Field(
        None, description="range strategy: first key of shards 2..N, ascending (default: an even split)."
    )
    virtual_nodes: PositiveInt = Field(100, le=10_000, description="consistent_hash strategy: ring points per shard.")
    regions: dict[str, str] = Field(default_factory=dict, description="geo strategy: region -> shard.")
    default: str | None = Field(None, description="geo strategy: shard of requests from unlisted regions.")
    resilience: ResilienceConfig | None = Field(
        None, description="Policies on the client library's calls to each store (in each caller: its own breaker per store).")
    reshard: list[ReshardConfig] = Field(default_factory=list, description="Shards added or removed over time.")
    migration_rate: PositiveRate | None = Field(
        None, description="Keys copied per second at most after a reshard (unset: they move at once, no copy load)."
    )
    migration_in_flight: PositiveInt = Field(
        8, le=10_000, description="Keys being copied at once at most: the next copy starts when one is "
                                  "acknowledged (back-pressure: the copy never outruns the new shard)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> "ShardedConfig":
        points = self.virtual_nodes * (len(self.shards) + len(self.reshard))
        if self.strategy == "consistent_hash" and points > MAX_RING_POINTS:
            raise ValueError(f"virtual_nodes: a ring of {points:,} points (shards x virtual_nodes, reshards "
                             f"included); at most {MAX_RING_POINTS:,}")
        dup = sorted({s for s in self.shards if self.shards.count(s) > 1})
        if dup:
            raise ValueError(f"shard '{dup[0]}' is listed twice")
        if self.boundaries is not None:
            if self.strategy != "range":
                raise ValueError("'boundaries' is for the range strategy only")
            if len(self.boundaries) != len(self.shards) - 1:
                raise ValueError(f"range boundaries: {len(self.shards)} shards need {len(self.shards) - 1} "
                                 f"boundaries (the first key of every shard but the first), got {len(self.boundaries)}")
            if any(b >= a for b, a in zip(self.boundaries, self.boundaries[1:])) or (self.boundaries and self.boundaries[0] <= 0):
                raise ValueError(f"range boundaries must be positive and strictly ascending, got {self.boundaries}")
            if self.key_space is not None and self.boundaries and self.boundaries[-1] >= self.key_space:
                raise ValueError(f"range boundary {self.boundaries[-1]} is beyond the key space ({self.key_space})")
        if self.strategy == "geo":
            if not self.regions and self.default is None:
                raise ValueError("the geo strategy needs 'regions' (region -> shard) and/or a 'default' shard")
            for region, shard in self.regions.items():
                if shard not in self.shards:
                    raise ValueError(f"regions.{region}: '{shard}' is not one of the shards {self.shards}")
            if self.default is not None and self.default not in self.shards:
                raise ValueError(f"default: '{self.default}' is not one of the shards {self.shards}")
        current = list(self.shards)
        for i, ev in enumerate(sorted(self.reshard, key=lambda e: e.at)):
            if ev.add is not None:
                if ev.add in current:
                    raise ValueError(f"reshard at {ev.at:g}s adds '{ev.add}', which is already a shard")
                current.append(ev.add)
            if ev.remove is not None:
                if ev.remove not in current:
                    raise ValueError(f"reshard at {ev.at:g}s removes '{ev.remove}', which is not a shard then "
                                     f"(shards: {', '.join(current)})")
                if len(current) == 1:
                    raise ValueError(f"reshard at {ev.at:g}s would remove the last shard")
                current.remove(ev.remove)
        return self

    def refs(self):
        out = [(("shards", i), s) for i, s in enumerate(self.shards)]
        out += [(("reshard", i, "add"), e.add) for i, e in enumerate(self.reshard) if e.add is not None]
        return out

    def all_shards(self) -> list[str]:
        return list(self.shards) + [e.add for e in self.reshard if e.add is not None and e.add not in self.shards]


class _MigrationRead:
    """A read of a key that moved but is not copied yet: after the new shard misses, try the old one."""

    __slots__ = ("router", "proxy", "req", "reply", "old")

    def __init__(self, router: "Sharded", proxy: Any, req: Request, reply: Reply, old: str) -> None:
        self.router, self.proxy, self.req, self.reply, self.old = router, proxy, req, reply, old

    def __call__(self, outcome: int) -> None:
        router = self.router
        router.migration_misses += 1
        router.routed[self.old] += 1
        self.proxy.links[self.old].send(self.req, self.reply)


class _Migration:
    """The copies one reshard queued: its record (in the reshard's event) and how many of its copies
    are not finished yet (queued or in flight). A later reshard that moves a key again takes that
    key's copy over, so each reshard's copy time covers the copies that are still its own."""

    __slots__ = ("record", "left")

    def __init__(self, record: dict[str, Any], left: int) -> None:
        self.record, self.left = record, left


class KeyCopy:
    """One key's migration, run by the old shard: read the key there, then send that version to the
    new shard over the network between them (so a partition between the shards holds the copy up)."""

    __slots__ = ("router", "key", "old", "new", "sub", "migration")

    def __init__(self, router: "Sharded", key: int, old: str, new: str, migration: _Migration | None = None) -> None:
        self.router, self.key, self.old, self.new = router, key, old, new
        self.migration = migration
        self.sub = Request(-1, router.env._now, -1, "read", key)

    def start(self) -> None:
        self.router.copy_link(self.old, self.old).send(self.sub, self.read_done)

    def read_done(self, outcome: int) -> None:
        router = self.router
        if outcome != OK:
            router.migration_failures += 1
            router.env.call_later(1.0, lambda _t: self.start())  # retried: a copy must not be lost
            return
        write = sub_request(self.sub, op=router.write_op, version=self.sub.meta or 0)
        router.copy_link(self.old, self.new).send(write, self.write_done)

    def write_done(self, outcome: int) -> None:
        router = self.router
        if outcome == OK:
            # A later reshard may have sent the key elsewhere meanwhile: then this copy is not the
            # one that ends its migration (the later reshard's copy is).
            target = router.copy_target.get(self.key)
            if target is None or target == self.new:
                router.copy_target.pop(self.key, None)
                router.migrating.pop(self.key, None)
                router.keys_copied += 1
            router.copy_acknowledged(self.migration)
        else:
            router.migration_failures += 1
            router.env.call_later(1.0, lambda _t: self.start())


@registry.components.register("sharded")
class Sharded(ClientSide):
    """Sharded store: hash, range, geo or consistent-hash placement; resharding on a timeline."""

    Config = ShardedConfig

    def __init__(self, env: Any, name: str, config: ShardedConfig) -> None:
        super().__init__(env, name, config)
        self.shards = list(config.shards)
        self.strategy: Any = None
        self.links: dict[tuple[str, str], Any] = {}  # migration copies: (from shard, to shard) -> link
        self.migrating: dict[int, str] = {}  # key -> old owner, while it waits to be copied
        self.events: list[dict[str, Any]] = []
        self.sources: dict[str, Any] = {}  # filled only if something in front asks (see version_source)
        self._copies: list[tuple[int, str, str, _Migration]] = []  # queued: (key, from, to, its reshard's copies)
        self.copy_target: dict[int, str] = {}  # key -> the shard its pending copy goes to
        self.copies_in_flight = 0  # copies sent and not yet acknowledged (a failed one is retried in its slot)
        self._next_send = 0.0  # the rate's pacing: no copy is sent before this time
        self._pacing = False  # a timer waits for `_next_send`
        self.write_ops: frozenset = frozenset()
        self.reset_stats()

    def reset_stats(self) -> None:
        self.routed = {s: 0 for s in self.config.all_shards()}
        self._sampled = dict(self.routed)
        self._sampled_t = self.env.now
        self.migration_misses = 0
        self.keys_copied = 0
        self.migration_failures = 0

    def connect(self, system: Any) -> None:
        cfg = self.config
        key_space = cfg.key_space or max(
            (wl.config.keys.n for wl in system.workloads if wl.config.keys is not None), default=DEFAULT_KEY_SPACE)
        self.key_space = key_space
        if cfg.boundaries and cfg.boundaries[-1] >= key_space:
            from simulator.language.errors import ScenarioError

            raise ScenarioError(f"boundary {cfg.boundaries[-1]} is beyond the key space ({key_space} keys, from "
                                "the workloads' keys.n)", path=("components", self.name, "boundaries"))
        self.strategy = registry.sharding_strategies.get(cfg.strategy)(self.shards, cfg, key_space)
        self.system = system
        first = system.get(self.shards[0]).config
        self.write_ops = frozenset(getattr(first, "write_operations", ()))
        self.write_op = first.write_operations[0] if self.write_ops else "write"
        for ev in cfg.reshard:
            self.env.call_later(ev.at, lambda _t, e=ev: self.apply_reshard(e))

    # --- requests -------------------------------------------------------------------------------
    def route_targets(self) -> list[str]:
        return self.config.all_shards()

    def handle_at(self, proxy: Any, req: Request, reply: Reply) -> None:
        key = req.key
        name = self.shards[self.strategy.owner(key if key is not None else req.id, req)]
        self.routed[name] += 1
        if self.migrating and key in self.migrating:
            old = self.migrating[key]
            if req.op in self.write_ops:
                del self.migrating[key]  # the new shard now holds the latest version
            else:
                proxy.links[name].send(req, _MigrationRead(self, proxy, req, reply, old))
                return
        proxy.links[name].send(req, reply)

    def latest_version(self, key: Any) -> int:
        name = self.shards[self.strategy.owner(key, None)]
        source = self.sources.get(name)
        v = source.latest_version(key) if source is not None else 0
        old = self.migrating.get(key) if self.migrating else None
        if old is not None and self.sources.get(old) is not None:
            v = max(v, self.sources[old].latest_version(key))
        return v

    def stale_since(self, key: Any, version: int) -> float | None:
        name = self.shards[self.strategy.owner(key, None)]
        source = self.sources.get(name)
        return source.stale_since(key, version) if source is not None else None

    def value_at(self, key: Any, version: int) -> Any:
        """The value of `key` at `version` on its shard (or the shard it is moving from)."""
        name = self.shards[self.strategy.owner(key, None)]
        source = self.sources.get(name)
        value = source.value_at(key, version) if source is not None else super().value_at(key, version)
        old = self.migrating.get(key) if self.migrating else None
        if value is UNKNOWN and old is not None and self.sources.get(old) is not None:
            value = self.sources[old].value_at(key, version)
        return value

    def version_source(self, system: Any) -> "Sharded":
        """Asked by a cache in front: the shards then keep their versions' commit times."""
        for s in self.config.all_shards():
            self.sources[s] = system.get(s).version_source(system)
        return self

    # --- resharding -----------------------------------------------------------------------------
    def apply_reshard(self, ev: ReshardConfig) -> None:
        old_strategy, old_shards = self.strategy, list(self.shards)
        new_shards = list(old_shards)
        if ev.add is not None:
            new_shards.append(ev.add)
        if ev.remove is not None:
            new_shards.remove(ev.remove)
        if ev.regions is not None and old_strategy.regions is not None:
            new = old_strategy.resized(new_shards, self.routed, {**old_strategy.regions, **ev.regions})
        else:
            new = old_strategy.resized(new_shards, self.routed)
        record: dict[str, Any] = {"at_s": self.env.now, "change": f"add {ev.add}" if ev.add else
                                  f"remove {ev.remove}" if ev.remove else "remap regions",
                                  "shards_before": len(old_shards), "shards_after": len(new.shards)}
        keys = np.arange(self.key_space, dtype=np.int64)
        # Owners as positions in one list of every shard ever named: integer arrays, even for 50M keys.
        names = self.config.all_shards()
        before = np.array([names.index(s) for s in old_shards])[old_strategy.owners(keys)]
        after = np.array([names.index(s) for s in new.shards])[new.owners(keys)]
        moved = before != after
        if new.regions is not None:
            regions = sorted(set(old_strategy.regions) | set(new.regions))
            changed = [r for r in regions if old_strategy.regions.get(r) != new.regions.get(r)]
            record.update(regions_moved=changed)
        record.update(keys_moved=int(moved.sum()), fraction_moved=float(moved.mean()))
        self.strategy, self.shards = new, list(new.shards)
        rate = self.config.migration_rate
        if rate is not None and moved.any():
            # A key still waiting for an earlier reshard's copy is still on the shard it was copied
            # from: it is copied from there to its new owner (or, back on that shard, not at all); the
            # earlier reshard's other copies go on.
            migration = _Migration(record, 0)
            fresh: list[tuple[int, str, str, _Migration]] = []
            for k, old_i, new_i in zip(keys[moved].tolist(), before[moved].tolist(), after[moved].tolist()):
                src, dst = self.migrating.get(k, names[old_i]), names[new_i]
                if src == dst:
                    self.migrating.pop(k, None)
                    self.copy_target.pop(k, None)
                    continue
                self.migrating[k] = src
                self.copy_target[k] = dst
                fresh.append((k, src, dst, migration))
            kept = []
            for copy in self._copies:  # the earlier reshards' queued copies of keys that moved again
                key, _src, dst, _m = copy
                if key not in self.migrating or self.copy_target.get(key, dst) != dst:  # moved back, or elsewhere
                    copy[3].left -= 1
                    self._finish_if_done(copy[3])
                else:
                    kept.append(copy)
            migration.left = len(fresh)
            # The nominal time (keys / rate) is what the rate alone allows; migration_s is what happened.
            record.update(migration_nominal_s=len(fresh) / rate, migration_s=None, copy_started_s=None,
                          copy_finished_s=None)
            self._copies = fresh + kept  # popped from the end: the earlier reshard's copies first
            self._send_copies()
        self.events.append(record)

    def copy_link(self, src: str, dst: str) -> Any:
        """The link a migration copy takes from shard `src` to shard `dst` (made on first use)."""
        link = self.links.get((src, dst))
        if link is None:
            link = self.links[(src, dst)] = self.system.network.link(self.system.get(src), self.system.get(dst))
        return link

    def _send_copies(self, _timer: Any = None) -> None:
        """Sends copies while a slot is free and the rate allows; a full window waits for an
        acknowledgement (`copy_acknowledged`), a rate-limited one for a timer (one at a time)."""
        if _timer is not None:
            self._pacing = False
        limit, gap = self.config.migration_in_flight, 1.0 / self.config.migration_rate
        while self._copies and self.copies_in_flight < limit:
            now = self.env.now
            if now < self._next_send:
                if not self._pacing:
                    self._pacing = True
                    self.env.call_later(self._next_send - now, self._send_copies)
                return
            key, old, new, migration = self._copies.pop()
            if key not in self.migrating:  # superseded by a write on the new shard: nothing to copy
                self.copy_target.pop(key, None)
                migration.left -= 1
                self._finish_if_done(migration)
                continue
            if migration.record["copy_started_s"] is None:
                migration.record["copy_started_s"] = now
            self.copies_in_flight += 1
            self._next_send = now + gap
            KeyCopy(self, key, old, new, migration).start()

    def copy_acknowledged(self, migration: _Migration | None = None) -> None:
        """A copy's write on the new shard succeeded: its slot is free for the next key."""
        self.copies_in_flight -= 1
        if migration is not None:
            migration.record["copy_finished_s"] = self.env.now
            migration.left -= 1
            self._finish_if_done(migration)
        self._send_copies()

    @staticmethod
    def _finish_if_done(migration: _Migration) -> None:
        """A reshard's last copy is done: its copy time is first copy sent to last acknowledged."""
        rec = migration.record
        if migration.left == 0 and rec["copy_started_s"] is not None and rec["copy_finished_s"] is not None:
            rec["migration_s"] = rec["copy_finished_s"] - rec["copy_started_s"]

    # --- metrics --------------------------------------------------------------------------------
    def stats(self, elapsed_s: float) -> dict[str, Any]:
        total = sum(self.routed.values())
        active = [s for s in self.routed if self.routed[s] > 0] or list(self.routed)
        mean = total / len(active) if active else 0.0
        per = {s: {"requests": n, "share": n / total if total else None} for s, n in self.routed.items()}
        return {
            "type": self.type_name,
            "strategy": self.config.strategy,
            "shards": per,
            "skew": max(self.routed.values()) / mean if mean else None,
            "reshards": self.events,
            "migration_misses": self.migration_misses,
            "keys_copied": self.keys_copied,
            "keys_waiting_copy": len(self.migrating),
            "migration_failures": self.migration_failures,
        }

    def sample(self) -> dict[str, float]:
        dt = self.env.now - self._sampled_t
        out = {f"load_rps.{s}": (n - self._sampled[s]) / dt if dt else math.nan for s, n in self.routed.items()}
        self._sampled, self._sampled_t = dict(self.routed), self.env.now
        return out

    def offered(self, rate_per_s: float, system: Any) -> None:
        for s in self.shards:
            system.offer(s, rate_per_s / len(self.shards))
