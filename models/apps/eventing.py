"""Event-driven applications: handlers of events that a message queue's consumer groups deliver.

The saga and CQRS models (`saga.py`, `cqrs.py`) use dsim's own `queue` component as the event bus:
a service publishes an event with a `Call` to the queue (its payload in `data`, the entity's id as
the key, so an entity's events stay in order in one partition), and each consumer group whose
`target` is the application delivers it to the handler named by the group's `operation`:
`on_<operation>(delivery)`. Delivery is the queue's own (at-least-once, in order per partition,
redelivered after a consumer crash, retried after `retry_delay` while the handler answers an error),
so the handlers must be idempotent, as real ones must.

A handler here may be a generator (it makes calls to the service's server and database, then
publishes the next event): the delivery is acknowledged with the generator's return value when it
ends, so the consumer's worker is held meanwhile, as a real consumer's is.
"""
from __future__ import annotations

from types import GeneratorType
from typing import Any, Callable, Generator

from models.apps.behaviour import Application
from models.message_queue import REQ
from simulator.engine.request import ERROR, OK, Request


def payload(req: Request) -> Any:
    """The data an event was published with, from the delivery a consumer group makes of it."""
    record = getattr(req, "record", None)  # a queue's Delivery: the stored message holds the producer's call
    if record is not None:
        return getattr(record[REQ], "data", None)
    return getattr(req, "data", None)


class EventApplication(Application):
    """An application whose `on_<op>` handlers may be generators (answered when they end)."""

    # The operations consumer groups may deliver to this application (subclasses list them).
    handled: tuple[str, ...] = ()

    def handle(self, req: Request, reply: Callable[[int], None]) -> None:
        handler = getattr(self, f"on_{req.op}", None)
        if handler is None:
            raise NotImplementedError(f"{type(self).__name__} has no on_{req.op} for calls to it")
        result = handler(req)
        if isinstance(result, GeneratorType):
            proc = self.env.process(result)
            proc.callbacks.append(lambda ev: reply(OK if ev.value is None else ev.value))
        else:
            reply(OK if result is None else result)

    def consumers(self, system: Any, topic: str) -> dict[str, str]:
        """The consumer groups of queue `topic` that deliver to this application: {operation: the
        group's component name} (`bus_problems` checked them when the scenario loaded)."""
        queue = system.get(topic)
        return {gc.operation: f"{topic}.{group}" for group, gc in queue.config.consumer_groups.items()
                if gc.target == self.name}

    def publish_until_stored(self, call: Any, key: Any, data: Any, retry_s: float,
                             retries: Any = None) -> Generator:
        """Publish an event, again every `retry_s` until the bus stores it (a transactional outbox:
        the state change is committed, so its event must go out however long the bus is away).
        A lost acknowledgement makes a second copy: consumers are idempotent."""
        while True:
            outcome = yield call(key=key, data=data)
            if outcome == OK:
                return OK
            if retries is not None:
                retries.add()
            yield self.sleep(retry_s)


def bus_problems(name: str, topics: list[tuple[tuple, str]], handled: tuple[str, ...], sc: Any,
                 where: tuple = ("topics",)) -> list[tuple[tuple, str]]:
    """What is wrong with application `name`'s event bus in scenario `sc` (for `cross_check`):
    `topics` are (place under the application, queue name); every consumer group delivering to the
    application must name one of the `handled` operations, and each of them must be delivered (else
    a problem at `where`, under the application)."""
    problems: list[tuple[tuple, str]] = []
    delivered: set[str] = set()
    for place, topic in topics:
        cfg = sc.components.get(topic)
        if cfg is None:
            continue  # an unknown name is reported by the reference check
        if cfg.type != "queue":
            problems.append((("components", name) + place, f"'{topic}' is a {cfg.type}, expected a queue "
                             f"(type: queue) used as the event bus"))
            continue
        for group, gc in cfg.consumer_groups.items():
            if gc.target != name:
                continue
            if gc.operation not in handled:
                problems.append((("components", topic, "consumer_groups", group, "operation"),
                                 f"a group delivering to '{name}' names the handler of its events, one of: "
                                 f"{', '.join(handled)} (got {gc.operation!r})"))
            delivered.add(gc.operation)
    missing = [op for op in handled if op not in delivered]
    if missing and not problems:
        problems.append((("components", name) + where, f"no consumer group delivers {', '.join(missing)} to "
                         f"'{name}': give the queues a consumer group with target: {name} and "
                         f"operation: {missing[0]}"))
    return problems


__all__ = ["EventApplication", "payload", "ERROR", "OK"]
