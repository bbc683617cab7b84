"""Reading and writing histories: dsim's `history.jsonl`, Jepsen's EDN and Jepsen's log lines.

- **jsonl** (dsim): one JSON object per event, in real-time order:
  `{"process": 0, "type": "invoke", "f": "write", "key": "x", "value": 3, "time": 0.0125}`;
  `key` and `time` (seconds) may be left out (see docs/consistency.md).
- **edn** (Jepsen's `history.edn`): one map per event, `{:process 0, :type :invoke, :f :write,
  :key "x", :value 3, :time 12500000}` (`:time` in nanoseconds), or one vector of such maps.
  Events of non-client processes (`:nemesis`) are skipped.
- **log** (Jepsen's `jepsen.log`): lines `INFO  jepsen.util - 2<TAB>:invoke<TAB>:write<TAB>4`; only
  lines containing `jepsen.util - ` are events, the value is EDN.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Hashable, Iterable, Iterator

from . import edn
from .history import TYPES, Event, History, HistoryError, Op, pair

FORMATS = ("jsonl", "edn", "log")
_SUFFIX = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".edn": "edn", ".log": "log", ".txt": "log"}
_LOG_EVENT = re.compile(r"jepsen\.util\s+-\s+(.*)$")


def detect_format(path: str | Path, text: str) -> str:
    """The format from the file's suffix, or else from its first event."""
    suffix = Path(path).suffix.lower()
    if suffix in _SUFFIX:
        return _SUFFIX[suffix]
    if "jepsen.util - " in text[:10000]:
        return "log"
    start = text.lstrip()[:2]
    return "jsonl" if start.startswith('{"') or start == "{}" else "edn"


