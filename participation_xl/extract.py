"""Extract answers from an identified return, by defined name, else by checked position.

Excel keeps a defined name pointing at its cell when rows move, so names are trusted first.
Where names were lost (an .ods or .xls save, a copy-paste into a new file), the template's
positions are used, but only after the labels beside them are found where they should be.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

from .identify import Rejection
from .messages import Code
from .pack import Field, Form, Table
from .place import Place, parse
from .read import Cell, RawWorkbook


class Located(NamedTuple):
    """An answer cell of the return: the field, where it is, and what it holds.
    (A tuple: a return has hundreds, and a tuple is the cheapest to make.)"""

    field: Field
    sheet: str
    row: int
    col: int
    cell: Cell | None


@dataclass
class Extracted:
    inputs: list[Located]
    tables: dict[str, list[list[Located] | None]]  # table path -> its rows (None: blank)
    first: dict[str, Located]  # table path -> its first answer cell, for whole-table issues


_NO_CELLS: dict[tuple[int, int], Cell] = {}


def _cell(raw: RawWorkbook, sheet: str, row: int, col: int) -> Cell | None:
    return raw.cells.get(sheet, _NO_CELLS).get((row, col))


@functools.lru_cache(maxsize=4096)
def _squeezed(text: str) -> str:
    return " ".join(text.split())


def _label_ok(raw: RawWorkbook, sheet: str, row: int, col: int, expected: str) -> bool:
    cell = _cell(raw, sheet, row, col)
    text = _squeezed(str(cell.value)) if cell and cell.value is not None else ""
    return text.startswith(_squeezed(expected)[:60])


def extract(raw: RawWorkbook, form: Form) -> Extracted | Rejection:
    """Every answer cell of the form, located by name or by position, labels checked."""
    inputs: list[Located] = []
    for i in form.inputs:
        # A tool that moves cells without updating names (or a hand edit) would make a name
        # point at the wrong answer, so a named cell must have its label beside it too.
        named = _named(raw.defined_names.get(i.field.path, ""))
        if (
            named
            and named[0] == i.sheet
            and _label_ok(raw, i.sheet, named[1], i.label_col, i.label)
        ):
            row, col = named[1], named[2]
        elif _label_ok(raw, i.sheet, i.row, i.label_col, i.label):
            row, col = i.row, i.col
        else:
            return Rejection(Code.IDENTIFY_MOVED, _moved(Place(i.sheet, i.row, i.col)))
        inputs.append(Located(i.field, i.sheet, row, col, _cell(raw, i.sheet, row, col)))
    tables, first = {}, {}
    for t in form.tables:
        cols = _table_columns(raw, t)
        if isinstance(cols, Rejection):
            return cols
        tables[t.path] = _table_rows(raw, t, cols)
        c = t.columns[0]
        first[t.path] = Located(c, t.sheet, *cols[c.key], _cell(raw, t.sheet, *cols[c.key]))
    return Extracted(inputs, tables, first)


def _moved(place: Place) -> dict[str, str]:
    """identify.moved's values: the place in words, and its sheet and cell as data."""
    return {"sheet": place.sheet, "cell": place.cell, "place": place.shown()}


def _table_columns(raw: RawWorkbook, t: Table) -> dict[str, tuple[int, int]] | Rejection:
    """Where each column's first answer cell is: by name, else by the template."""
    count = t.last_row - t.first_row + 1
    cols: dict[str, tuple[int, int]] = {}  # column key -> (first row, column)
    for c in t.columns:
        named = _named(raw.defined_names.get(c.path, ""))
        spots = (
            [(named[1], named[2])]
            if named and named[0] == t.sheet and named[3] - named[1] + 1 == count
            else []
        )
        spots.append((t.first_row, t.col_of(c.key)))
        spot = next(
            (rc for rc in spots if _label_ok(raw, t.sheet, rc[0] - 1, rc[1], c.title)), None
        )
        if spot is None:
            place = Place(t.sheet, t.header_row, t.col_of(c.key))
            return Rejection(Code.IDENTIFY_MOVED, _moved(place))
        cols[c.key] = spot
    return cols


def _table_rows(
    raw: RawWorkbook, t: Table, cols: dict[str, tuple[int, int]]
) -> list[list[Located] | None]:
    sheet = raw.cells.get(t.sheet, _NO_CELLS)
    filled = getattr(sheet, "filled", sheet)
    places = [(c, *cols[c.key]) for c in t.columns]
    rows: list[list[Located] | None] = []
    for n in range(t.last_row - t.first_row + 1):
        if not any((row + n, col) in filled for _, row, col in places):
            rows.append(None)  # a row never touched: nothing to read or say
            continue
        rows.append(
            [Located(c, t.sheet, row + n, col, sheet.get((row + n, col))) for c, row, col in places]
        )
    return rows


def _named(text: str) -> tuple[str, int, int, int, int] | None:
    """Where a defined name points: a cell or a range on a named sheet; else None."""
    found = parse(text)
    return found if found is not None and found[0] else None
