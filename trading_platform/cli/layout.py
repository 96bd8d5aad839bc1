"""Tables that stay readable in a terminal of 80 columns.

Rich shrinks a table that is too wide by cutting every column down to ``2006-…``, so a name
or a timestamp, the cells a person reads first, become useless.  Instead the less important
columns are left out, one at a time, until the table fits; names wrap (fold) rather than
being cut, and times are written compactly (:func:`age` and :func:`short_time`).  What is
left out is one command away (``bots show``, ``--json``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box
from rich.console import Console
from rich.table import Table

Justify = Literal["left", "right", "center"]
UNLIMITED = 100_000


@dataclass(frozen=True)
class Column:
    header: str
    justify: Justify = "left"
    #: 0: always shown; otherwise left out when the table does not fit, highest first
    drop: int = 0
    #: wraps onto more lines instead of being cut (names, logic labels)
    fold: bool = False


def fitted_table(
    console: Console,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    title: str | None = None,
) -> Table:
    """A table of ``rows`` as wide as it needs, without the optional columns that would make
    it wider than ``console``."""
    shown = list(range(len(columns)))
    droppable = sorted((c.drop, i) for i, c in enumerate(columns) if c.drop)
    while True:
        table = _table(columns, rows, shown, title)
        # measured without a limit: a measurement within the console is clamped to its width
        natural = console.measure(table, options=console.options.update_width(UNLIMITED))
        if natural.maximum <= console.width or not droppable:
            return table
        _, index = droppable.pop()
        shown.remove(index)


def _table(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], shown: list[int], title: str | None
) -> Table:
    # one space of padding on the right of a cell, and the box's blank divider: two between columns
    table = Table(
        title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0)
    )
    for index in shown:
        column = columns[index]
        table.add_column(
            column.header,
            justify=column.justify,
            overflow="fold" if column.fold else "ellipsis",
            no_wrap=not column.fold,
        )
    for row in rows:
        table.add_row(*(row[index] for index in shown))
    return table


def age(at: dt.datetime | None, now: dt.datetime) -> str:
    """How long ago, in one short word: ``12s ago``, ``5m ago``, ``3h ago``; a time more than
    a day ago as :func:`short_time`; ``-`` for never."""
    if at is None:
        return "-"
    seconds = (now - at).total_seconds()
    if seconds < 0:
        return short_time(at)
    if seconds < 60:
        return f"{seconds:.0f}s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m ago"
    if seconds < 86400:
        return f"{seconds // 3600:.0f}h ago"
    return short_time(at)


def short_time(at: dt.datetime, with_year: bool = True) -> str:
    """``2024-11-30 14:05`` (or ``11-30 14:05``); a midnight (a daily bar) as the date only."""
    if (at.hour, at.minute, at.second) == (0, 0, 0):
        return f"{at:%Y-%m-%d}" if with_year else f"{at:%m-%d}"
    return f"{at:%Y-%m-%d %H:%M}" if with_year else f"{at:%m-%d %H:%M}"
