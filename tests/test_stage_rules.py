# ruff: noqa: E501 (the tables are wide on purpose: one case a line)
"""Specification of the rules that relate one answer to another (rules.CHECKS).

Each rule kind is defined once, in two forms that must agree: `holds(a, b)`, which collect
runs on the normalised answers, and `formula(a, b)`, the Excel comparison the workbook's
live check is compiled from (TRUE where the rule is broken). The table below says, for a
rule kind and the two answers it compares, whether the rule holds or is broken; the first
test checks the Python, the second has LibreOffice evaluate each rule's formula on the
same rows (one recalculation for the whole table) and checks it says the same.

`a` is the answer the problem is shown on, `b` the other answer (for rule.in_future,
today). Values are read by tests/tables.py: a bare number is a number, 2027-03-31 is a
date, and `today`, `today+1`, `today-1` are days counted from the day the test runs.

To add a case, add a row; a new rule kind needs at least one row where it holds and one
where it is broken (a test checks this).
"""

from __future__ import annotations

import datetime as dt
import random
import re
from typing import Any

import pytest
import tables
from openpyxl import Workbook

from participation_xl.rules import CHECKS, TODAY_FORMULA, comparable

RULES = r"""
| case                                   | rule                 | a          | b          | verdict |
|----------------------------------------|----------------------|------------|------------|---------|
# rule.more_than: the field can be no more than the other (trained staff <= total staff).
| fewer trained than in the team         | rule.more_than       | 5          | 10         | holds   |
| all of the team trained                | rule.more_than       | 10         | 10         | holds   |
| more trained than in the team          | rule.more_than       | 11         | 10         | broken  |
| none of none                           | rule.more_than       | 0          | 0          | holds   |
| decimals compared as decimals          | rule.more_than       | 2.5        | 2.4        | broken  |
| a youngest age below the oldest        | rule.more_than       | 4          | 18         | holds   |
# rule.in_future: a date that has happened cannot be after today.
| yesterday                              | rule.in_future       | today-1    | today      | holds   |
| today                                  | rule.in_future       | today      | today      | holds   |
| tomorrow                               | rule.in_future       | today+1    | today      | broken  |
| next year                              | rule.in_future       | today+365  | today      | broken  |
# rule.not_after: a later date must be after the earlier one (a contract ends after it starts).
| ends a year after it starts            | rule.not_after       | 2027-03-31 | 2026-04-01 | holds   |
| ends the day after it starts           | rule.not_after       | 2026-04-02 | 2026-04-01 | holds   |
| ends the day it starts                 | rule.not_after       | 2026-04-01 | 2026-04-01 | broken  |
| ends before it starts                  | rule.not_after       | 2026-03-31 | 2026-04-01 | broken  |
# rule.not_after_query: the same comparison, as a query (an action due after the audit).
| an action due after the audit          | rule.not_after_query | 2027-06-30 | 2027-03-31 | holds   |
| an action due the day of the audit     | rule.not_after_query | 2027-03-31 | 2027-03-31 | broken  |
| an action already due before the audit | rule.not_after_query | 2027-01-31 | 2027-03-31 | broken  |
"""

COLUMNS = ("case", "rule", "a", "b", "verdict")
TODAY = dt.date.today()
EPOCH = dt.date(1899, 12, 30)  # serial number 0 of Excel's and LibreOffice's dates
_TODAY = re.compile(r"today([+-][0-9]+)?")


def answer(text: str) -> Any:
    """A cell of the a or b column as the value a rule compares."""
    if m := _TODAY.fullmatch(text):
        return TODAY + dt.timedelta(days=int(m.group(1) or 0))
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return dt.date.fromisoformat(text)
    return tables.value(text)


def holds(row: dict[str, str]) -> bool:
    if row["verdict"] not in ("holds", "broken"):
        raise ValueError(f"a verdict is 'holds' or 'broken', not {row['verdict']!r}")
    return row["verdict"] == "holds"


@pytest.mark.parametrize("row", tables.params(RULES, *COLUMNS))
def test_python_check(row):
    check = CHECKS[row["rule"]]
    assert check.holds(answer(row["a"]), answer(row["b"])) is holds(row)


def test_every_rule_kind_can_hold_and_be_broken():
    seen = {(r["rule"], holds(r)) for r in tables.rows(RULES)}
    assert seen == {(code, verdict) for code in CHECKS for verdict in (True, False)}
    for row in tables.rows(RULES):  # rule.in_future compares with today, and only that
        assert (row["b"] == "today") is (not CHECKS[row["rule"]].compares)


@pytest.mark.parametrize("row", tables.params(RULES, *COLUMNS))
def test_example_answers_keep_the_rule(row):
    """The sample answers (demo, benchmarks, properties) keep every rule: `example(b)`
    gives an `a` that holds against the row's `b`."""
    check = CHECKS[row["rule"]]
    b = answer(row["b"])
    rng = random.Random(row["case"])
    for _ in range(20):
        assert check.holds(check.example(b, rng), b)


def _as_cell(value: Any) -> dict[str, Any]:
    if isinstance(value, dt.date):
        return {"type": "date", "value": (value - EPOCH).days}
    return {"type": "number", "value": value}


@pytest.mark.libreoffice
def test_excel_formula_agrees_with_python(libreoffice, tmp_path):
    """Each row's rule as its workbook formula, in column C beside a (A) and b (B):
    LibreOffice recalculates them all, and C is TRUE exactly where the rule is broken."""
    book = tmp_path / "rules.xlsx"
    wb = Workbook()
    wb.active.title = "Rules"
    wb.save(book)
    rows = tables.rows(RULES)
    edits, cells = [], []
    for n, row in enumerate(rows, start=2):
        check = CHECKS[row["rule"]]
        other = f"B{n}" if check.compares else TODAY_FORMULA
        edits += [
            {"cell": f"'Rules'!A{n}", **_as_cell(answer(row["a"]))},
            {"cell": f"'Rules'!B{n}", **_as_cell(answer(row["b"]))},
            {
                "cell": f"'Rules'!C{n}",
                "type": "formula",
                "value": "=" + check.formula(f"A{n}", other),
            },
        ]
        cells.append(f"'Rules'!C{n}")
    shown = libreoffice.call("fill_read", path=str(book), edits=edits, cells=cells)["cells"]
    broken = {row["case"]: bool(shown[ref]["value"]) for row, ref in zip(rows, cells, strict=True)}
    assert broken == {row["case"]: not holds(row) for row in rows}


COMPARABLE = r"""
| case                               | kind    | value        | compares as |
|------------------------------------|---------|--------------|-------------|
| a whole number                     | integer | 12           | 12          |
| a decimal                          | number  | 2.5          | 2.5         |
| a number left as text by normalise | integer | "12.5"       |             |
| TRUE is not a number               | integer | TRUE         |             |
| an ISO date                        | date    | "2027-03-31" | 2027-03-31  |
| a date left as typed by normalise  | date    | "31/02/2027" |             |
| a number in a date field           | date    | 5            |             |
| text is never compared             | text    | "12"         |             |
"""


@pytest.mark.parametrize("row", tables.params(COMPARABLE, "case", "kind", "value", "compares as"))
def test_only_answers_of_the_right_kind_are_compared(row):
    """A rule is checked only where both answers are of its kind: an answer that is wrong
    in itself has its own error, and no rule is said on top of it."""
    expected = answer(row["compares as"]) if row["compares as"] else None
    assert tables.same(comparable(row["kind"], tables.value(row["value"])), expected)
