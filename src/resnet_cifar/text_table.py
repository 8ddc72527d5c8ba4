"""A table of text cells fitted to a terminal's width: the name column left-aligned, every other column
right-aligned, two spaces between columns. Where it is too wide it gives up, in order: the columns the caller names
as droppable, then the end of long names, then the other columns it may leave out (from the right), which it names
under the table."""
from __future__ import annotations

import textwrap
from collections.abc import Iterable

CUT = "~"  # ends a name cut to fit


def fit_table(columns: dict[str, list[str]], width: int, name_column: str, droppable: Iterable[str] = (),
              kept: Iterable[str] = ()) -> str:
    """`columns`: each header's cells, in order. `droppable`: left out first, in that order, while the table is
    too wide. `kept`: never left out (the name column neither); every other column may be, last."""
    columns = dict(columns)
    widths = {column: max(map(len, [column, *cells])) for column, cells in columns.items()}

    def excess() -> int:
        return sum(widths.values()) + 2 * (len(widths) - 1) - width

    for column in droppable:
        if excess() > 0 and column in widths:
            del columns[column], widths[column]
    if excess() > 0:
        keep = max(len(name_column), widths[name_column] - excess())
        columns[name_column] = [n if len(n) <= keep else n[:keep - 1] + CUT for n in columns[name_column]]
        widths[name_column] = keep
    left_out: list[str] = []
    protected = {name_column, *kept}
    for column in [c for c in reversed(list(columns)) if c not in protected]:
        if excess() > 0:
            left_out.insert(0, column)
            del columns[column], widths[column]

    def line(cells: Iterable[str]) -> str:
        return "  ".join(text.ljust(widths[c]) if c == name_column else text.rjust(widths[c])
                         for c, text in zip(columns, cells)).rstrip()

    lines = [line(columns), *(line(row) for row in zip(*columns.values()))]
    if left_out:
        lines += textwrap.wrap("(not shown, too wide: " + ", ".join(left_out) + ")", width)
    return "\n".join(lines)
