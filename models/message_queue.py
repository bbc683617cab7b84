"""A message queue (a Kafka-like topic): partitions, consumer groups, at-least-once delivery.

A producer's request is appended to the partition of its key (a stable hash; round robin without
a key) and acknowledged once stored (`ack: on_enqueue`, the asynchronous pattern) or once the
consumer groups have processed it (`ack: on_complete`). Each consumer group is a component of its
own, named `<queue>.<group>` (crash it with `target: orders.billing`); the broker pushes messages
to it over the network, one at a time per partition, so each partition is processed in order.
A group's workers share its partitions (partition p goes to worker p mod workers; workers beyond
the number of partitions stay idle, as in Kafka).

A worker processes a message (its own `process_time`, then a call to `target`) and acknowledges
it; the broker then commits the group's offset and sends the next message. Delivery is
at-least-once: a message whose acknowledgement is lost (the group crashed, the network dropped
it) is delivered again, and if its processing had already taken effect that is a duplicate. A
message that fails `max_attempts` times goes to the dead-letter component (or is dropped), and
a partition keeps at most `retention` messages: older ones are deleted, consumed or not.
"""
from __future__ import annotations

from array import array
from collections import deque
from typing import Any, Literal

from pydantic import Field, PositiveInt, model_validator

from simulator.language import registry
from simulator.language.config import StrictModel
from simulator.sampling.distributions import Constant, DurationDist, Sampler, parse_distribution
from simulator.engine.env import Timer
from simulator.engine.request import (CAUSE_DEAD_LETTER, CAUSE_DOWN, CAUSE_RETENTION, ERROR, OK, TIMED_OUT, Reply,
                                      Request, note_failure)
from simulator.sampling.rng import mix64
from simulator.language.units import PositiveDuration
from simpy.events import NORMAL

from .base import Component, ComponentConfig
from . import queue_acks  # noqa: F401  (registers the ack modes)
from .consumer_group import ConsumerGroup
from .versions import percentiles


class ConsumerGroupConfig(StrictModel):
    """One consumer group: its workers, what processing a message means, what happens on failure."""

    workers: int = Field(1, le=1000, description="Consumers in the group (each owns some partitions).")
    target: str | None = Field(None, description="Component called to process each message.")
    operation: str | None = Field(None, description="Operation of that call (default: the produced request's).")
    process_time: DurationDist = Field(
        default_factory=lambda: parse_distribution("0s"), description="The consumer's own work per message."
    )
    max_attempts: PositiveInt | None = Field(
        None, description="Failed processing attempts before a message is dead-lettered (unset: retry forever)."
    )
    dead_letter: str | None = Field(None, description="Component that receives dead-lettered messages.")
    # Positive: with no wait, a message refused by a crashed consumer would be sent again and again
    # at the same instant and simulated time would never advance.
    retry_delay: PositiveDuration = Field(0.1, description="Wait before a failed or undelivered message is sent again.")
    zone: str | None = Field(None, description="Where the consumers run (default: the queue's zone).")

    @model_validator(mode="after")
    def _workers(self) -> "ConsumerGroupConfig":
        if self.workers < 1:
            raise ValueError(f"a consumer group needs at least one worker, got workers: {self.workers}")
        if self.dead_letter is not None and self.max_attempts is None:
            raise ValueError("'dead_letter' needs 'max_attempts' (after how many failures a message goes there)")
        return self


