"""CQRS: commands write to a write store, events update a read store asynchronously.

Clients send commands (a change to their own data: a profile, a cart) and queries (a read of it).
A command is committed in the **write store** (a `database`: it numbers the key's versions) and
answered; the change then leaves the write store's change log as an event on the bus (a `queue`,
published from the write store, as an outbox or change-data-capture relay does, with retries until
stored) and a **projector** (a consumer group of that queue whose `target` is this application and
`operation: project`) writes it into the **read store** (another `database`), installing the
command's version (an older or repeated event changes nothing: projection is idempotent). Queries
read the read store, so a client who reads right after its own command may not see it: the read
model's lag is the time from the command's acknowledgement to the projection being applied, and a
read `gap` seconds after the acknowledgement misses the write exactly when the lag exceeds the gap
(the read sees the read store as the store serves it).

What a read saw is the version the read store answered with (`req.meta` of `database`), compared
with the client's last acknowledged version: nothing is assumed. `own_reads_from_write_store` is the
usual remedy (read-your-writes by routing): for that long after its own command a client reads the
write store instead, which moves the load there.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Literal

from pydantic import Field, field_validator

from models.apps.behaviour import AppConfig, AppRequest, distribution
from models.apps.eventing import EventApplication, bus_problems, payload
from models.versions import VersionedWrite
from simulator.engine.request import OK
from simulator.language import registry
from simulator.language.units import Duration, Fraction, PositiveDuration
from simulator.sampling.distributions import DurationDist


class _Client:
    __slots__ = ("version", "t_ack")

    def __init__(self) -> None:
        self.version = 0  # the last version of its data its commands were acknowledged with
        self.t_ack = -1.0


@registry.components.register("cqrs")
class Cqrs(EventApplication):
    """Clients sending commands and queries to a CQRS system: write store, event bus, projector, read store."""

    type_name = "cqrs"
    handled = ("project",)

    class Config(AppConfig):
        type: Literal["cqrs"] = "cqrs"
        clients: int = Field(500, gt=0, le=1_000_000, description="Clients simulated (each owns one key: its data).")
        think_time: DurationDist = distribution("exponential(mean=5s)", "Time between two actions of a client.")
        command_share: Fraction = Field(0.2, description="Share of actions that are commands (the rest are queries).")
        refresh_after: DurationDist = distribution(
            "exponential(mean=300ms)", "After its command is acknowledged, the client reads its data again after "
            "this gap (the page refreshing): the read right after a write.")
        write_store: str = Field("write-db", description="The database commands are committed in.")
        read_store: str = Field("read-db", description="The database queries read (the read model).")
        bus: str = Field("events", description="The queue the changes travel on (its projector group has "
                         "target: this application, operation: project).")
        own_reads_from_write_store: Duration = Field(
            0.0, description="For this long after its command, a client's reads go to the write store "
            "(read-your-writes by routing); 0: every read goes to the read store.")
        publish_retry: PositiveDuration = Field(
            1.0, description="Wait before publishing a change again when the bus did not store it.")
        target_utilization: Fraction = Field(
            0.7, gt=0, description="Extrapolation: the utilisation the projectors are sized for at full scale.")

        @field_validator("think_time")
        @classmethod
        def _positive_mean(cls, v: Any) -> Any:
            if not v.mean > 0:  # no time between actions: simulated time would never advance
                raise ValueError(f"needs a positive mean, got {v.mean:g} s")
            return v

        def refs(self):
            return [(("write_store",), self.write_store), (("read_store",), self.read_store), (("bus",), self.bus)]

        def forwards(self):
            return []

        def cross_check(self, name, sc):
            problems = bus_problems(name, [(("bus",), self.bus)], Cqrs.handled, sc, where=("bus",))
            for place, store in ((("write_store",), self.write_store), (("read_store",), self.read_store)):
                cfg = sc.components.get(store)
                if cfg is not None and cfg.type != "database":
                    problems.append((("components", name) + place, f"'{store}' is a {cfg.type}, expected a "
                                     f"database (it numbers each key's versions, which is what reads are checked by)"))
                elif cfg is not None and ("write" not in cfg.write_operations or "read" in cfg.write_operations):
                    problems.append((("components", store, "write_operations"), "the CQRS stores take 'write' as a "
                                     "write and 'read' as a read: keep 'write' in write_operations, and 'read' out"))
            if self.write_store == self.read_store:
                problems.append((("components", name, "read_store"), "the read store must be another database than "
                                 "the write store"))
            return problems

    # --- building -------------------------------------------------------------------------------
    def connect(self, system: Any) -> None:
        cfg = self.config
        projector = self.consumers(system, cfg.bus)["project"]
        self.projector = system.components[projector]  # its utilisation sizes the projectors at full scale
        self.write = self.caller(system, cfg.write_store, op="write")
        self.read_model = self.caller(system, cfg.read_store, op="read")
        self.read_write_model = self.caller(system, cfg.write_store, op="read")
        self.publish = self.caller(system, cfg.bus, src=cfg.write_store, op="changed")
        self.apply = self.caller(system, cfg.read_store, src=projector, op="write")
        self.write_op = "write"  # `cross_check`: a write to both stores, "read" a read

        m = self.metrics
        self.lag = m.observe("read_model_lag_s", "command acknowledged -> its change applied to the read store")
        self.commands = m.counter("commands", "commands acknowledged")
        self.queries = m.counter("queries", "reads answered")
        self.reads_after_write = m.counter("reads_after_own_write", "reads answered to a client that had "
                                           "written before")
        self.missed = m.counter("missed_own_write", "of those, reads that returned an older version than the "
                                "client's last acknowledged command")
        self.refreshes = m.counter("refresh_reads", "reads right after the client's own command (refresh_after)")
        self.refresh_missed = m.counter("refresh_missed", "of those, reads that missed the command")
        self.from_write_store = m.counter("reads_from_write_store", "reads routed to the write store "
                                          "(own_reads_from_write_store)")
        self.duplicates = m.counter("duplicate_events", "changes delivered again after they were applied "
                                    "(no effect: the read store keeps the newer version)")
        self.publish_retries = m.counter("publish_retries", "changes published again because the bus did not "
                                         "store them")
        # changes acknowledged and not yet applied: {(key, version): acknowledged at}, and their order
        self.pending: dict[tuple[int, int], float] = {}
        self.order: deque[tuple[int, int]] = deque()
        m.gauge("unapplied_changes", lambda: len(self.pending), "changes acknowledged, not yet in the read store",
                "changes")
        m.gauge("read_model_behind_s", self._behind, "age of the oldest change not yet in the read store", "s")
        m.value("own_write_miss_ratio", lambda: self.missed.n / self.reads_after_own() if self.reads_after_own()
                else None, "missed_own_write / reads_after_own_write (ratio)")
        m.value("refresh_miss_ratio", lambda: self.refresh_missed.n / self.refreshes.n if self.refreshes.n else None,
                "refresh_missed / refresh_reads (ratio)")
        m.value("read_model_lag_p99_s", lambda: self.lag.summary().get("p99"), "p99 of read_model_lag_s (s)")
        self.t_reset = 0.0

    def reads_after_own(self) -> int:
        return self.reads_after_write.n

    def start(self) -> None:
        cfg = self.config
        think = self.sampler("think", cfg.think_time)
        refresh = self.sampler("refresh", cfg.refresh_after)
        action = self.stream("action")
        for c in range(cfg.clients):
            self.spawn(self._client(c, think, refresh, action))

    # --- clients --------------------------------------------------------------------------------
    def _client(self, key: int, think: Any, refresh: Any, action: Any):
        me = _Client()
        share = self.config.command_share
        while True:
            yield self.sleep(think())
            if action.random() < share:
                ok = yield from self._command(key, me)
                if ok:
                    yield self.sleep(refresh())
                    yield from self._query(key, me, refresh=True)
            else:
                yield from self._query(key, me, refresh=False)

    def _command(self, key: int, me: _Client):
        row = self.begin("command", key=key)
        sub = self._sub(row, self.write_op)
        outcome = yield self.write(req=sub)
        self.finish(row, outcome)
        if outcome != OK:
            return False
        version = int(sub.meta or 0)
        me.version, me.t_ack = version, self.now
        self.commands.add()
        self.pending[(key, version)] = self.now
        self.order.append((key, version))
        self.spawn(self.publish_until_stored(self.publish, key, (key, version), self.config.publish_retry,
                                             self.publish_retries))
        return True

    def _query(self, key: int, me: _Client, refresh: bool):
        row = self.begin("query", key=key)
        sub = self._sub(row, "read")
        window = self.config.own_reads_from_write_store
        routed = window > 0 and me.version and self.now - me.t_ack < window
        outcome = yield (self.read_write_model if routed else self.read_model)(req=sub)
        self.finish(row, outcome)
        if outcome != OK:
            return
        self.queries.add()
        if routed:
            self.from_write_store.add()
        if me.version:
            self.reads_after_write.add()
            missed = int(sub.meta or 0) < me.version
            if missed:
                self.missed.add()
            if refresh:
                self.refreshes.add()
                if missed:
                    self.refresh_missed.add()

    def _sub(self, row: AppRequest, op: str) -> AppRequest:
        """The store call of a recorded operation, ours to read back (`meta`: the version the store
        answered with)."""
        sub = AppRequest(row.id, row.t0, row.wl, op, row.key, row.user)
        sub.data = None
        return sub

    # --- the projector --------------------------------------------------------------------------
    def on_project(self, d: Any):
        key, version = payload(d)
        change = VersionedWrite(-1, self.now, self.wl_index, self.write_op, key)
        change.version = version
        outcome = yield self.apply(req=change)
        if outcome != OK:
            return outcome  # the bus tries again after its retry_delay
        acked = self.pending.pop((key, version), None)
        if acked is None:
            self.duplicates.add()
        else:
            self.lag.add(self.now - acked)
        return OK

    def _behind(self) -> float:
        order, pending = self.order, self.pending
        while order and order[0] not in pending:
            order.popleft()
        return self.now - pending[order[0]] if order else 0.0

    # --- results --------------------------------------------------------------------------------
    def reset_stats(self) -> None:
        super().reset_stats()
        self.t_reset = self.now

    def extrapolate(self) -> list[str]:
        cfg = self.config
        elapsed = self.now - self.t_reset
        actions = cfg.clients / cfg.think_time.mean
        commands = actions * cfg.command_share
        lines = [f"{self.full(cfg.clients):,.0f} clients: ~{self.full(commands):,.0f} commands/s and "
                 f"~{self.full(actions):,.0f} reads/s (queries, and each command read back once)"]
        util = self.projector.utilization(elapsed) if elapsed > 0 else None
        if util is not None:
            busy = self.full(util * self.projector.workers)  # consumers busy at once, at full scale
            workers = max(1, -(-busy // cfg.target_utilization))
            lines.append(f"projector: ~{busy:,.0f} consumers busy at once -> ~{workers:,.0f} consumers (and as many "
                         f"partitions) at {cfg.target_utilization:.0%} utilisation")
        return lines
