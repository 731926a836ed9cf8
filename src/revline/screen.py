"""Console output readable at any width: on a terminal, a table too wide for it is printed in
column blocks that each fit, the key columns repeated in each (never "org…", never a number cut);
anywhere else (a pipe, a file, a CI log) lines are written at full width.

Why here, beside vocabulary.py: the commands, the demo summary and the ingest summary all print
Rich tables, and each layer may import this module (it imports only Rich).

Why full width off a terminal: Rich falls back to 80 columns when it cannot ask a terminal, so
`revline report > out.txt` used to cut channel names and numbers. An exported COLUMNS still wins
(the user, or a test, asked for that width).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Column, Table

# Width for output that is not a terminal: wider than any table revline prints, so nothing wraps.
# Tables are never expanded to it (Table.expand stays False): they take their natural width.
FULL_WIDTH = 1000

# A key column (channel, campaign, model) is at least as wide as its longest value, up to this;
# longer values (campaign names) wrap onto several lines inside the cell.
KEY_MAX_WIDTH = 32

# Per column: one space of padding each side and one border line; plus the table's last border.
_COLUMN_OVERHEAD = 3


def console(*, stderr: bool = False) -> Console:
    """A Rich console: the terminal's width on a terminal, FULL_WIDTH elsewhere (COLUMNS wins)."""
    c = Console(stderr=stderr)
    if c.is_terminal or os.environ.get("COLUMNS"):
        return c
    return Console(stderr=stderr, width=FULL_WIDTH)


class Readable:
    """A Rich table that fits the width it is printed at: when its natural width is more than the
    console's, its columns are split into blocks (the first `keys` columns repeated in every
    block, the title marked "continued"); a cell still too wide for its block wraps (fold), never
    ends in "…". Build with `readable(table, keys)`."""

    def __init__(self, table: Table, keys: int = 1) -> None:
        self.table = table
        self.keys = max(0, min(keys, len(table.columns)))
        for i, column in enumerate(table.columns):
            column.overflow = "fold"
            column.no_wrap = False
            if i < self.keys:
                column.min_width = max(column.min_width or 0, min(self._text_width(column), KEY_MAX_WIDTH))

    @staticmethod
    def _text_width(column: Column) -> int:
        from rich.text import Text

        texts = [*column.cells, column.header]
        return max((Text.from_markup(c).cell_len if isinstance(c, str) else 0 for c in texts), default=0)

    def _natural(self, console: Console, options: ConsoleOptions, column: Column) -> int:
        wide = options.update_width(FULL_WIDTH)
        return max((Measurement.get(console, wide, c).maximum for c in [*column.cells, column.header]), default=0)

    def blocks(self, console: Console, width: int) -> list[Table]:
        """The table as one or more tables, each at most `width` wide when its cells allow."""
        options = console.options.update_width(width)
        columns = self.table.columns
        natural = [self._natural(console, options, c) + _COLUMN_OVERHEAD for c in columns]
        base = 1 + sum(natural[: self.keys])
        if 1 + sum(natural) <= width or len(columns) <= self.keys + 1 or base + max(natural[self.keys:]) > width:
            # fits; or nothing to split; or the keys leave no room for a block: cells fold instead
            return [self.table]
        groups: list[list[int]] = [[]]
        used = base
        for i in range(self.keys, len(columns)):
            if groups[-1] and used + natural[i] > width:
                groups.append([])
                used = base
            groups[-1].append(i)
            used += natural[i]
        return [self._subtable(list(range(self.keys)) + g, n, len(groups)) for n, g in enumerate(groups)]

    def _subtable(self, indexes: Iterable[int], n: int, total: int) -> Table:
        src = self.table
        title = src.title if n == 0 or src.title is None else f"{src.title} (continued, {n + 1}/{total})"
        t = Table(title=title, title_justify=src.title_justify, box=src.box, show_lines=src.show_lines,
                  header_style=src.header_style, show_header=src.show_header,
                  caption=src.caption if n == total - 1 else None)
        cols = [src.columns[i] for i in indexes]
        for c in cols:
            t.add_column(c.header, justify=c.justify, style=c.style, header_style=c.header_style,
                         min_width=c.min_width, overflow="fold")
        for row in zip(*(list(c.cells) for c in cols)):
            t.add_row(*row)
        return t

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.blocks(console, options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.table)


def readable(table: Table, keys: int = 1) -> Readable:
    """`table`, printed readable at any width (see Readable); call after its rows are added."""
    return Readable(table, keys)