class QueueConfig(ComponentConfig):
    type: Literal["queue"] = "queue"
    partitions: PositiveInt = Field(1, le=10_000, description="Partitions of the topic (order is kept within each).")
    publish_time: DurationDist = Field(
        default_factory=lambda: parse_distribution("0s"), description="Time the broker takes to store a message."
    )
    retention: PositiveInt | None = Field(
        None, description="Messages kept per partition; older ones are deleted, consumed or not."
    )
    retention_time: PositiveDuration | None = Field(
        None, description="Messages older than this are deleted, consumed or not."
    )
    consumer_groups: dict[str, ConsumerGroupConfig] = Field(
        min_length=1, description="Consumer groups by name; each reads every message."
    )
    # The names of `registry.queue_ack_modes` (a test checks they match).
    ack: Literal["on_enqueue", "on_complete"] = Field(
        "on_enqueue", description="Answer the producer once the message is stored, or once it is processed."
    )
    complete_when: str | None = Field(
        None, description="The group whose processing completes a message (default: every group)."
    )

    @model_validator(mode="after")
    def _complete_when(self) -> "QueueConfig":
        if self.complete_when is not None and self.complete_when not in self.consumer_groups:
            raise ValueError(f"complete_when: '{self.complete_when}' is not one of the consumer groups "
                             f"({', '.join(self.consumer_groups)})")
        return self

    def forwards(self):
        return []  # consumers process messages later, apart from the producer's request

    def refs(self):
        out = []
        for name, g in self.consumer_groups.items():
            if g.target is not None:
                out.append((("consumer_groups", name, "target"), g.target))
            if g.dead_letter is not None:
                out.append((("consumer_groups", name, "dead_letter"), g.dead_letter))
        return out


# A stored message: [time produced, producer's request, producer's reply (on_complete) or None,
# groups still to complete it, bitmask of the groups whose processing of it took effect,
# whether retention deleted it before some group processed it]
T_PRODUCED, REQ, REPLY, LEFT, EFFECTS, LOST = range(6)


class Delivery(Request):
    """A message pushed to a consumer group: which partition and offset it is."""

    __slots__ = ("partition", "offset", "record")


class _GroupState:
    """A group's position in every partition and its workers' occupation (kept at the broker)."""

    def __init__(self, name: str, index: int, config: ConsumerGroupConfig, partitions: int) -> None:
        self.name = name
        self.bit = 1 << index
        self.config = config
        self.committed = [0] * partitions  # next offset to process, per partition
        self.inflight = [-1] * partitions  # offset being processed (always the committed one), or -1
        # messages after the one in processing that retention deleted meanwhile (already counted lost;
        # stepped over once that one is settled)
        self.skipped = [0] * partitions
        self.attempts = [0] * partitions  # failed attempts of the head message
        self.waiting = [False] * partitions  # a retry timer is pending
        self.worker_of = [p % config.workers for p in range(partitions)]
        self.worker_busy = [False] * config.workers
        self.rr = [0] * config.workers
        self.owned = [[p for p in range(partitions) if p % config.workers == w] for w in range(config.workers)]
        self.reset()

    def reset(self) -> None:
        self.consumed = 0
        self.failures = 0
        self.redeliveries = 0
        self.dead_lettered = 0
        self.duplicates = 0
        self.lost = 0
        self.lag_s = array("d")


class _Ack:
    __slots__ = ("queue", "group", "delivery")

    def __init__(self, queue: "MessageQueue", group: _GroupState, delivery: Delivery) -> None:
        self.queue, self.group, self.delivery = queue, group, delivery

    def __call__(self, outcome: int) -> None:
        self.queue.acked(self.group, self.delivery, outcome)


