# ruff: noqa: E501 (the tables are wide on purpose: one case a line)
"""Specification of extract: where each answer is read from, and when it cannot be found.

`extract.extract(raw, form)` is called directly on the audit workbook issued to ADV1,
filled with sample answers (four rows in each table) and read with `read.read_workbook`,
after the edit in its row is made to what was read. README: answers are found by their
defined names (Excel moves a name with its cell when rows are inserted), else at the
template's positions, and only where the question's label is beside them; answers moved
where neither finds them, or a renamed sheet, reject the return (`identify.moved`).

- `edit`, separated by `;`:
  `insert N rows above 'Sheet'!ROW` (every cell from that row down moves N rows lower),
  `rename sheet 'Old' to 'New'`, `remove sheet 'Sheet'`, `retype 'Sheet'!A9 as "text"`
  (a label typed over), `name PATH = REFERENCE` (a defined name pointing elsewhere);
- `names`: `moved` (the defined names follow the rows and sheets, as Excel does), `kept`
  (left as they were, as a tool that moves cells without updating names leaves them) or
  `lost` (none at all, as after a save as .ods or .xls);
- `outcome`: `extracted`, or the rejection's code; `at`: for `extracted`, the cell the
  answer to `field` is read from (for a table column, its first row); for a rejection,
  the cell the rejection names.

Whatever is extracted must be the answers as typed: every located cell holds what the
issued workbook held at the template's position (the test checks all of them).

To add a case, add a row; a new kind of edit needs a branch in `_edited`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import re

import pytest
import tables

from participation_xl import init_workspace
from participation_xl.examine import Context
from participation_xl.extract import Extracted, extract
from participation_xl.generate import generate, issued_form
from participation_xl.identify import Rejection
from participation_xl.place import Place, parse
from participation_xl.read import Cell, RawWorkbook, read_workbook
from participation_xl.sample import fill_workbook, sample_answers

SPEC = r"""
| case                                         | edit                                                  | names | outcome        | field                   | at                        |
|----------------------------------------------|-------------------------------------------------------|-------|----------------|-------------------------|---------------------------|
| answers where the layout says                |                                                       | kept  | extracted      | about.completed_by      | 'About the team'!B8       |
| a grid answer where the layout says          |                                                       | kept  | extracted      | promises.share.evidence | 'Promises and rights'!C12 |
| a table where the layout says                |                                                       | kept  | extracted      | action_plan.owner       | 'Action plan'!C8          |
| no names: the template's positions           |                                                       | lost  | extracted      | about.completed_by      | 'About the team'!B8       |
# Rows inserted: Excel moves the names with the cells, so the answers are found.
| rows inserted above the questions            | insert 2 rows above 'About the team'!8                | moved | extracted      | about.completed_by      | 'About the team'!B10      |
| rows inserted between two questions          | insert 1 rows above 'About the team'!12               | moved | extracted      | about.oldest_age        | 'About the team'!B13      |
| rows inserted above a table                  | insert 3 rows above 'Action plan'!1                   | moved | extracted      | action_plan.owner       | 'Action plan'!C11         |
| rows inserted in a grid                      | insert 1 rows above 'Promises and rights'!10          | moved | extracted      | promises.share.evidence | 'Promises and rights'!C13 |
# ... but without names, or with names left behind, moved answers are not guessed at.
| rows inserted, the names lost                | insert 2 rows above 'About the team'!8                | lost  | identify.moved |                         | 'About the team'!B8       |
| rows inserted, the names left behind         | insert 2 rows above 'About the team'!8                | kept  | identify.moved |                         | 'About the team'!B8       |
| rows inserted above a table, names lost      | insert 3 rows above 'Action plan'!1                   | lost  | identify.moved |                         | 'Action plan'!B7          |
| a name pointing at another question's answer | name about.role = 'About the team'!$B$8               | kept  | extracted      | about.role              | 'About the team'!B9       |
| a label typed over                           | retype 'About the team'!A9 as "Job"                   | kept  | identify.moved |                         | 'About the team'!B9       |
| a label given a longer ending is still found | retype 'About the team'!A9 as "Your role (job title)" | kept  | extracted      | about.role              | 'About the team'!B9       |
# Sheets: found by name, and only by name.
| a sheet renamed                              | rename sheet 'Action plan' to 'Actions'               | moved | identify.moved |                         | 'Action plan'!B7          |
| a sheet removed                              | remove sheet 'Sign-off'                               | moved | identify.moved |                         | 'Sign-off'!B8             |
"""

COLUMNS = ("case", "edit", "names", "outcome", "field", "at")


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    """The audit form, and ADV1's return filled with sample answers as it is read."""
    folder = tmp_path_factory.mktemp("extract")
    ws = init_workspace(folder / "ws", "Council", "2026-27", dt.date(2027, 3, 31))
    path = next(p for p in generate(ws, team_ids=["ADV1"]) if issued_form(ws, p)[1] == "audit")
    form = ws.pack.forms["audit"]
    answers = sample_answers(form, random.Random(3), rows=4, today=dt.date(2026, 12, 2))
    filled = fill_workbook(path, folder / "filled.xlsx", answers, form)
    return form, read_workbook(filled, 0, 0, Context.of(ws).boxes)


def _copy(raw: RawWorkbook) -> RawWorkbook:
    return dataclasses.replace(
        raw,
        cells={name: dict(cells) for name, cells in raw.cells.items()},
        defined_names=dict(raw.defined_names),
        sheets=list(raw.sheets),
    )


