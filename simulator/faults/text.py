"""Faults written on the command line: `dsim run --fault "crash app-1 at 30s for 10s"`.

The grammar, one fault per string:

    <type> <targets> [at <time>] [for <duration>] [key=value ...]

`<targets>` is a comma-separated list of names (`app-1,app-2`); for a fault between groups of places
(partition, latency, packet_loss, duplicate) groups are separated by `|` (`app-1,app-2|db`). Each
`key=value` sets one more field of the fault, with the value written as in YAML (`factor=4`,
`probability=20%`, `add=exponential(mean=50ms)`, `bridge=[lb]`, `one_way=true`). The result is the
same mapping a scenario's `faults:` entry would be, validated the same way.
"""
from __future__ import annotations

import shlex
from typing import Any

import yaml

from simulator.language import registry


class FaultTextError(ValueError):
    """A fault string that does not follow the grammar (one line, naming what was expected)."""


GRAMMAR = "<type> <targets> at <time> [for <duration>] [key=value ...]"


def parse_fault_text(text: str) -> dict[str, Any]:
    """The mapping (as in YAML) a command-line fault string stands for."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise FaultTextError(f"{exc}; expected {GRAMMAR}") from None
    if len(words) < 2:
        raise FaultTextError(f"expected {GRAMMAR}, e.g. 'crash app-1 at 30s for 10s'")
    kind, targets, rest = words[0], words[1], words[2:]
    try:
        cls = registry.faults.get(kind)
    except KeyError as exc:
        raise FaultTextError(str(exc)) from None
    if "=" in targets or targets in ("at", "for"):
        raise FaultTextError(f"expected the targets after '{kind}' (names separated by ',', groups by '|'), "
                             f"got {targets!r}")
    data: dict[str, Any] = {"type": kind}
    if "groups" in cls.model_fields:
        data["groups"] = [[n for n in part.split(",") if n] for part in targets.split("|")]
    else:
        data["target"] = [n for n in targets.split(",") if n]
    i = 0
    while i < len(rest):
        word = rest[i]
        if word in ("at", "for"):
            if i + 1 >= len(rest):
                raise FaultTextError(f"'{word}' needs a time after it, e.g. '{word} 30s'")
            key = "at" if word == "at" else "duration"
            if key in data:
                raise FaultTextError(f"'{word}' is given twice")
            data[key] = rest[i + 1]
            i += 2
            continue
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise FaultTextError(f"unexpected {word!r}; expected {GRAMMAR}")
        if key in ("type", "target", "groups", "at", "duration") or key in data:
            raise FaultTextError(f"'{key}' is given twice (or is set by the grammar: {GRAMMAR})")
        try:
            data[key] = yaml.safe_load(value) if value else value
        except yaml.YAMLError:
            data[key] = value
        i += 1
    return data
