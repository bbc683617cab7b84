"""When a message queue answers the producer: pluggable strategy objects (`ack:` of a `queue`).

A mode is built once with its queue and asked `hold(reply)` for every message stored: it returns
the reply to keep on the message (answered when the message completes) or None, and then the queue
answers the producer at once.
"""
from __future__ import annotations

from typing import Any

from simulator.engine.request import Reply
from simulator.language import registry


class AckMode:
    """Base: override `hold(reply)` -> the reply to answer on completion, or None to answer now."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def hold(self, reply: Reply) -> Reply | None:
        raise NotImplementedError


@registry.queue_ack_modes.register("on_enqueue")
class OnEnqueue(AckMode):
    """The producer is answered once the message is stored (the asynchronous pattern)."""

    def hold(self, reply):
        return None


@registry.queue_ack_modes.register("on_complete")
class OnComplete(AckMode):
    """The producer is answered once the consumer groups have processed the message."""

    def hold(self, reply):
        return reply