def read_history(path: str | Path, fmt: str | None = None) -> History:
    """Read and pair the history in `path` (format from `fmt`, the suffix, or the content)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HistoryError("no such file: expected a history (history.jsonl, history.edn or a jepsen log)",
                           file=source) from None
    except IsADirectoryError:
        raise HistoryError("is a directory: expected a history file", file=source) from None
    except UnicodeDecodeError as exc:
        raise HistoryError(f"not UTF-8 text (byte {exc.start}): expected a history", file=source) from None
    except OSError as exc:
        raise HistoryError(f"cannot be read ({exc.strerror})", file=source) from None
    return parse_history(text, fmt or detect_format(path, text), source)


def parse_history(text: str, fmt: str, source: str = "<history>") -> History:
    """Pair the events of `text` written in `fmt` (one of FORMATS)."""
    readers = {"jsonl": _jsonl_events, "edn": _edn_events, "log": _log_events}
    if fmt not in readers:
        raise HistoryError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}", file=source)
    skipped = [0]
    events = list(readers[fmt](text, source, skipped))
    history = pair(events, source)
    history.skipped = skipped[0]
    return history


def _name(value: Any, what: str, source: str, line: int | None) -> str:
    if isinstance(value, str):
        return str(value).lstrip(":")
    raise HistoryError(f"{what} {value!r}: expected a name such as "
                       f"{'invoke' if what == 'type' else 'write'}", file=source, line=line)


def _event(process: Any, type_: Any, f: Any, value: Any, key: Any, time: Any, index: int, line: int,
           source: str) -> Event:
    type_name = _name(type_, "type", source, line)
    if type_name not in TYPES:
        raise HistoryError(f"type {type_name!r}: expected one of {', '.join(TYPES)}", file=source, line=line)
    if time is not None and (isinstance(time, bool) or not isinstance(time, (int, float))):
        raise HistoryError(f"time {time!r}: expected a number", file=source, line=line)
    if isinstance(process, bool) or not isinstance(process, (int, str)):
        raise HistoryError(f"process {process!r}: expected an integer or a name", file=source, line=line)
    return Event(process, type_name, _name(f, "f", source, line), value, _hashable(key), time, index, line)


def _hashable(value: Any) -> Hashable:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    return value


def _jsonl_events(text: str, source: str, skipped: list[int]) -> Iterator[Event]:
    index = 0
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise HistoryError(f"not JSON ({exc.msg}, column {exc.colno}): expected one JSON object per event",
                               file=source, line=line_no) from None
        if not isinstance(obj, dict):
            raise HistoryError("expected a JSON object per line (an event)", file=source, line=line_no)
        missing = [k for k in ("process", "type", "f") if k not in obj]
        if missing:
            raise HistoryError(f"missing {', '.join(repr(m) for m in missing)}: expected an event with process, "
                               "type and f", file=source, line=line_no)
        unknown = sorted(set(obj) - {"process", "type", "f", "key", "value", "time", "index"})
        if unknown:
            raise HistoryError(f"unknown field {unknown[0]!r}: expected process, type, f, key, value, time, index",
                               file=source, line=line_no)
        yield _event(obj["process"], obj["type"], obj["f"], obj.get("value"), obj.get("key"), obj.get("time"),
                     index, line_no, source)
        index += 1


def _edn_events(text: str, source: str, skipped: list[int]) -> Iterator[Event]:
    index = 0
    try:
        values = list(edn.loads_all(text))
    except edn.EdnError as exc:
        raise HistoryError(f"{exc.message}: expected EDN maps such as {{:process 0, :type :invoke, :f :read}}",
                           file=source, line=exc.line) from None
    if len(values) == 1 and isinstance(values[0][0], list):  # one vector of all the events
        values = [(v, values[0][1]) for v in values[0][0]]
    for obj, line in values:
        if not isinstance(obj, dict):
            raise HistoryError(f"{edn.dumps(obj)[:40]}: expected a map such as {{:process 0, :type :invoke, "
                               ":f :read}}", file=source, line=line)
        missing = [k for k in ("process", "type", "f") if k not in obj]
        if missing:
            raise HistoryError(f"missing {', '.join(':' + m for m in missing)}: expected an event map with "
                               ":process, :type and :f", file=source, line=line)
        process = obj["process"]
        if isinstance(process, edn.Keyword):  # :nemesis and other non-client processes
            skipped[0] += 1
            continue
        time = obj.get("time")
        seconds = time / 1e9 if isinstance(time, (int, float)) and not isinstance(time, bool) else time
        yield _event(process, obj["type"], obj["f"], obj.get("value"), obj.get("key"), seconds, index, line, source)
        index += 1


def _log_events(text: str, source: str, skipped: list[int]) -> Iterator[Event]:
    index = 0
    for line_no, line in enumerate(text.splitlines(), 1):
        m = _LOG_EVENT.search(line)
        if m is None:
            continue
        fields = m.group(1).split("\t")
        if len(fields) < 3:
            raise HistoryError("expected process, type, function and value separated by tabs", file=source,
                               line=line_no)
        process_text, type_, f = (x.strip() for x in fields[:3])
        if process_text.startswith(":"):  # :nemesis
            skipped[0] += 1
            continue
        try:
            process = int(process_text)
        except ValueError:
            raise HistoryError(f"process {process_text!r}: expected an integer", file=source, line=line_no) from None
        try:
            value = edn.loads("\t".join(fields[3:]))
        except edn.EdnError as exc:
            raise HistoryError(f"value: {exc.message}: expected an EDN value (nil, 4, [1 0])", file=source,
                               line=line_no) from None
        yield _event(process, edn.Keyword(type_.lstrip(":")), edn.Keyword(f.lstrip(":")), value, None, None, index,
                     line_no, source)
        index += 1


# ---- writing


def events_of(history: History | Iterable[Op]) -> list[Event]:
    """The history's events again, in real-time order (an open operation gets no completion)."""
    ops = history.ops if isinstance(history, History) else list(history)
    out: list[tuple[int, int, Event]] = []
    for op in ops:
        invoke_value = None if op.f in ("read", "get") else op.value
        if op.f == "txn":
            invoke_value = [[m[0], m[1], None] if m[0] in ("r", "read") else m for m in op.value]
        out.append((op.invoke_index, 0, Event(op.process, "invoke", op.f, invoke_value, op.key, op.invoke_time,
                                              op.invoke_index)))
        if op.complete_index is not None:
            out.append((op.complete_index, 1, Event(op.process, op.type, op.f, op.value, op.key, op.complete_time,
                                                    op.complete_index)))
    out.sort(key=lambda t: (t[0], t[1]))
    return [e for _, _, e in out]


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def to_jsonl(events: Iterable[Event]) -> str:
    """Events as dsim's history.jsonl (keys left out when None)."""
    lines = []
    for e in events:
        obj: dict[str, Any] = {"process": e.process, "type": e.type, "f": e.f}
        if e.key is not None:
            obj["key"] = _plain(e.key)
        obj["value"] = _plain(e.value)
        if e.time is not None:
            obj["time"] = e.time
        lines.append(json.dumps(obj, separators=(", ", ": ")))
    return "".join(line + "\n" for line in lines)


def _edn_value(value: Any) -> Any:
    """Micro-op names and nested lists as Jepsen writes them (`[:append 1 2]`)."""
    if isinstance(value, (list, tuple)):
        items = [_edn_value(v) for v in value]
        if items and isinstance(value[0], str) and value[0] in ("append", "r", "w"):
            items[0] = edn.Keyword(value[0])
        return items
    return value


def to_edn(events: Iterable[Event]) -> str:
    """Events as Jepsen's history.edn: one map per line, `:time` in nanoseconds."""
    lines = []
    for i, e in enumerate(events):
        m: dict[Any, Any] = {edn.Keyword("index"): i, edn.Keyword("process"): e.process,
                             edn.Keyword("type"): edn.Keyword(e.type), edn.Keyword("f"): edn.Keyword(e.f)}
        if e.key is not None:
            m[edn.Keyword("key")] = _plain(e.key)
        m[edn.Keyword("value")] = _edn_value(e.value)
        if e.time is not None:
            m[edn.Keyword("time")] = int(round(e.time * 1e9))
        lines.append(edn.dumps(m))
    return "".join(line + "\n" for line in lines)
