"""The per-attempt timeout: one attempt is answered `timed_out` after `timeout` (the caller's
deadline, the workload's or step's own `timeout`, bounds the whole call, retries included)."""
from __future__ import annotations

from typing import Any

from simulator.engine.request import CAUSE_CALL_TIMEOUT, Deadlines, Reply, Request
from simulator.language import registry


@registry.call_policies.register("timeout")
class AttemptTimeout:
    """Per attempt: give up on one attempt after this long (retries, if any, then try again)."""

    def __init__(self, timeout_s: float, inner: Any, env: Any, label: str) -> None:
        self.inner = inner
        # One FIFO queue for every attempt of this call site: equal timeouts expire in order.
        self.deadlines = Deadlines(env, timeout_s, (CAUSE_CALL_TIMEOUT, label))
        self.timeout_s = timeout_s

    def send(self, req: Request, reply: Reply) -> None:
        once = self.deadlines.wrap(reply)
        once.rid = req.id  # which request a timeout fails (its record's cause)
        self.inner(req, once)

    def stats(self) -> dict[str, Any]:
        return {"timeout_s": self.timeout_s}

    def reset_stats(self) -> None:
        pass
