"""Exception types the library raises; the CLI maps them to exit codes.

`ScenarioError` is for bad input: it carries where the problem is (file, key path, line) and what
was expected, so the CLI can print one clear line instead of a traceback.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class DsimError(Exception):
    """Base class of every error dsim raises on purpose."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' suffix when a close match exists, else ''."""
    names = {str(c).lower(): str(c) for c in choices}  # LRU -> lru: case is a typo too
    match = difflib.get_close_matches(str(word).lower(), list(names), n=1, cutoff=0.6)
    return f" (did you mean '{names[match[0]]}'?)" if match else ""


def format_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class ScenarioError(DsimError):
    """A scenario (file or override) that cannot be used as written."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        path: Sequence[str | int] = (),
        line: int | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.path = tuple(path)
        self.line = line
        super().__init__(str(self))

    def located(self, file: str | None = None, line: int | None = None) -> "ScenarioError":
        return ScenarioError(
            self.message,
            file=self.file or file,
            path=self.path,
            line=self.line if self.line is not None else line,
        )

    def __str__(self) -> str:
        where = self.file or "<scenario>"
        if self.line is not None:
            where += f":{self.line}"
        key = format_path(self.path)
        return f"{where}: {key + ': ' if key else ''}{self.message}"


class ScenarioErrors(ScenarioError):
    """Several problems found in one pass; printed one per line."""

    def __init__(self, errors: list[ScenarioError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.message, file=first.file, path=first.path, line=first.line)

    def located(self, file: str | None = None, line: int | None = None) -> "ScenarioErrors":
        return ScenarioErrors([e.located(file, line) for e in self.errors])

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)
