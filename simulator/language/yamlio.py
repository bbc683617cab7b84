"""YAML loading that never lies: line numbers for every key, duplicate keys rejected, and the
YAML 1.1 traps closed (`no` stays a string, `010` is ten, timestamps stay text).
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from simulator.language.errors import ScenarioError


class LineMap:
    """1-based line of each mapping key and sequence item, by path tuple."""

    def __init__(self) -> None:
        self.lines: dict[tuple, int] = {}

    def line_of(self, path: tuple | list) -> int | None:
        path = tuple(path)
        while True:
            line = self.lines.get(path)
            if line is not None or not path:
                return line
            path = path[:-1]


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2-like scalars (its own resolver table, the global one untouched)."""


_Loader.yaml_implicit_resolvers = {}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))
_Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
_Loader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])


MAX_DIGITS = 100  # far beyond any limit; Python refuses to convert more than 4300 digits anyway


def _int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = loader.construct_scalar(node)
    if len(text) > MAX_DIGITS:
        raise yaml.constructor.ConstructorError(None, None, f"a whole number of more than {MAX_DIGITS} digits",
                                                node.start_mark)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)  # '010' is ten, as a person reads it


_Loader.add_constructor("tag:yaml.org,2002:int", _int)


_CALL_START = re.compile(r"[A-Za-z_][\w-]*\(")


def _quote_calls(text: str) -> str:
    """Quote compact forms such as `uniform(min=1ms, max=2ms)` outside quotes and comments.

    In a YAML flow mapping (`{a: 1, b: 2}`) a comma ends a plain scalar, so the compact form would
    be cut in two; quoting it first lets people write it the natural way everywhere.
    """
    out_lines = []
    for line in text.split("\n"):
        if "(" not in line or "," not in line:
            out_lines.append(line)
            continue
        out, i, quote = [], 0, None
        while i < len(line):
            ch = line[i]
            if quote:
                out.append(ch)
                if ch == quote:
                    quote = None
                i += 1
                continue
            if ch in "'\"":
                quote = ch
            elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
                out.append(line[i:])
                break
            m = _CALL_START.match(line, i) if (i == 0 or not (line[i - 1].isalnum() or line[i - 1] in "_-")) else None
            if m:
                depth, j = 0, m.end() - 1
                while j < len(line):
                    if line[j] == "(":
                        depth += 1
                    elif line[j] == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                call = line[i:j + 1]
                if depth == 0 and "," in call and "'" not in call:
                    out.append(f"'{call}'")
                    i = j + 1
                    continue
            out.append(ch)
            i += 1
        out_lines.append("".join(out))
    return "\n".join(out_lines)


# Bounds on what a YAML text may build, checked on the node graph before any Python object is made:
# aliases can make a small text expand to billions of values (the "billion laughs"), and deep
# nesting exhausts the recursion of every layer that walks the data.
MAX_DEPTH = 64
MAX_VALUES = 1_000_000


def _reader_error(exc: yaml.reader.ReaderError, text: str, filename: str | None) -> ScenarioError:
    line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
    char = exc.character
    code = ord(char) if isinstance(char, str) else char
    shown = f"#x{code:04x}" if isinstance(code, int) else repr(char)
    return ScenarioError(f"could not parse YAML: the control character {shown} is not allowed (write it escaped "
                         f"inside double quotes)", file=filename, line=line)


