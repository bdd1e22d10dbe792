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
    r"^(?:(?:'((?:[^']|'')+)'|([^'!:\\/?*\[\]\s]+))!)?"
    r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})(?::\$?([A-Za-z]{1,3})\$?([0-9]{1,7}))?$"
)
MAX_ROW, MAX_COL = 1_048_576, 16_384


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

    def ref(self, absolute: bool = True) -> str:
        """The reference a formula or defined name uses: 'Team''s details'!$B$8."""
        return f"{quote(self.sheet)}!{cell_name(self.row, self.col, absolute)}"

    def to(self, end: Place, absolute: bool = True) -> str:
        """A range from this cell to `end` on the same sheet: 'Sheet'!$B$7:$B$66."""
        first = cell_name(self.row, self.col, absolute)
        last = cell_name(end.row, end.col, absolute)
        return f"{quote(self.sheet)}!{first}:{last}"

    def shown(self) -> str:
        """In words, for a person: "Sheet 'Team's details', cell B8"."""
        if not self.sheet:
            return ""
        return f"{self.sheet}, cell {self.cell}" if self.cell else self.sheet

    @classmethod
    def at(cls, sheet: str, cell: str, table_row: int = 0) -> Place | None:
        """A sheet and a cell name ('B8' or '$B$8'); None if the name is not one cell."""
        found = parse(cell)
        if found is None or found[1] != found[3] or found[2] != found[4] or found[0]:
            return None
        return cls(sheet, found[1], found[2], table_row)


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


def cell_name(row: int, col: int, absolute: bool = False) -> str:
    """(8, 2) -> 'B8', or '$B$8' when absolute."""
    mark = "$" if absolute else ""
    return f"{mark}{column_letters(col)}{mark}{row}"


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