def _moved_name(ref: str, sheet: str, at: int, n: int) -> str:
    found = parse(ref)
    if not found or found[0] != sheet:
        return ref
    _, r1, c1, r2, c2 = found
    first = Place(sheet, r1 + n if r1 >= at else r1, c1)
    last = Place(sheet, r2 + n if r2 >= at else r2, c2)
    return first.ref() if first == last else first.to(last)


def _edited(raw: RawWorkbook, edit: str, names: str) -> RawWorkbook:
    raw = _copy(raw)
    for step in filter(None, (s.strip() for s in edit.split(";"))):
        if m := re.fullmatch(r"insert (\d+) rows above '(.+)'!(\d+)", step):
            n, sheet, at = int(m.group(1)), m.group(2), int(m.group(3))
            raw.cells[sheet] = {
                (r + n if r >= at else r, c): cell for (r, c), cell in raw.cells[sheet].items()
            }
            if names == "moved":
                raw.defined_names = {
                    k: _moved_name(v, sheet, at, n) for k, v in raw.defined_names.items()
                }
        elif m := re.fullmatch(r"rename sheet '(.+)' to '(.+)'", step):
            old, new = m.groups()
            raw.cells[new] = raw.cells.pop(old)
            raw.sheets = [
                dataclasses.replace(s, name=new) if s.name == old else s for s in raw.sheets
            ]
            if names == "moved":
                raw.defined_names = {
                    k: v.replace(f"'{old}'!", f"'{new}'!") for k, v in raw.defined_names.items()
                }
        elif m := re.fullmatch(r"remove sheet '(.+)'", step):
            raw.cells.pop(m.group(1))
            raw.sheets = [s for s in raw.sheets if s.name != m.group(1)]
        elif m := re.fullmatch(r"retype '(.+)'!([A-Z]+\d+) as (\".*\")", step):
            place = Place.at(m.group(1), m.group(2))
            assert place is not None
            raw.cells[place.sheet][(place.row, place.col)] = Cell(tables.value(m.group(3)), "s")
        elif m := re.fullmatch(r"name (\S+) = (.+)", step):
            raw.defined_names[m.group(1)] = m.group(2)
        else:
            raise ValueError(f"unknown edit {step!r}")
    if names == "lost":
        raw.defined_names = {}
    elif names not in ("moved", "kept"):
        raise ValueError(f"names are moved, kept or lost, not {names!r}")
    return raw


def _place(ref: str) -> Place:
    found = parse(ref)
    assert found is not None, ref
    return Place(found[0], found[1], found[2])


def _answers_as_typed(form, raw: RawWorkbook, found: Extracted) -> None:
    """Every located answer is the one issued at the template's position."""
    for loc, i in zip(found.inputs, form.inputs, strict=True):
        assert loc.field is i.field
        assert loc.cell == raw.cells[i.sheet].get((i.row, i.col)), i.field.path
    for t in form.tables:
        for n, row in enumerate(found.tables[t.path]):
            for loc in row or ():
                typed = raw.cells[t.sheet].get((t.first_row + n, t.col_of(loc.field.key)))
                assert loc.cell == typed, (t.path, n, loc.field.key)


def _where(form, found: Extracted, path: str) -> Place:
    for loc in found.inputs:
        if loc.field.path == path:
            return Place(loc.sheet, loc.row, loc.col)
    table, _, key = path.rpartition(".")
    first = next(loc for loc in found.tables[table][0] or () if loc.field.key == key)
    return Place(first.sheet, first.row, first.col)


@pytest.mark.parametrize("row", tables.params(SPEC, *COLUMNS))
def test_extract(issued, row):
    form, raw = issued
    found = extract(_edited(raw, row["edit"], row["names"]), form)
    if row["outcome"] == "extracted":
        assert isinstance(found, Extracted), found
        _answers_as_typed(form, raw, found)
        assert _where(form, found, row["field"]) == _place(row["at"])
    else:
        assert isinstance(found, Rejection), found
        assert [found.code] == tables.codes(row["outcome"])
        at = _place(row["at"])
        assert (found.values["sheet"], found.values["cell"]) == (at.sheet, at.cell)


TABLE_ROWS = r"""
| case                              | rows typed in | rows read |
|-----------------------------------|---------------|-----------|
| the first rows, one after another | 1 2 3 4       | 1 2 3 4   |
| blank rows in between             | 1 4           | 1 4       |
| the last row of the table only    | 30            | 30        |
| none                              |               |           |
"""


@pytest.mark.parametrize("row", tables.params(TABLE_ROWS, "case", "rows typed in", "rows read"))
def test_table_rows_read(issued, row):
    """A table's rows are read where they were typed, blank rows between them skipped
    (None), whatever the order: a row never touched says nothing."""
    form, raw = issued
    table = next(t for t in form.tables if t.path == "action_plan")
    typed = [int(n) for n in row["rows typed in"].split()]
    edited = _copy(raw)
    sheet = edited.cells[table.sheet]
    for r in range(table.first_row, table.last_row + 1):  # clear every row, then type in some
        for c in table.columns:
            sheet.pop((r, table.col_of(c.key)), None)
    for n in typed:
        sheet[(table.first_row + n - 1, table.col_of("action"))] = Cell(f"Action {n}", "s")
    found = extract(edited, form)
    assert isinstance(found, Extracted), found
    rows = found.tables[table.path]
    assert len(rows) == table.last_row - table.first_row + 1
    read = [n for n, cells in enumerate(rows, start=1) if cells is not None]
    assert read == [int(n) for n in row["rows read"].split()]
    for n in read:
        by_key = {loc.field.key: loc.cell for loc in rows[n - 1]}
        assert by_key == {"action": Cell(f"Action {n}", "s"), "owner": None, "target_date": None}
