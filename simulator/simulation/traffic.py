"""The offered-load estimate: how many calls a second reach each component, from the workloads' mean
rates and every component's routing (`Component.offered`, which accounts its own load and passes
calls on through `System.offer`).

First a walk of the call trees, depth first in the order the components pass calls on (an explicit
stack: a deep tree or a loop cannot exhaust Python's recursion). A call that loops back with some
probability makes a geometric series: below a millionth of a request per second the rest is dropped.
A loop that fades too slowly (or whose fan-out makes it grow) does not finish within MAX_WALK_STEPS;
then the traffic equations are solved instead: every (component, operation mix) pair is a state,
`offered(1)` gives its routing row, and visits = external (I - P^T)^-1. A routing matrix whose
spectral radius reaches 1 means the expected number of visits per request is unbounded: those
components' load is infinite and the loop is named.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

MAX_WALK_STEPS = 100_000
MAX_STATES = 2_000
MIN_RATE_PER_S = 1e-6


class _WalkTooLong(Exception):
    pass


def _mix_key(mix: dict[str, float] | None) -> tuple | None:
    return None if mix is None else tuple(sorted(mix.items()))


class Traffic:
    """Collects the calls `Component.offered` passes on (through `System.offer`) and walks or solves them."""

    def __init__(self, system: Any) -> None:
        self.system = system
        self.pushed: list[tuple[str, float, dict[str, float] | None]] | None = None
        self.unbounded: list[str] = []  # components on a loop whose expected visits are unbounded

    def offer(self, name: str, rate_per_s: float, mix: dict[str, float] | None) -> None:
        item = (name, rate_per_s, self.system.offer_mix if mix is None else mix)
        if self.pushed is not None:  # inside a component's `offered`: queue it
            if rate_per_s > 0:
                self.pushed.append(item)
            return
        if rate_per_s > MIN_RATE_PER_S:  # also false for NaN
            self._walk(item)

    def _visit(self, name: str, rate_per_s: float, mix: dict[str, float] | None) -> list:
        system = self.system
        self.pushed = []
        outer = system.offer_mix
        system.offer_mix = mix
        try:
            system.get(name).offered(rate_per_s, system)
            return self.pushed
        finally:
            self.pushed = None
            system.offer_mix = outer

    def _walk(self, item: tuple) -> None:
        stack = [item]
        steps = 0
        while stack:
            steps += 1
            if steps > MAX_WALK_STEPS:
                raise _WalkTooLong
            children = self._visit(*stack.pop())
            stack.extend(c for c in reversed(children) if c[1] > MIN_RATE_PER_S)

    def estimate(self, entries: list[tuple[str, float, dict[str, float]]]) -> dict[str, float]:
        """Offered load per component for the workloads' (target, rate, mix) entries."""
        system = self.system
        system.load_estimate = {}
        self.unbounded = []
        try:
            for name, rate, mix in entries:
                self.offer(name, rate, mix)
        except _WalkTooLong:
            system.load_estimate = self._solve(entries)
        return system.load_estimate

    def _solve(self, entries: list[tuple[str, float, dict[str, float]]]) -> dict[str, float]:
        system = self.system
        index: dict[tuple, int] = {}
        states: list[tuple[str, dict[str, float] | None]] = []
        rows: list[list[tuple[int, float]]] = []
        loads: list[dict[str, float]] = []

        def state(name: str, mix: dict[str, float] | None) -> int:
            key = (name, _mix_key(mix))
            i = index.get(key)
            if i is None:
                if len(states) >= MAX_STATES:
                    raise _WalkTooLong
                i = index[key] = len(states)
                states.append((name, mix))
            return i

        external = {}
        for name, rate, mix in entries:
            i = state(name, mix)
            external[i] = external.get(i, 0.0) + rate
        done = 0
        while done < len(states):
            name, mix = states[done]
            system.load_estimate = {}
            pushed = self._visit(name, 1.0, mix)
            loads.append(system.load_estimate)
            rows.append([(state(t, m), r) for t, r, m in pushed])
            done += 1
        n = len(states)
        p = np.zeros((n, n))
        for i, row in enumerate(rows):
            for j, r in row:
                p[i, j] += r
        e = np.zeros(n)
        infinite = np.zeros(n, dtype=bool)
        for i, rate in external.items():
            if math.isinf(rate):
                infinite[i] = True
            else:
                e[i] = rate
        reach = _reachability(p > 0)
        loaded = _reached(reach, e > 0, infinite)
        growing = np.zeros(n, dtype=bool)  # loops (strongly connected states) whose visits never fade
        seen = np.zeros(n, dtype=bool)
        for i in np.nonzero(np.diag(reach) & loaded)[0]:
            if seen[i]:
                continue
            loop = reach[i] & reach[:, i]
            seen |= loop
            if max(abs(np.linalg.eigvals(p[np.ix_(loop, loop)]))) >= 1.0 - 1e-9:
                growing |= loop
        # Everything downstream of such a loop or of an infinite rate has infinite load.
        sources = growing | infinite
        inf_state = sources | (reach[sources].any(axis=0) if sources.any() else np.zeros(n, dtype=bool))
        visits = np.zeros(n)
        solve = loaded & ~inf_state
        if solve.any():
            a = np.eye(int(solve.sum())) - p[np.ix_(solve, solve)].T
            visits[solve] = np.linalg.solve(a, e[solve])
        visits[inf_state] = math.inf
        self.unbounded = sorted({states[i][0] for i in np.nonzero(growing)[0]})
        out: dict[str, float] = {}
        for i, v in enumerate(visits):
            if v == 0:
                continue
            for comp, per_unit in loads[i].items():
                out[comp] = out.get(comp, 0.0) + (v * per_unit if per_unit else 0.0)
        return out


def _reachability(adj: np.ndarray) -> np.ndarray:
    """reach[i, j]: j can be reached from i in one or more steps."""
    reach = adj.copy()
    while True:
        nxt = reach | ((reach.astype(np.int64) @ reach.astype(np.int64)) > 0)
        if (nxt == reach).all():
            return reach
        reach = nxt


def _reached(reach: np.ndarray, finite_src: np.ndarray, inf_src: np.ndarray) -> np.ndarray:
    """States that receive any load at all: a source, or reachable from one."""
    src = finite_src | inf_src
    return src | (reach[src].any(axis=0) if src.any() else np.zeros(src.size, dtype=bool))
