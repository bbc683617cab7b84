"""The consumers of one consumer group of a message queue, as a component of their own.

The broker (`models.message_queue`) pushes each message here over the network; a worker does the
group's own work (`process_time`), calls the group's `target`, and acknowledges. A crash fails the
messages in hand: unacknowledged, they are delivered again after the recovery, and if the target
had already done the work that second processing is counted as a duplicate.
"""
from __future__ import annotations

import math
from typing import Any, Literal

from simpy.events import NORMAL

from simulator.sampling.distributions import Constant, Sampler
from simulator.engine.env import Timer
from simulator.engine.request import ERROR, OK, REJECTED, TIMED_OUT, Reply, Request

from .base import Component, ComponentConfig


class _Processed:
    """The reply of a consumer's call to its target: the effect happened (or not); acknowledge."""

    __slots__ = ("group", "d", "reply", "epoch")

    def __init__(self, group: "ConsumerGroup", d: Request, reply: Reply) -> None:
        self.group, self.d, self.reply, self.epoch = group, d, reply, group.epoch

    def __call__(self, outcome: int) -> None:
        group = self.group
        if outcome == OK:
            group.queue.effect(group.group, self.d.record)  # the target did the work, whatever happens to the ack
        if group.epoch != self.epoch:
            return  # the consumer crashed meanwhile: the broker was told, the message comes again
        group.finish(self, outcome)


class ConsumerGroup(Component):
    """The consumers of one group: process each delivered message, then acknowledge it."""

    refuse_outcome = REJECTED  # not delivered while it is down: the broker sends it again later

    type_name = "consumer_group"

    class Config(ComponentConfig):
        type: Literal["consumer_group"] = "consumer_group"

    @staticmethod
    def config_for(config: Any, group: str) -> "ConsumerGroup.Config":
        zone = config.consumer_groups[group].zone or config.zone
        return ConsumerGroup.Config(type="consumer_group", zone=zone)

    def __init__(self, env: Any, name: str, config: Any) -> None:
        super().__init__(env, name, config)
        self.queue_name, self.group = name.rsplit(".", 1)
        self.epoch = 0
        self.inflight: dict[_Processed, None] = {}
        self.busy = 0
        self._busy_area = 0.0
        self._t = env.now
        self._sample_area = 0.0
        self._sample_t = env.now

    def connect(self, system: Any) -> None:
        self.queue: Any = system.components[self.queue_name]
        gc = self.queue.config.consumer_groups[self.group]
        self.gc = gc
        self.workers = gc.workers
        self.target = system.network.link(self, system.get(gc.target)) if gc.target else None
        self.dlq = system.network.link(self, system.get(gc.dead_letter)) if gc.dead_letter else None
        self.instant = isinstance(gc.process_time, Constant) and gc.process_time.mean == 0
        self._work = Sampler(gc.process_time, self.env.streams.get(f"{self.name}/process")).next

    # --- accounting (busy = workers holding a message, from delivery to acknowledgement) --------
    def busy_change(self, delta: int) -> None:
        now = self.env._now
        self._busy_area += self.busy * (now - self._t)
        self._t = now
        self.busy += delta

    def utilization(self, elapsed_s: float) -> float | None:
        self.busy_change(0)
        return self._busy_area / (self.workers * elapsed_s) if elapsed_s else None

    def reset_stats(self) -> None:
        self.busy_change(0)
        self._busy_area = 0.0
        self._sample_area, self._sample_t = 0.0, self.env.now

    def sample(self) -> dict[str, float]:
        self.busy_change(0)
        dt = self.env.now - self._sample_t
        out = {"utilization": (self._busy_area - self._sample_area) / (self.workers * dt) if dt else math.nan}
        self._sample_area, self._sample_t = self._busy_area, self.env.now
        return out

    # --- processing -----------------------------------------------------------------------------
    def handle(self, d: Request, reply: Reply) -> None:
        token = _Processed(self, d, reply)
        self.inflight[token] = None
        if self.instant:
            self._call(token)
        else:
            self.env.schedule(Timer(self._worked, token), NORMAL, self._work() * self.slowdown)

    def _worked(self, timer: Timer) -> None:
        token = timer._value
        if token.epoch == self.epoch:
            self._call(token)

    def _call(self, token: _Processed) -> None:
        if self.target is None:
            token(OK)
        else:
            self.target.send(token.d, token)

    def finish(self, token: _Processed, outcome: int) -> None:
        self.inflight.pop(token, None)
        token.reply(OK if outcome == OK else ERROR)

    def dead_letter(self, d: Request) -> None:
        if self.dlq is not None:
            self.dlq.send(d, lambda _outcome: None)

    def crash(self) -> None:
        lost = list(self.inflight)
        self.inflight.clear()
        self.epoch += 1
        super().crash()
        for token in lost:
            token.reply(TIMED_OUT)  # never acknowledged (the broker's session with it expires): delivered again

    def stats(self, elapsed_s: float) -> dict[str, Any]:
        return {"type": self.type_name, "workers": self.workers, "utilization": self.utilization(elapsed_s)}

    def offered(self, rate_per_s: float, system: Any) -> None:
        if self.gc.target:
            system.offer(self.gc.target, rate_per_s)
