"""A small EDN reader and writer: the subset Jepsen writes in its histories.

Supported: `nil`, `true`/`false`, integers, floats, strings (with `\\" \\\\ \\n \\t \\r` escapes),
keywords (`:invoke`, `:jepsen.history/ok`), symbols, vectors `[..]`, lists `(..)`, maps `{..}`, sets
`#{..}`, `;` comments, commas as whitespace, and the `#tag value` form (the tag is dropped: Jepsen's
`#jepsen.history.Op{...}` records read as their maps). Keywords read as `Keyword` (a `str` subclass,
so `Keyword("ok") == "ok"` and it can be a dict key) so the writer can put the colon back; vectors
and lists read as Python lists, maps as dicts, sets as frozensets.
"""
from __future__ import annotations

import re
from typing import Any, Iterator


class Keyword(str):
    """An EDN keyword (`:write`), held without its colon."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f":{str(self)}"


class Symbol(str):
    """An EDN symbol other than nil/true/false (kept as text)."""

    __slots__ = ()


class EdnError(ValueError):
    """Text that is not EDN this reader understands; `line` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        self.message = message
        self.line = line
        super().__init__(f"line {line}: {message}")


_FAST = re.compile(r"""
    "(?:[^"\\]|\\.)*"       # a string
  | "                        # an unterminated one (an error)
  | \#\{ | [\[\](){}]         # brackets
  | ;[^\n]*                  # a comment
  | \n                       # newlines, to count lines
  | [^\s,\[\](){}";]+         # an atom or a tag
""", re.VERBOSE)
_INT = re.compile(r"[+-]?\d+N?$")
_FLOAT = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?$")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
_CLOSER = {"[": "]", "(": ")", "{": "}", "#{": "}"}


def _unescape(body: str, line: int) -> str:
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2:i + 6]):
                out.append(chr(int(body[i + 2:i + 6], 16)))
                i += 6
                continue
            raise EdnError(f"unknown escape \\{nxt} in a string", line)
        out.append(c)
        i += 1
    return "".join(out)


def _atom(text: str, line: int) -> Any:
    if text == "nil":
        return None
    if text == "true":
        return True
    if text == "false":
        return False
    if text.startswith(":"):
        if len(text) == 1:
            raise EdnError("a keyword needs a name after ':'", line)
        return Keyword(text[1:])
    if _INT.match(text):
        return int(text.rstrip("N"))
    if _FLOAT.match(text):
        return float(text.rstrip("M"))
    if text.startswith("\\"):
        return text[1:]  # a character literal: rare in histories, read as a one-character string
    return Symbol(text)


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text

    def values(self) -> Iterator[tuple[Any, int]]:
        """Each top-level value with the line it starts on."""
        # One findall (token strings, no match objects) and a dispatch on the first character, atoms
        # cached: histories are large (a 100,000-operation history is 200,000 maps) and made of the
        # same few keywords. Whitespace and commas are skipped by the pattern; newlines are tokens
        # so lines can be counted.
        stack: list[tuple[str, list, int]] = []  # (opener, items, line)
        atoms: dict[str, Any] = {}
        line = 1
        for tok in _FAST.findall(self.text):
            c = tok[0]
            if c == "\n":
                line += 1
                continue
            if c in "[({" or tok == "#{":
                stack.append((tok, [], line))
                continue
            if c in "])}":
                if not stack:
                    raise EdnError(f"unexpected {tok!r}", line)
                opener, items, start = stack.pop()
                if _CLOSER[opener] != tok:
                    raise EdnError(f"{opener!r} opened on line {start} closed by {tok!r}", line)
                value = self._collection(opener, items, start)
            elif c == '"':
                if len(tok) == 1:  # the pattern's lone quote: a string never closed
                    raise EdnError("unterminated string", line)
                value, start = (_unescape(tok[1:-1], line) if "\\" in tok else tok[1:-1]), line
                line += tok.count("\n")
            elif c == ";" or (c == "#" and len(tok) > 1 and tok[1].isalpha()):
                continue  # a comment; a tag (#jepsen.history.Op): the value that follows is read as it is
            else:
                try:
                    value = atoms[tok]
                except KeyError:
                    value = atoms[tok] = _atom(tok, line)
                start = line
            if stack:
                stack[-1][1].append(value)
            else:
                yield value, start
        if stack:
            opener, _, start = stack[-1]
            raise EdnError(f"{opener!r} opened on line {start} is never closed", line)

    @staticmethod
    def _collection(opener: str, items: list, line: int) -> Any:
        if opener in "[(":
            return items
        if opener == "#{":
            return frozenset(_hashable(v) for v in items)
        if len(items) % 2:
            raise EdnError("a map needs an even number of forms (key value pairs)", line)
        return {_hashable(items[i]): items[i + 1] for i in range(0, len(items), 2)}


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def loads_all(text: str) -> Iterator[tuple[Any, int]]:
    """Every top-level EDN value in `text`, each with its 1-based starting line."""
    return _Reader(text).values()


def loads(text: str) -> Any:
    """The one EDN value in `text` (None when there is none)."""
    values = list(loads_all(text))
    if len(values) > 1:
        raise EdnError("more than one value", values[1][1])
    return values[0][0] if values else None


def dumps(value: Any) -> str:
    """`value` as EDN: Keyword -> `:k`, str -> string, list/tuple -> vector, dict -> map, None -> nil."""
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Keyword):
        return f":{str(value)}"
    if isinstance(value, Symbol):
        return str(value)
    if isinstance(value, str):
        body = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") \
            .replace("\r", "\\r")
        return f'"{body}"'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{dumps(k)} {dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (set, frozenset)):
        return "#{" + " ".join(dumps(v) for v in value) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(dumps(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as EDN")
