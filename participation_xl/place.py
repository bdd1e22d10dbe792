"""One model of a place in a workbook, and the only code that writes or reads references.

A place is a sheet, a cell (1-based row and column, 0 when the place is the whole sheet or
the whole return) and, for an answer in a repeating table, its table row (1-based, 0 when
not in a table). Formulas, defined names, data validations, the reader, the reports and
the feedback all render and parse references here, so a sheet called "Team's details"
is quoted the same way everywhere (in apostrophes, with its own apostrophes doubled).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

# A sheet name as Excel allows it: 1-31 characters, none of : \ / ? * [ ], and not starting
# or ending with an apostrophe. References quote every name, which is always valid.
_REF = re.compile(
    r"^=?(?:(?:'((?:[^']|'')+)'|([^'!:\\/?*\[\]\s]+))!)?"
    r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})(?::\$?([A-Za-z]{1,3})\$?([0-9]{1,7}))?$"
)
# A plain cell name as a workbook's XML writes it ('B12'): the reader's hot path.
_CELL = re.compile(r"([A-Z]{1,3})([0-9]+)")
MAX_ROW, MAX_COL = 1_048_576, 16_384
# What Excel refuses in a sheet name (besides an apostrophe at either end, and length).
_NOT_IN_SHEET_NAME = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True, order=True)
class Place:
    """Where something is: a sheet, a cell on it, and its row in a repeating table."""

    sheet: str = ""
    row: int = 0  # 1-based; 0: the whole sheet (or, with no sheet, the whole return)
    col: int = 0  # 1-based
    table_row: int = 0  # 1-based row of a repeating table; 0: not in a table

    @property
    def cell(self) -> str:
        """'B8', or '' when the place is not one cell."""
        return cell_name(self.row, self.col) if self.row and self.col else ""

    def ref(self, absolute: bool = True, fixed_col: bool | None = None) -> str:
        """The reference a formula or defined name uses: 'Team''s details'!$B$8.
        With fixed_col and not absolute, only the column is fixed ('Sheet'!$B8)."""
        return f"{quote(self.sheet)}!{cell_name(self.row, self.col, absolute, fixed_col)}"

    def to(self, end: Place, absolute: bool = True) -> str:
        """A range from this cell to `end` on the same sheet: 'Sheet'!$B$7:$B$66."""
        first = cell_name(self.row, self.col, absolute)
        last = cell_name(end.row, end.col, absolute)
        return f"{quote(self.sheet)}!{first}:{last}"

    def span(self, end: Place, absolute: bool = True) -> str:
        """A range from this cell to `end` with no sheet, for a formula on the same sheet."""
        return f"{cell_name(self.row, self.col, absolute)}:{cell_name(end.row, end.col, absolute)}"

    def shown(self) -> str:
        """In words, for a person: "Team's details, cell B8" (the sheet alone, or '').
        The one form every place shown to a user takes (CLI, feedback, emails, chasers.csv,
        findings, messages): a sheet name is shown as it is, never quoted as in a formula."""
        return shown_at(self.sheet, self.cell)

    @classmethod
    def at(cls, sheet: str, cell: str, table_row: int = 0) -> Place | None:
        """A sheet and a cell name ('B8' or '$B$8'); None if the name is not one cell."""
        found = parse(cell)
        if found is None or found[1] != found[3] or found[2] != found[4] or found[0]:
            return None
        return cls(sheet, found[1], found[2], table_row)


def shown_at(sheet: str, where: str = "") -> str:
    """Place.shown() for what is not one cell: a range ("A5:K11" -> "cells A5:K11") or an
    object ("Chart 1") on a sheet, in the same words as a cell."""
    if not sheet:
        return where
    if not where:
        return sheet
    found = parse(where)
    if found is None or found[0]:
        return f"{sheet}, {where}"
    one = found[1] == found[3] and found[2] == found[4]
    return f"{sheet}, cell {where}" if one else f"{sheet}, cells {where}"


def quote(sheet: str) -> str:
    """A sheet name as a formula or defined name writes it: quoted, apostrophes doubled."""
    return "'" + sheet.replace("'", "''") + "'"


def column_letters(col: int) -> str:
    """1 -> 'A', 28 -> 'AB'."""
    letters = ""
    while col > 0:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def column_number(letters: str) -> int:
    """'A' -> 1, 'ab' -> 28."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def cell_name(row: int, col: int, absolute: bool = False, fixed_col: bool | None = None) -> str:
    """(8, 2) -> 'B8', or '$B$8' when absolute; fixed_col overrides the column's mark
    ('$B8': a conditional format over a column keeps its column, moves its row)."""
    row_mark = "$" if absolute else ""
    col_mark = "$" if (absolute if fixed_col is None else fixed_col) else ""
    return f"{col_mark}{column_letters(col)}{row_mark}{row}"


def ref(sheet: str, row: int, col: int) -> str:
    """An absolute reference to a cell (1-based row and column): 'Sheet'!$B$8."""
    return Place(sheet, row, col).ref()


def column_range(sheet: str, col: int, first_row: int, last_row: int) -> str:
    """An absolute reference to part of one column: 'Sheet'!$B$7:$B$66."""
    return Place(sheet, first_row, col).to(Place(sheet, last_row, col))


@functools.lru_cache(maxsize=65536)
def position(cell: str) -> tuple[int, int] | None:
    """'B12' -> (12, 2), for a plain cell name as a workbook's XML writes it (no sheet, no
    $, capitals). The reader's hot path: cached, as the same few hundred cells recur in
    every return."""
    m = _CELL.fullmatch(cell)
    if m is None:
        return None
    n = 0
    for ch in m.group(1):
        n = n * 26 + ord(ch) - 64
    return int(m.group(2)), n


def sheet_name_allowed(name: str) -> bool:
    """Whether Excel allows this sheet name: 1 to 31 characters, none of []:*?/\\, and
    not beginning or ending with an apostrophe."""
    return (
        0 < len(name) <= 31
        and not _NOT_IN_SHEET_NAME.search(name)
        and not name.startswith("'")
        and not name.endswith("'")
    )


@functools.lru_cache(maxsize=65536)
def parse(text: str) -> tuple[str, int, int, int, int] | None:
    """'Sheet'!$B$7:$B$66, Sheet!B7 or B7 -> (sheet, row1, col1, row2, col2), 1-based.

    The sheet is '' when the text names none. Cached: the same few hundred references
    recur in every return. None for anything that is not a cell or a range of cells."""
    m = _REF.match(text.strip())
    if not m:
        return None
    sheet = (m.group(1) or "").replace("''", "'") or (m.group(2) or "")
    r1, c1 = int(m.group(4)), column_number(m.group(3))
    r2 = int(m.group(6)) if m.group(6) else r1
    c2 = column_number(m.group(5)) if m.group(5) else c1
    if not (0 < r1 <= MAX_ROW and 0 < r2 <= MAX_ROW and 0 < c1 <= MAX_COL and 0 < c2 <= MAX_COL):
        return None
    return sheet, r1, c1, r2, c2