@registry.components.register("queue")
class MessageQueue(Component):
    """Message queue: partitions, consumer groups, at-least-once delivery, dead letters, retention."""

    Config = QueueConfig

    @classmethod
    def expand(cls, name: str, config: QueueConfig):
        groups = [(f"{name}.{g}", ConsumerGroup, ConsumerGroup.config_for(config, g)) for g in config.consumer_groups]
        return [(name, cls, config)] + groups

    @classmethod
    def fault_members(cls, name: str, members: list[str]) -> list[str]:
        return [name]  # the broker; a consumer group is named on its own (`orders.billing`)

    def __init__(self, env: Any, name: str, config: QueueConfig) -> None:
        super().__init__(env, name, config)
        n = config.partitions
        self.logs: list[deque] = [deque() for _ in range(n)]
        self.base = [0] * n  # offset of each log's first stored message
        self.end = [0] * n  # next offset to be written
        self.low = [0] * n  # lowest committed offset over the groups: the slowest group's position
        self.total_backlog = 0  # sum over partitions of end - low, kept as they move
        self.groups = {g: _GroupState(g, i, c, n) for i, (g, c) in enumerate(config.consumer_groups.items())}
        self.expiry_armed = [False] * n  # a timer will delete the partition's messages as they reach retention_time
        self.required = 1 if config.complete_when else len(self.groups)
        self._rr = 0
        self.ack_mode = registry.queue_ack_modes.get(config.ack)(self)  # chosen once, asked per message
        publish = config.publish_time
        self.instant = isinstance(publish, Constant) and publish.mean == 0
        self._publish = Sampler(publish, env.streams.get(f"{name}/publish")).next
        self.reset_stats()

    def reset_stats(self) -> None:
        self.produced = 0
        self.dropped_retention = 0
        self.duplicates = 0
        self.completion_s = array("d")
        # The peaks start from the backlog left by the warm-up, not from zero.
        self.backlog_max = [self.backlog(p) for p in range(self.config.partitions)]
        self.backlog_total_max = self.total_backlog
        for g in self.groups.values():
            g.reset()

    def connect(self, system: Any) -> None:
        self.consumers = {g: system.components[f"{self.name}.{g}"] for g in self.groups}
        self.links = {g: system.network.link(self, c) for g, c in self.consumers.items()}

    # --- producing ------------------------------------------------------------------------------
    def handle(self, req: Request, reply: Reply) -> None:
        if self.instant:
            self.append(req, reply)
        else:
            self.env.schedule(Timer(self._published, (req, reply)), NORMAL, self._publish())

    def _published(self, timer: Timer) -> None:
        req, reply = timer._value
        if self.down:
            note_failure(self.env, req, CAUSE_DOWN, self.name, self.fault_token("crash"))
            reply(ERROR)
        else:
            self.append(req, reply)

    def append(self, req: Request, reply: Reply) -> None:
        n = self.config.partitions
        if req.key is not None:
            p = mix64(req.key) % n
        else:
            p = self._rr = (self._rr + 1) % n
        now = self.env._now
        held = self.ack_mode.hold(reply)  # kept on the message until it completes, or None: answer now
        self.logs[p].append([now, req, held, self.required, 0, False])
        self.end[p] += 1
        self.produced += 1
        if held is None:
            reply(OK)
        self._enforce_retention(p, now)
        self.total_backlog += 1
        backlog = self.end[p] - self.low[p]
        if backlog > self.backlog_max[p]:
            self.backlog_max[p] = backlog
        if self.total_backlog > self.backlog_total_max:
            self.backlog_total_max = self.total_backlog
        for g in self.groups.values():
            self._dispatch(g, g.worker_of[p])

    def backlog(self, p: int) -> int:
        """Messages in partition `p` not yet processed by the slowest group."""
        return self.end[p] - self.low[p]

    def _moved(self, p: int) -> None:
        """Some group's committed offset in `p` advanced: update the slowest position, trim the log."""
        low = min(g.committed[p] + g.skipped[p] for g in self.groups.values())
        if low != self.low[p]:
            self.total_backlog -= low - self.low[p]
            self.low[p] = low
            log = self.logs[p]
            while log and self.base[p] < low:
                log.popleft()
                self.base[p] += 1

    def _enforce_retention(self, p: int, now: float) -> None:
        log = self.logs[p]
        limit, max_age = self.config.retention, self.config.retention_time
        while log and ((limit is not None and len(log) > limit)
                       or (max_age is not None and now - log[0][T_PRODUCED] >= max_age)):
            self._drop_head(p)
        if max_age is not None and log and not self.expiry_armed[p]:
            self.expiry_armed[p] = True
            head = log[0]
            self.env.call_later(max(0.0, head[T_PRODUCED] + max_age - now), self._expire, (p, head))

    def _expire(self, timer: Any) -> None:
        """A partition's head, when the timer was set, has reached `retention_time`: delete it (if
        still there: it may have been processed meanwhile) and whatever else is that old."""
        p, head = timer._value
        self.expiry_armed[p] = False
        log = self.logs[p]
        if log and log[0] is head:
            self._drop_head(p)  # by identity: `now - produced` may fall a rounding error short
        self._enforce_retention(p, self.env._now)

    def _drop_head(self, p: int) -> None:
        """Retention deletes the oldest message of partition `p`, whether or not every group has read it."""
        record = self.logs[p].popleft()
        offset = self.base[p]
        self.base[p] += 1
        lost = False
        for g in self.groups.values():
            if g.committed[p] > offset or g.inflight[p] == offset:
                continue  # processed, or in the consumer's hands: its acknowledgement decides
            lost = True
            if g.inflight[p] < 0:
                g.committed[p] = offset + 1
                g.attempts[p] = 0
                g.lost += 1
            else:  # the group is processing an earlier message: step over this one once that is settled
                g.lost += 1
                g.skipped[p] += 1
        if lost:
            self._lost(record)
        self._moved(p)

    def _lost(self, record: list) -> None:
        """A group will never process `record`: count it once, and tell a producer still waiting."""
        if not record[LOST]:
            record[LOST] = True
            self.dropped_retention += 1
            reply = record[REPLY]
            if reply is not None:
                record[REPLY] = None
                note_failure(self.env, record[REQ], CAUSE_RETENTION, self.name)
                reply(ERROR)

    def _skip_deleted(self, g: _GroupState, p: int) -> None:
        """After settling a message, step over those retention deleted while it was in processing."""
        if g.committed[p] < self.base[p]:
            g.committed[p] = self.base[p]
        g.skipped[p] = 0

    def _lose_inflight(self, g: _GroupState, p: int, offset: int, record: list) -> None:
        """A message deleted while in processing failed or was not acknowledged: it cannot come again."""
        g.committed[p] = offset + 1
        g.attempts[p] = 0
        g.lost += 1
        self._lost(record)
        self._skip_deleted(g, p)
        self._moved(p)

    # --- consuming ------------------------------------------------------------------------------
    def _dispatch(self, g: _GroupState, w: int) -> None:
        """Give worker `w` of group `g` its next message, if it is idle and one is waiting."""
        if g.worker_busy[w] or self.down:
            return
        owned = g.owned[w]
        k = len(owned)
        start = g.rr[w]
        for j in range(k):
            p = owned[(start + j) % k]
            if g.committed[p] < self.end[p] and g.inflight[p] < 0 and not g.waiting[p]:
                g.rr[w] = (start + j + 1) % k
                self._deliver(g, w, p)
                return

    def _deliver(self, g: _GroupState, w: int, p: int) -> None:
        offset = g.committed[p]
        record = self.logs[p][offset - self.base[p]]
        req = record[REQ]
        d = Delivery(req.id, req.t0, req.wl, g.config.operation or req.op, req.key, req.user, req.region)
        d.partition, d.offset, d.record = p, offset, record
        g.inflight[p] = offset
        g.worker_busy[w] = True
        self.consumers[g.name].busy_change(+1)
        self.links[g.name].send(d, _Ack(self, g, d))

    def _worker_free(self, g: _GroupState, w: int) -> None:
        if g.worker_busy[w]:
            g.worker_busy[w] = False
            self.consumers[g.name].busy_change(-1)

    def acked(self, g: _GroupState, d: Delivery, outcome: int) -> None:
        p, offset = d.partition, d.offset
        if g.inflight[p] != offset:
            return  # not ours (defensive: a partition has one message in processing at a time)
        g.inflight[p] = -1
        w = g.worker_of[p]
        self._worker_free(g, w)
        deleted = offset < self.base[p]  # by retention, while it was in processing
        if self.down:  # the broker crashed meanwhile: the offset is not committed, it comes again
            if deleted:
                self._lose_inflight(g, p, offset, d.record)
            else:
                g.redeliveries += 1
            return
        if outcome == ERROR:  # processing failed
            g.failures += 1
            g.attempts[p] += 1
        if outcome == OK:
            self._commit(g, p, offset, d.record)
        elif (outcome == ERROR and g.config.max_attempts is not None
              and g.attempts[p] >= g.config.max_attempts):
            g.dead_lettered += 1
            self.consumers[g.name].dead_letter(d)
            self._commit(g, p, offset, d.record, failed=True)
        elif deleted:  # nothing left to try again
            self._lose_inflight(g, p, offset, d.record)
        else:
            if outcome == TIMED_OUT:
                # Delivered (or maybe delivered) but not acknowledged: the consumer crashed with it, or
                # the network lost the message or the ack. A refusal (REJECTED: the consumer was down
                # when it arrived) delivered nothing, so sending it again is no redelivery.
                g.redeliveries += 1
            self._retry_later(g, p)
            return
        self._dispatch(g, w)

    def _retry_later(self, g: _GroupState, p: int) -> None:
        g.waiting[p] = True
        self.env.call_later(g.config.retry_delay, self._retry, (g, p))
        self._dispatch(g, g.worker_of[p])  # the worker may serve its other partitions meanwhile

    def _retry(self, timer: Any) -> None:
        g, p = timer._value
        g.waiting[p] = False
        self._dispatch(g, g.worker_of[p])

    def _commit(self, g: _GroupState, p: int, offset: int, record: list, failed: bool = False) -> None:
        now = self.env._now
        g.committed[p] = offset + 1
        g.attempts[p] = 0
        self._skip_deleted(g, p)
        if not failed:
            g.consumed += 1
            g.lag_s.append(now - record[T_PRODUCED])
        if self.config.complete_when in (None, g.name):
            record[LEFT] -= 1
            if record[LEFT] == 0:
                req = record[REQ]
                if not failed:
                    self.completion_s.append(now - req.t0)
                reply = record[REPLY]
                if reply is not None:
                    record[REPLY] = None
                    if failed:  # dead-lettered: its last processing failure's fault, if any, stays named
                        note_failure(self.env, req, CAUSE_DEAD_LETTER, self.name, inherit=True)
                    reply(ERROR if failed else OK)
        self._moved(p)

    def recover(self) -> None:
        """The log is durable: after a broker crash, delivery goes on from the committed offsets."""
        super().recover()
        for g in self.groups.values():
            for w in range(g.config.workers):
                self._dispatch(g, w)

    def effect(self, group: str, record: list) -> None:
        """A group's processing of a message took effect; a second time for the same group is a duplicate."""
        bit = self.groups[group].bit
        if record[EFFECTS] & bit:
            self.duplicates += 1
            self.groups[group].duplicates += 1
        record[EFFECTS] |= bit

    # --- metrics --------------------------------------------------------------------------------
    def stats(self, elapsed_s: float) -> dict[str, Any]:
        n = self.config.partitions
        groups = {}
        for name, g in self.groups.items():
            consumer = self.consumers[name]
            groups[name] = {
                "workers": g.config.workers,
                "idle_workers": max(0, g.config.workers - n),
                "consumed": g.consumed,
                "failures": g.failures,
                "redeliveries": g.redeliveries,
                "duplicates": g.duplicates,
                "dead_lettered": g.dead_lettered,
                "lost_to_retention": g.lost,
                "lag_s": percentiles(g.lag_s),
                "utilization": consumer.utilization(elapsed_s),
                "backlog": sum(self.end[p] - g.committed[p] - g.skipped[p] for p in range(n)),
            }
        return {
            "type": self.type_name,
            "partitions": n,
            "ack": self.config.ack,
            "produced": self.produced,
            "backlog": sum(self.backlog(p) for p in range(n)),
            "backlog_max": self.backlog_total_max,
            "backlog_max_per_partition": list(self.backlog_max),
            "duplicates": self.duplicates,
            "dead_lettered": sum(g.dead_lettered for g in self.groups.values()),
            "dropped_retention": self.dropped_retention,
            "completion_latency_s": percentiles(self.completion_s),
            "consumer_groups": groups,
        }

    def sample(self) -> dict[str, float]:
        out = {"backlog": float(sum(self.backlog(p) for p in range(self.config.partitions)))}
        for p in range(self.config.partitions):
            out[f"backlog.p{p}"] = float(self.backlog(p))
        return out

    def offered(self, rate_per_s: float, system: Any) -> None:
        for name in self.groups:
            system.offer(f"{self.name}.{name}", rate_per_s)
