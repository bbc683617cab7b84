"""A link end that stands for a component: messages of a protocol of its own (heartbeats, consensus
messages, anti-entropy) reach the component over ordinary links, so every fault that names the
component, its zone or the link reaches them, without the component's `handle` learning about them."""
from __future__ import annotations

from typing import Any

from simulator.engine.request import Reply, Request


class Endpoint:
    """The far end of a link, standing for `member`: its name and zone, down or paused exactly when it
    is (a message reaching it while down is refused; while paused, held, then handled at resume).
    A subclass says what `handle` does with a message."""

    __slots__ = ("member", "name", "zone")

    def __init__(self, member: Any) -> None:
        self.member = member
        self.name, self.zone = member.name, member.zone

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def route(self, src: Any) -> "Endpoint":
        return self

    @property
    def unavailable(self) -> bool:
        return self.member.unavailable

    @property
    def may_be_unavailable(self) -> bool:
        return self.member.may_be_unavailable

    def unavailable_call(self, entry: Any, req: Request, reply: Reply) -> None:
        self.member.unavailable_call(self, req, reply)  # refused while down, held (then `handle`) while paused

    def handle(self, req: Request, reply: Reply) -> None:
        raise NotImplementedError
