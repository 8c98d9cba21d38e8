"""Tables that fit the terminal without cutting what they are read for.

Rich shrinks a table too wide for the terminal by cutting cells with an ellipsis, so at
80 columns a run table shows ``2026-09…`` and ``SUCCEED…``. Here every column says what
it may give up: a *key* column (a date, a status, a state name) is never broken inside a
word, a *minor* column (a run id, a count) may fold onto more lines, a *text* column (an
error, a cause) wraps. :func:`fit_table` gives each column a width so the whole table
fits: the boxed style when it can, else a compact style with no box (two blanks between
columns, then one), else ``None`` and
the caller drops columns (saying what they held another way).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

__all__ = ["Col", "fit_table", "fitted"]

Kind = Literal["key", "minor", "text"]


@dataclass(frozen=True)
class Col:
    """One column: its header, what it may give up (``kind``) and, for a minor or text
    column, the narrowest width it folds or wraps to (``least``)."""

    header: str
    kind: Kind = "key"
    least: int = 8
    justify: Literal["left", "right"] = "left"


def _words(text: str) -> list[str]:
    """``text``'s words, the first with the indent before it (kept when wrapped)."""
    return re.findall(r"^\s*\S+|\S+", text) or [""]


def _full(col: Col, cells: Sequence[str]) -> int:
    return max(cell_len(line) for text in (col.header, *cells)
               for line in (text.splitlines() or [""]))


def _need(col: Col, cells: Sequence[str], full: int) -> int:
    if col.kind == "key":  # the longest word: wrapping between words only
        return max(cell_len(w) for text in (col.header, *cells) for w in _words(text))
    return min(full, col.least)


# the styles, most spacious first: (boxed, padding right of a cell); a compact style has
# no box but a rule under the header, its columns apart by the padding and one blank
_STYLES = ((True, 1), (False, 1), (False, 0))


def _overhead(n: int, boxed: bool, pad: int) -> int:
    """What a style adds to the columns' own widths: borders and padding."""
    return 3 * n + 1 if boxed else (n - 1) * (1 + pad)


def _widths(columns: Sequence[Col], rows: Sequence[Sequence[str]], room: int, *,
            force: bool = False) -> list[int] | None:
    """Widths that sum to at most ``room``: text columns narrowed first (the widest
    first), then minor ones, then key ones down to their longest word; ``None`` if
    even that is too wide (unless ``force``: then the narrowest widths)."""
    cells = [[row[i] for row in rows] for i in range(len(columns))]
    widths = [_full(c, cs) for c, cs in zip(columns, cells, strict=True)]
    needs = [_need(c, cs, w) for c, cs, w in zip(columns, cells, widths, strict=True)]
    if sum(needs) > room:
        return needs if force else None
    for kind in ("text", "minor", "key"):
        while sum(widths) > room:
            wider = [i for i, c in enumerate(columns)
                     if c.kind == kind and widths[i] > needs[i]]
            if not wider:
                break
            widest = max(wider, key=lambda i: widths[i] - needs[i])
            widths[widest] -= 1
    return widths


def fit_table(columns: Sequence[Col], rows: Sequence[Sequence[str]], width: int, *,
              title: str | None = None, force: bool = False) -> Table | None:
    """``rows`` (plain strings, no markup) under ``columns`` as a table at most ``width``
    characters wide with every key cell whole, or ``None`` when it cannot be (with
    ``force``, the tightest style at its narrowest instead, wider than ``width``)."""
    n = len(columns)
    for boxed, pad in _STYLES:
        last = (boxed, pad) == _STYLES[-1]
        widths = _widths(columns, rows, width - _overhead(n, boxed, pad), force=force and last)
        if widths is None:
            continue
        table = (Table(title=title) if boxed else
                 Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                       padding=(0, pad, 0, 0)))
        for col, w in zip(columns, widths, strict=True):
            table.add_column(col.header, width=w, overflow="fold", justify=col.justify)
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))
        return table
    return None


def fitted(layouts: Sequence[tuple[Sequence[Col], Sequence[Sequence[str]]]], width: int, *,
           title: str | None = None) -> tuple[int, Table]:
    """The first of ``layouts`` (columns and rows, most complete first) that fits
    ``width``, with its index; the last one, in the tightest style at its narrowest, when
    none does (it may then be wider than ``width``)."""
    for i, (columns, rows) in enumerate(layouts):
        table = fit_table(columns, rows, width, title=title)
        if table is not None:
            return i, table
    columns, rows = layouts[-1]
    table = fit_table(columns, rows, width, title=title, force=True)
    assert table is not None  # forced: the compact style always gives one
    return len(layouts) - 1, table
