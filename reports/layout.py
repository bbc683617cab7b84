"""Tables that fit the terminal without cutting a figure.

rich shrinks a table wider than the console by cutting cells ("80,2…"). Instead, a table too wide
is split into several narrower ones, each repeating the first column when it names the row (a
variant, a component), so every figure stays whole. Number columns never wrap; text columns (names,
descriptions) fold rather than lose characters.
"""
from __future__ import annotations

from rich.console import Console, RenderableType
from rich.table import Column, Table
from rich.text import Text

MAX_NAME_WIDTH = 24  # a longer name folds onto a second line rather than widening every split table
_BORDER = 3  # per column: one space of padding each side and a rule


def _cell_width(cell: object) -> int:
    if isinstance(cell, Text):
        text = cell
    elif isinstance(cell, str):
        text = Text.from_markup(cell)
    else:
        return 0
    return max((Text(line).cell_len for line in text.plain.split("\n")), default=0)


def _header_width(header: object) -> int:
    """Headers wrap between words: the longest word is the least a column needs."""
    plain = Text.from_markup(header).plain if isinstance(header, str) else str(header)
    return max((len(w) for w in plain.split()), default=0)


def _is_text(col: Column) -> bool:
    """Left-aligned columns hold names and descriptions, which may wrap; figures are right-aligned."""
    return col.justify in ("left", "default")


def column_widths(table: Table, name_cap: int | None = None) -> list[int]:
    """The width each column needs to show its header words and every cell whole (text columns
    at most `name_cap`: they wrap)."""
    widths = []
    for col in table.columns:
        need = max([_header_width(col.header)] + [_cell_width(c) for c in col.cells])
        widths.append(min(need, name_cap) if name_cap and _is_text(col) else need)
    return widths


def table_width(widths: list[int]) -> int:
    return sum(w + _BORDER for w in widths) + 1


def _wrap(header: str, width: int) -> str:
    lines: list[str] = []
    for word in header.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


def _copy(table: Table, columns: list[int], widths: list[int], wrap_headers: bool) -> Table:
    """A table of some of `table`'s columns, without title or caption (printed apart, full width)."""
    out = Table(show_header=table.show_header, box=table.box)
    cols = table.columns
    for i in columns:
        c = cols[i]
        text = _is_text(c)
        # A figure column does not wrap, so its header is broken between words here, to its width.
        head = c.header if text or not wrap_headers or not isinstance(c.header, str) else _wrap(c.header, widths[i])
        out.add_column(head, justify=c.justify, style=c.style, header_style=c.header_style,
                       no_wrap=not text, overflow="fold", min_width=widths[i])
    cells = [list(cols[i].cells) for i in columns]
    for r, row in enumerate(table.rows):
        out.add_row(*(cells[k][r] for k in range(len(columns))), style=row.style, end_section=row.end_section)
    return out


def _groups(widths: list[int], key: list[int], width: int) -> list[list[int]]:
    """Columns in order, as few groups as fit `width`, each starting with the key columns."""
    groups: list[list[int]] = []
    current = list(key)
    for i in range(len(key), len(widths)):
        if len(current) > len(key) and table_width([widths[j] for j in current + [i]]) > width:
            groups.append(current)
            current = list(key)
        current.append(i)
    groups.append(current)
    return groups


def fit(table: Table, width: int) -> list[RenderableType]:
    """`table` as one or more tables no wider than `width`, no figure cut, its title before them
    and its caption after them as text wrapped to the full width.

    Tried in turn: the table as it is; with headers broken between words; with long names
    wrapping; then split by columns. The first column is repeated in each part when it is text
    (it names the rows); otherwise (a row of figures) the parts simply follow each other.
    """
    cols = table.columns
    if not cols:
        return [table]
    key = [0] if _is_text(cols[0]) and len(cols) > 1 else []
    full = [max(w, Text.from_markup(c.header).cell_len if isinstance(c.header, str) else 0)
            for w, c in zip(column_widths(table), cols)]
    attempts = [(full, False), (column_widths(table), True), (column_widths(table, MAX_NAME_WIDTH), True)]
    for widths, wrap in attempts:
        if table_width(widths) <= width:
            groups = [list(range(len(cols)))]
            break
    else:
        groups = _groups(widths, key, width)
    out: list[RenderableType] = []
    for n, group in enumerate(groups):
        title = _part_title(table.title, n + 1, len(groups))
        if title:
            out.append(_text(title, table.title_style))
        out.append(_copy(table, group, widths, wrap))
    if table.caption:
        out.append(_text(table.caption, table.caption_style))
    return out


def _text(markup: object, style: object) -> RenderableType:
    if isinstance(markup, str):
        text = Text.from_markup(markup)
        text.stylize(style or "")
        return text
    return markup  # already a renderable


def _part_title(title: object, n: int, total: int) -> object:
    """The whole title on the first part; the later ones say which part of what they are."""
    if not title or not isinstance(title, str):
        return title if n == 1 else None
    if total == 1:
        return title
    if n == 1:
        return f"{title} (part 1 of {total})"
    short = Text.from_markup(title).plain.split(" (")[0].split(":")[0].strip()
    return f"{short} (part {n} of {total})"


def print_fitted(tables: list[Table], console: Console) -> None:
    """Print each table at the console's width, split where it would not fit."""
    for table in tables:
        for part in fit(table, console.width):
            console.print(part)