def _flow_depth_check(text: str, filename: str | None) -> None:
    """Refuse `[[[[...` / `{{{{...` nested beyond MAX_DEPTH before PyYAML scans it: its scanner
    spends time quadratic in the flow depth before its composer runs out of recursion."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth, quote, line = 0, None, 1
    for i, ch in enumerate(text):
        if ch == "\n":
            line += 1
            if quote == "#" or depth == 0:
                quote = None  # a line ends a comment (and a quote outside [...] or {...})
        elif quote == "#":
            continue
        elif quote:
            if ch == quote:
                quote = None
        elif ch in "'\"" and (i == 0 or not text[i - 1].isalnum()):
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t\n"):
            quote = "#"
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ScenarioError(f"nested too deeply (more than {MAX_DEPTH} levels)", file=filename, line=line)
        elif ch in "]}":
            depth = max(0, depth - 1)


def _compose(text: str, filename: str | None) -> yaml.Node | None:
    _flow_depth_check(text, filename)
    try:
        node = yaml.compose(_quote_calls(text), Loader=_Loader)
    except RecursionError:
        raise ScenarioError(f"could not parse YAML: nested too deeply (at most {MAX_DEPTH} levels)",
                            file=filename) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, filename) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise ScenarioError(f"could not parse YAML: {problem}", file=filename,
                            line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"could not parse YAML: {' '.join(str(exc).split())}", file=filename) from None
    if node is not None:
        _check_size(node, filename)
    return node


def _check_size(root: yaml.Node, filename: str | None) -> None:
    """Refuse nesting deeper than MAX_DEPTH and aliases expanding to more than MAX_VALUES values,
    visiting each node once (an alias is the same node object as its anchor)."""
    sizes: dict[int, tuple[int, int]] = {}  # id -> (values, levels) once expanded
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # iterative post-order: a node's children are measured before the node itself
        node, children_done = stack.pop()
        if id(node) in sizes and not children_done:
            continue
        kids = [k for pair in node.value for k in pair] if isinstance(node, yaml.MappingNode) else \
            node.value if isinstance(node, yaml.SequenceNode) else []
        if not children_done:
            sizes[id(node)] = (1, 1)  # seen; an alias cycling back to an ancestor counts once
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
            continue
        measured = [sizes.get(id(k), (1, 1)) for k in kids]
        total = 1 + sum(n for n, _d in measured)
        depth = 1 + max((d for _n, d in measured), default=0)
        where = node.start_mark.line + 1
        if depth > MAX_DEPTH:
            raise ScenarioError(f"nested too deeply (more than {MAX_DEPTH} levels)", file=filename, line=where)
        if total > MAX_VALUES:
            raise ScenarioError(f"expands to more than {MAX_VALUES:,} values (through aliases, or simply too large)",
                                file=filename, line=where)
        sizes[id(node)] = (total, depth)


def _walk(node: yaml.Node, path: tuple, lines: LineMap, filename: str | None, visited: set[int]) -> None:
    if id(node) in visited:  # an alias: its anchor's lines are already known (and it may be expanded often)
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise ScenarioError("a key must be a plain name, not a list or a mapping", file=filename,
                                    path=path, line=line)
            if key == "<<":
                continue
            if key in seen:
                raise ScenarioError(f"duplicate key '{key}' (first defined on line {seen[key]})",
                                    file=filename, path=path + (key,), line=line)
            seen[key] = line
            lines.lines.setdefault(path + (key,), line)
            _walk(value_node, path + (key,), lines, filename, visited)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.lines.setdefault(path + (i,), item.start_mark.line + 1)
            _walk(item, path + (i,), lines, filename, visited)


def load_yaml(text: str, filename: str | None = None) -> tuple[Any, LineMap]:
    """Plain data and a map of line numbers; raises ScenarioError on bad or empty YAML."""
    node = _compose(text, filename)
    if node is None:
        raise ScenarioError("the file is empty", file=filename)
    lines = LineMap()
    _walk(node, (), lines, filename, set())
    loader = _Loader("")
    try:
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ScenarioError(f"could not parse YAML: {getattr(exc, 'problem', exc)}", file=filename,
                            line=mark.line + 1 if mark else None) from None
    finally:
        loader.dispose()
    return data, lines


def parse_scalar(text: str) -> Any:
    """A command-line value read as YAML: '4' -> 4, 'no' -> 'no', '[a, b]' -> ['a', 'b'].
    Text that is not YAML stays text; a value too deep or too large raises ScenarioError."""
    try:
        node = _compose(text, None)
    except ScenarioError as exc:
        if "could not parse YAML" in exc.message and "nested too deeply" not in exc.message:
            return text
        raise
    if node is None:
        return None
    loader = _Loader("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError:
        return text
    finally:
        loader.dispose()


class _Dumper(yaml.SafeDumper):
    pass


_AMBIGUOUS = re.compile(r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|[-+]?0[0-9_]+|[0-9_:]+)$")


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Quote strings that a YAML 1.1 reader would take for booleans or octal numbers.
    style = "'" if _AMBIGUOUS.match(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
