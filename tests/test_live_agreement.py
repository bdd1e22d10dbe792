"""What the workbook shows live agrees with what collect decides, through LibreOffice.

The contract (see docs and ../shared/design.md):

- every issued workbook has a workbook-level defined name `still_to_do` referring to one
  cell whose value, once LibreOffice recalculates, is the number of distinct answer cells
  on which `participation-xl validate --json FILE` reports an error;
- each "Still to do" status cell (one per question, per grid row, per table row; positions
  from the pack) starts with "✗" exactly when validate reports an error on an answer cell
  it covers, and otherwise says "✓ Done", "Optional", "Not needed", "? Please check" or
  nothing (an unused table row). A table's too-few-rows error sits on its first cell.

The property types random answers of every kind into a generated workbook of each form
through UNO (text with setString, numbers and dates with setValue, formulas with
setFormula), lets LibreOffice recalculate, reads `still_to_do` and every status, saves the
workbook as .xlsx, runs validate --json on it inside the workspace, and compares.

PXL_LO_EXAMPLES (default 40: about 1.5 minutes, two workbooks each) bounds the run; the
examples are derandomized, so CI sees the same ones every time. By default every example
runs and the test fails at the end with every disagreeing cell; PXL_LO_FAIL_FAST=1 fails on
the first disagreeing example instead (PXL_LO_SHRINK=1 lets hypothesis shrink it, slowly).
The figures (workbooks, cells checked, cells that disagreed) are printed (pytest -s) and
written to agreement.json in pytest's temporary folder, or to PXL_AGREEMENT_JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import render
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from xlsxwriter.utility import xl_cell_to_rowcol, xl_rowcol_to_cell

from participation_xl import init_workspace
from participation_xl.generate import generate
from participation_xl.pack import META_SHEET, Field, Form
from participation_xl.pipeline import collect_and_report
from participation_xl.sample import fill_workbook, sample_answers

pytestmark = pytest.mark.libreoffice

EXAMPLES = int(os.environ.get("PXL_LO_EXAMPLES", "40"))
FAIL_FAST = os.environ.get("PXL_LO_FAIL_FAST") == "1"
SHRINK = os.environ.get("PXL_LO_SHRINK") == "1"
STILL_TO_DO = "still_to_do"
NOT_ERRORS = {"✓ Done", "Optional", "Not needed", "? Please check", ""}
FORMS = ("audit", "six-standards")
DUE = dt.date(2027, 3, 31)
EPOCH = dt.date(1899, 12, 30)  # serial number 0 of LibreOffice's (and Excel's) dates
TODAY = dt.date.today()
SHOWN = 6  # disagreeing examples described in full in the failure message

Cell = tuple[str, int, int]  # sheet, row, column (1-based)


def a1(sheet: str, row: int, col: int) -> str:
    return f"'{sheet}'!{xl_rowcol_to_cell(row - 1, col - 1)}"


# --- where the answers and their statuses are -------------------------------------------


@dataclass(frozen=True)
class Status:
    """One "Still to do" cell and the answer cells it speaks for."""

    sheet: str
    row: int
    col: int
    covers: tuple[Cell, ...]
    what: str

    @property
    def ref(self) -> str:
        return a1(self.sheet, self.row, self.col)


def status_cells(form: Form) -> list[Status]:
    out = []
    for plan in form.sheets:
        for b in plan.blocks:
            if b.table:
                t = b.table
                for r in range(t.first_row, t.last_row + 1):
                    cells = tuple((t.sheet, r, t.col_of(c.key)) for c in t.columns)
                    out.append(Status(t.sheet, r, t.status_col, cells, f"{t.path} row {r}"))
            elif b.type == "questions":
                for i in b.inputs:
                    cell = ((i.sheet, i.row, i.col),)
                    out.append(Status(i.sheet, i.row, b.status_col, cell, i.field.path))
            elif b.type == "grid":
                rows: dict[int, list[Cell]] = {}
                for i in b.inputs:
                    rows.setdefault(i.row, []).append((i.sheet, i.row, i.col))
                for r, cells in rows.items():
                    what = b.inputs[0].field.path.rsplit(".", 2)[0] + f" row {r}"
                    out.append(Status(cells[0][0], r, b.status_col, tuple(cells), what))
    return out


def answer_cells(form: Form) -> dict[Cell, Field]:
    cells = {(i.sheet, i.row, i.col): i.field for i in form.inputs}
    for t in form.tables:
        for r in range(t.first_row, t.last_row + 1):
            for c in t.columns:
                cells[(t.sheet, r, t.col_of(c.key))] = c
    return cells


# --- what a person types ------------------------------------------------------------------

# What goes into a cell: (how it is typed, the value, what kind of answer it is meant to be)
Typed = tuple[str, Any, str]
# Hypothesis leans towards small numbers, so the first category is drawn a little more
# often than its weight says: a valid answer, not a blank.
CATEGORIES = ("valid", "tolerated", "wrong", "blank")
PROFILES = {  # chances in 100 of a valid, tolerated, wrong and blank answer
    "perfect": (75, 25, 0, 0),
    "clean": (70, 20, 5, 5),
    "mixed": (35, 20, 20, 25),
    "messy": (20, 25, 40, 15),
    "sparse": (20, 5, 5, 70),
}
WORDS = render.VOCABULARY


def serial(day: dt.date) -> int:
    return (day - EPOCH).days


def _s(value: Any, label: str) -> Typed:
    return ("string", value, label)


def _n(value: Any, label: str) -> Typed:
    return ("number", value, label)


FORMULAS = st.sampled_from(["=1+1", '="Yes"', "=TODAY()", '=A1&""']).map(
    lambda f: ("formula", f, "wrong: formula")
)
NOT_APPLICABLE = st.sampled_from(["n/a", "N/A", " none ", "-", "not applicable"]).map(
    lambda v: _s(v, "tolerated: n/a")
)
SHORT_TEXT = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(
    lambda ws: " ".join(ws).capitalize()
)
DATES = st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31))
NEAR = st.integers(-700, 700).map(lambda d: TODAY + dt.timedelta(days=d))


def _long(length: int) -> st.SearchStrategy[str]:
    return st.integers(0, 10**6).map(
        lambda seed: render.long_text(random.Random(seed), length, list(WORDS))
    )


def text_options(f: Field) -> dict[str, list[st.SearchStrategy[Typed]]]:
    most = f.max_length or 1000
    valid = [SHORT_TEXT.map(lambda t: _s(t[:most].strip() or "ok", "valid: text"))]
    if most >= 20:
        valid.append(_long(most).map(lambda t: _s(t, "valid: full length")))
    tolerated = [
        SHORT_TEXT.map(lambda t: _s(f"  {t[: most - 4]} ", "tolerated: spaces")),
        st.integers(0, 999).map(lambda n: _n(n, "tolerated: number as text")),
        NOT_APPLICABLE,
    ]
    if most >= 500:
        tolerated.append(st.just(_s("Call the team on 07700 900123.", "query: phone")))
    wrong = [
        st.integers(1, 40).flatmap(_long_by(most)).map(lambda t: _s(t, "wrong: too long")),
        FORMULAS,
    ]
    return {"valid": valid, "tolerated": tolerated, "wrong": wrong}


def _long_by(most: int) -> Any:
    return lambda extra: _long(most + extra)


def email_options(f: Field) -> dict[str, list[st.SearchStrategy[Typed]]]:
    most = f.max_length or 254
    names = st.sampled_from(["jo.smith@example.org", "a.b-c@council.gov.uk", "sam@ex.co"])
    return {
        "valid": [names.map(lambda e: _s(e, "valid: email"))],
        "tolerated": [names.map(lambda e: _s(f" {e} ", "tolerated: spaces")), NOT_APPLICABLE],
        "wrong": [
            st.sampled_from(["jo.example.org", "jo at example dot org", "Jo Smith"]).map(
                lambda e: _s(e, "wrong: no @")
            ),
            st.sampled_from(["jo@", "@example.org", "jo@@example.org", "jo smith@example.org"]).map(
                lambda e: _s(e, "edge: odd email")
            ),
            st.just(_s("j" * most + "@example.org", "wrong: too long")),
            FORMULAS,
        ],
    }


def integer_options(f: Field) -> dict[str, list[st.SearchStrategy[Typed]]]:
    lo = int(f.minimum if f.minimum is not None else 0)
    hi = int(f.maximum if f.maximum is not None else 10_000)
    n = st.integers(lo, min(hi, lo + 60))
    return {
        "valid": [
            n.map(lambda v: _n(v, "valid: number")),
            st.sampled_from([lo, hi]).map(lambda v: _n(v, "valid: a bound")),
        ],
        "tolerated": [
            n.map(lambda v: _s(str(v), "tolerated: number as text")),
            n.map(lambda v: _s(f" {v} ", "tolerated: number as text with spaces")),
            n.map(lambda v: _s(f"{v}.0", "tolerated: whole number with .0")),
            st.sampled_from([1200, 2500]).map(lambda v: _s(f"{v:,}", "edge: 1,200 as text")),
            NOT_APPLICABLE,
        ],
        "wrong": [
            st.just(_s("twelve", "wrong: words")),
            st.just(_s("5 people", "wrong: words")),
            st.sampled_from([lo - 1, hi + 1, -3]).map(lambda v: _n(v, "wrong: out of bounds")),
            n.map(lambda v: _n(v + 0.5, "wrong: not whole")),
            n.map(lambda v: _s(f"{v}.5", "wrong: not whole, as text")),
            FORMULAS,
        ],
    }


def number_options(f: Field) -> dict[str, list[st.SearchStrategy[Typed]]]:
    lo = float(f.minimum if f.minimum is not None else 0)
    hi = float(f.maximum if f.maximum is not None else 1e7)
    x = st.floats(lo, min(hi, 1e6)).map(lambda v: round(v, 2))
    return {
        "valid": [x.map(lambda v: _n(v, "valid: number")), st.just(_n(lo, "valid: a bound"))],
        "tolerated": [
            st.sampled_from(["2,500", "£1,200.50", " 300 ", "12"]).map(
                lambda v: _s(v, "tolerated: number as text")
            ),
            NOT_APPLICABLE,
        ],
        "wrong": [
            st.sampled_from(["lots", "1.2.3", "about 500"]).map(lambda v: _s(v, "wrong: words")),
            st.sampled_from([lo - 1, hi + 1]).map(lambda v: _n(v, "wrong: out of bounds")),
            FORMULAS,
        ],
    }


def _day_first(day: dt.date, style: int) -> str:
    return [
        f"{day.day}/{day.month}/{day.year}",
        f"{day:%d/%m/%Y}",
        f"{day.day}-{day.month}-{day.year}",
        f"{day:%d.%m.%y}",
        f"{day.day} {day:%B %Y}",
    ][style]


def date_options(f: Field) -> dict[str, list[st.SearchStrategy[Typed]]]:
    return {
        "valid": [
            DATES.map(lambda d: ("date", serial(d), f"valid: date {d}")),
            NEAR.map(lambda d: ("date", serial(d), f"valid: date near today {d}")),
        ],
        "tolerated": [
            st.tuples(st.one_of(DATES, NEAR), st.integers(0, 4)).map(
                lambda t: _s(_day_first(*t), "tolerated: day first as text")
            ),
            st.one_of(DATES, NEAR).map(lambda d: _s(d.isoformat(), "tolerated: ISO as text")),
            NOT_APPLICABLE,
        ],
        "wrong": [
            st.sampled_from(["30/02/2027", "31/04/2026", "13/13/2027", "2027-02-30"]).map(
                lambda v: _s(v, "wrong: no such date")
            ),
            st.sampled_from(["next week", "March", "TBC"]).map(lambda v: _s(v, "wrong: words")),
            st.sampled_from([dt.date(1995, 6, 1), dt.date(2150, 1, 1)]).map(
                lambda d: ("date", serial(d), f"edge: date {d}")
            ),
            st.just(_n(5, "wrong: a small number")),
            FORMULAS,
        ],
    }


def choice_options(f: Field) -> dict[str, list[st.SearchStrategy[Typed]]]:
    c = st.sampled_from(f.choices)
    tolerated = [
        c.map(lambda v: _s(v.upper(), "tolerated: other case")),
        c.map(lambda v: _s(v.lower(), "tolerated: other case")),
        c.map(lambda v: _s(f" {v} ", "tolerated: spaces")),
        c.map(lambda v: _s(v.replace(" ", "  "), "tolerated: double spaces")),
        NOT_APPLICABLE,
    ]
    if set(f.choices) == {"Yes", "No"}:
        tolerated.append(st.sampled_from(["y", "N"]).map(lambda v: _s(v, "tolerated: y/n")))
    return {
        "valid": [c.map(lambda v: _s(v, "valid: choice"))],
        "tolerated": tolerated,
        "wrong": [
            st.sampled_from(["Often", "Maybe", "Yes please"]).map(
                lambda v: _s(v, "wrong: not an option")
            ),
            c.map(lambda v: _s(v + ".", "wrong: not an option")),
            st.just(_n(1, "wrong: a number")),
            FORMULAS,
        ],
    }


OPTIONS = {
    "text": text_options,
    "email": email_options,
    "integer": integer_options,
    "number": number_options,
    "date": date_options,
    "choice": choice_options,
}


_OPTIONS: dict[Field, dict[str, st.SearchStrategy[Typed]]] = {}


def options(f: Field) -> dict[str, st.SearchStrategy[Typed]]:
    """The answers of each category for a field, made once per field."""
    if f not in _OPTIONS:
        _OPTIONS[f] = {k: st.one_of(v) for k, v in OPTIONS[f.kind](f).items()}
    return _OPTIONS[f]


@st.composite
def typed(draw: Any, f: Field, weights: tuple[int, ...]) -> Typed | None:
    roll = draw(st.integers(0, sum(weights) - 1))
    category = CATEGORIES[-1]
    for name, weight in zip(CATEGORIES, weights, strict=True):
        if roll < weight:
            category = name
            break
        roll -= weight
    if category == "blank":
        return None
    return draw(options(f)[category])


@st.composite
def workbook_answers(draw: Any, form: Form) -> tuple[str, dict[Cell, Typed]]:
    """A profile and what is typed where: every answer cell, some table rows."""
    profile = draw(st.sampled_from(sorted(PROFILES)))
    weights = PROFILES[profile]
    out: dict[Cell, Typed] = {}
    for i in form.inputs:
        value = draw(typed(i.field, weights))
        if value is not None:
            out[(i.sheet, i.row, i.col)] = value
    for t in form.tables:
        span = t.last_row - t.first_row + 1
        least = max(t.min_items, 1) if profile == "perfect" else 0
        count = draw(st.integers(least, min(5, span)))
        near = sorted({*range(min(span, 12)), span - 1})
        rows = draw(st.lists(st.sampled_from(near), min_size=count, max_size=count, unique=True))
        for n in rows:
            for c in t.columns:
                value = draw(typed(c, weights))
                if value is not None:
                    out[(t.sheet, t.first_row + n, t.col_of(c.key))] = value
    return profile, out


def sample_typed(form: Form, seed: int) -> dict[Cell, Typed]:
    """A complete, valid return (the demo's sample answers), typed as a person would."""
    doc = sample_answers(form, random.Random(seed))
    spots: list[tuple[Cell, Field, Any]] = []
    for i in form.inputs:
        node: Any = doc
        for part in i.field.parts:
            node = node.get(part) if isinstance(node, dict) else None
        spots.append(((i.sheet, i.row, i.col), i.field, node))
    for t in form.tables:
        for n, item in enumerate(doc.get(t.path, [])):
            for c in t.columns:
                spots.append(((t.sheet, t.first_row + n, t.col_of(c.key)), c, item.get(c.key)))
    out: dict[Cell, Typed] = {}
    for cell, f, value in spots:
        if value is None:
            continue
        if f.kind == "date":
            out[cell] = ("date", serial(dt.date.fromisoformat(value)), "valid: sample")
        elif f.kind in ("integer", "number"):
            out[cell] = _n(value, "valid: sample")
        else:
            out[cell] = _s(value, "valid: sample")
    return out


# --- comparing ----------------------------------------------------------------------------


@dataclass
class Checked:
    """One workbook: what was typed, what LibreOffice showed, what validate said."""

    form: str
    example: int
    profile: str
    typed: dict[Cell, Typed]
    still_to_do: dict[str, Any]
    statuses: dict[str, str]
    outcome: str
    issues: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)  # each disagreement, in words
    cells_checked: int = 0
    cells_disagreeing: int = 0
    error_cells: int = 0


def compare(c: Checked, form: Form) -> Checked:
    """Fill in the disagreements between the live workbook and validate."""
    answers = answer_cells(form)
    by_cell: dict[Cell, list[dict[str, Any]]] = {}
    errors: set[Cell] = set()
    unplaced = []
    for i in c.issues:
        spot = _cell_of(i)
        if spot is not None:
            by_cell.setdefault(spot, []).append(i)
        if i.get("severity") != "error":
            continue
        if spot in answers:
            errors.add(spot)
        else:
            unplaced.append(i)
    c.error_cells = len(errors)
    if c.outcome != "accepted":
        c.problems.append(f"validate did not accept the workbook: {c.outcome}")
        c.cells_disagreeing += 1
        return c
    for i in unplaced:
        c.problems.append(
            "validate reports an error on no answer cell, which no status can show: "
            + _issue_text(i)
        )
        c.cells_disagreeing += 1
    c.problems += _still_to_do_problems(c, errors, by_cell)
    for s in status_cells(form):
        c.cells_checked += 1
        shown = c.statuses.get(s.ref)
        wrong = [x for x in s.covers if x in errors]
        if shown is None:
            ok, why = False, "the status cell could not be read"
        elif wrong:
            ok, why = shown.startswith("✗"), "validate reports an error here"
        else:
            ok = shown in NOT_ERRORS and not shown.startswith("✗")
            why = "validate reports no error here"
        if not ok:
            c.cells_disagreeing += 1
            c.problems.append(_status_problem(c, s, shown, why, by_cell))
    return c


def _still_to_do_problems(
    c: Checked, errors: set[Cell], by_cell: dict[Cell, list[dict[str, Any]]]
) -> list[str]:
    name = c.still_to_do
    if not name.get("defined"):
        where = name.get("sheet_level_on") or []
        extra = f" (a sheet-level name of that name is on {where})" if where else ""
        return [
            f"the workbook has no workbook-level defined name '{STILL_TO_DO}'{extra}; "
            f"validate reports errors on {len(errors)} answer cells"
        ]
    if name.get("cells") != 1:
        return [f"'{STILL_TO_DO}' must refer to one cell; it is {name.get('content')!r}"]
    value = name.get("value")
    if value == len(errors) and not name.get("string", "").startswith("#"):
        return []
    listed = "; ".join(
        f"{a1(*x)}: typed {_typed_text(c.typed.get(x))}, "
        + ", ".join(i["code"] for i in by_cell.get(x, []) if i["severity"] == "error")
        for x in sorted(errors)
    )
    return [
        f"'{STILL_TO_DO}' ({name.get('content')}) shows {value!r} "
        f"({name.get('string')!r}); validate reports errors on {len(errors)} answer "
        f"cells: {listed or 'none'}"
    ]


def _status_problem(
    c: Checked,
    s: Status,
    shown: str | None,
    why: str,
    by_cell: dict[Cell, list[dict[str, Any]]],
) -> str:
    lines = [f"status {s.ref} ({s.what}) says {shown!r}, but {why}:"]
    for x in s.covers:
        said = by_cell.get(x, [])
        if x not in c.typed and not said:
            continue
        issues = "; ".join(_issue_text(i) for i in said) or "no issues"
        lines.append(f"    {a1(*x)}: typed {_typed_text(c.typed.get(x))} -> {issues}")
    return "\n".join(lines)


def _cell_of(issue: dict[str, Any]) -> Cell | None:
    sheet, cell = issue.get("sheet") or "", issue.get("cell") or ""
    if not sheet or not cell:
        return None
    try:
        row, col = xl_cell_to_rowcol(cell.replace("$", ""))
    except (ValueError, AttributeError):
        return None
    return (sheet, row + 1, col + 1)


def _issue_text(i: dict[str, Any]) -> str:
    return f"{i.get('severity')} {i.get('code')}: {i.get('message')}"


def _typed_text(t: Typed | None) -> str:
    if t is None:
        return "nothing"
    kind, value, label = t
    if kind == "date":
        value = f"{value} (= {EPOCH + dt.timedelta(days=int(value))})"
    text = repr(value)
    if len(text) > 60:
        text = text[:40] + f"… ({len(str(value))} characters)"
    return f"{text} as {kind} [{label}]"


def describe(c: Checked) -> str:
    head = (
        f"{c.form} workbook of example {c.example} ({c.profile}): "
        f"{c.cells_disagreeing} disagreeing of {c.cells_checked} status cells, "
        f"still_to_do {c.still_to_do.get('value')!r}, validate {c.error_cells} error cells"
    )
    return "\n".join([head, *(f"  {p}" for p in c.problems)])


# --- running it ------------------------------------------------------------------------


def form_of(path: Path) -> str:
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        meta = {r[0]: r[1] for r in wb[META_SHEET].iter_rows(values_only=True) if r and r[0]}
    finally:
        wb.close()
    return str(meta["form"])


@dataclass
class Bench:
    """A workspace with ADV1's workbooks issued, LibreOffice, and the figures so far."""

    ws: Any
    issued: dict[str, Path]
    lo: Any
    folder: Path
    checked: list[Checked] = field(default_factory=list)
    typed_kinds: Counter = field(default_factory=Counter)
    codes: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)

    def validate(self, paths: list[Path]) -> dict[str, dict[str, Any]]:
        proc = subprocess.run(
            [sys.executable, "-m", "participation_xl", "validate", "--json", *map(str, paths)],
            cwd=self.ws.root,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if proc.returncode not in (0, 1):
            pytest.fail(f"validate --json failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return {r["file"]: r for r in json.loads(proc.stdout)}

    def read(self, form: Form, path: Path, edits: list[dict], out: Path | None, recalc=True):
        return self.lo.call(
            "fill_read",
            path=str(path),
            edits=edits,
            recalc=recalc,
            names=[STILL_TO_DO],
            cells=[s.ref for s in status_cells(form)],
            **({"out": str(out), "filter": "xlsx"} if out else {}),
        )

    def figures(self) -> dict[str, Any]:
        bad = [c for c in self.checked if c.problems]
        return {
            "workbooks": len(self.checked),
            "examples": len({c.example for c in self.checked}),
            "by_form": dict(Counter(c.form for c in self.checked)),
            "by_profile": dict(Counter(c.profile for c in self.checked)),
            "status_cells_checked": sum(c.cells_checked for c in self.checked),
            "cells_disagreeing": sum(c.cells_disagreeing for c in self.checked),  # statuses
            "still_to_do_disagreeing": sum(
                any("still_to_do" in p for p in c.problems) for c in self.checked
            ),
            "workbooks_disagreeing": len(bad),
            "workbooks_ready_to_return": sum(c.error_cells == 0 for c in self.checked),
            "error_cells": sum(c.error_cells for c in self.checked),
            "answers_typed": sum(len(c.typed) for c in self.checked),
            "typed_by_kind": dict(sorted(self.typed_kinds.items())),
            "issue_codes": dict(sorted(self.codes.items())),
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
        }


def _edits(typed_at: dict[Cell, Typed]) -> list[dict[str, Any]]:
    return [{"cell": a1(*x), "type": t[0], "value": t[1]} for x, t in typed_at.items()]


@pytest.fixture(scope="module")
def bench(libreoffice, tmp_path_factory):
    folder = tmp_path_factory.mktemp("agreement")
    ws = init_workspace(folder / "ws", "Test Council", "2026-27", DUE)
    issued = {form_of(p): p for p in generate(ws, team_ids=["ADV1"])}
    assert set(issued) == set(FORMS), issued
    b = Bench(ws, issued, libreoffice, folder)
    yield b
    figures = b.figures()
    target = Path(os.environ.get("PXL_AGREEMENT_JSON") or folder / "agreement.json")
    target.write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")
    if b.checked:
        print(
            f"\nLive agreement through LibreOffice: {figures['workbooks']} workbooks "
            f"({figures['examples']} examples), {figures['status_cells_checked']} status cells "
            f"and {figures['workbooks']} still_to_do values checked; "
            f"{figures['cells_disagreeing']} status cells and "
            f"{figures['still_to_do_disagreeing']} still_to_do cells disagreed. "
            f"Figures: {target}"
        )


def test_every_issued_and_feedback_workbook_opens_with_still_to_do_and_statuses_right(bench):
    """Before anyone types: the values the files carry (no recalculation) agree too."""
    ws = bench.ws
    form = ws.pack.forms["audit"]
    answers = sample_answers(form, random.Random(7))
    answers["commitment"]["staff_total"] = "twelve"
    answers["about"]["date_completed"] = "30/02/2027"
    answers["promises"]["listen"]["rating"] = "Often"
    del answers["about"]["role"]
    fill_workbook(bench.issued["audit"], ws.returns_dir / "ADV1 audit.xlsx", answers, form)
    collect_and_report(ws)
    feedback = [p for p in (ws.reports_dir / "feedback").glob("*.xlsx") if form_of(p) == "audit"]
    assert feedback, "collect wrote no feedback workbook for an invalid audit"
    books = [("audit", bench.issued["audit"]), ("six-standards", bench.issued["six-standards"])]
    books.append(("audit", feedback[0]))
    said = bench.validate([p for _, p in books])
    problems = []
    for form_id, path in books:
        f = ws.pack.forms[form_id]
        seen = bench.read(f, path, [], None, recalc=False)
        r = said[str(path)]
        c = Checked(
            form_id,
            0,
            f"as issued: {path.name}",
            {},
            seen["names"][STILL_TO_DO],
            {k: v["string"] for k, v in seen["cells"].items()},
            r["outcome"],
            r["issues"],
        )
        if compare(c, f).problems:
            problems.append(describe(c))
    assert not problems, "\n\n".join(problems)


def test_live_checks_agree_with_validate_on_random_answers(bench):
    """The property: random answers of every kind, typed in LibreOffice, then compared."""
    forms = [bench.ws.pack.forms[f] for f in FORMS]
    counter = iter(range(1, 10**9))

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate, *((Phase.shrink,) if SHRINK else ())),
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(st.tuples(*(workbook_answers(f) for f in forms)))
    @example(tuple(("sample", sample_typed(f, 1)) for f in forms))
    def agree(drawn: tuple[tuple[str, dict[Cell, Typed]], ...]) -> None:
        n = next(counter)
        saved, seen = [], []
        for f, (profile, typed_at) in zip(forms, drawn, strict=True):
            out = bench.folder / f"example-{n:03d}-{f.id}.xlsx"
            got = bench.read(f, bench.issued[f.id], _edits(typed_at), out)
            bench.seconds["libreoffice"] += got["seconds"]
            saved.append(out)
            seen.append((f, profile, typed_at, got))
        start = dt.datetime.now()
        said = bench.validate(saved)
        bench.seconds["validate"] += (dt.datetime.now() - start).total_seconds()
        failed = []
        for out, (f, profile, typed_at, got) in zip(saved, seen, strict=True):
            r = said[str(out)]
            c = Checked(
                f.id,
                n,
                profile,
                typed_at,
                got["names"][STILL_TO_DO],
                {k: v["string"] for k, v in got["cells"].items()},
                r["outcome"],
                r["issues"],
            )
            bench.checked.append(compare(c, f))
            bench.typed_kinds.update(t[2].split(":")[0] for t in typed_at.values())
            bench.codes.update(i["code"] for i in r["issues"])
            if c.problems:
                failed.append(describe(c))
            else:
                out.unlink()  # keep only the workbooks that disagree, to look at
        if FAIL_FAST:
            assert not failed, "\n\n".join(failed)

    agree()
    figures = bench.figures()
    bad = [c for c in bench.checked if c.problems]
    assert not bad, (
        f"{figures['cells_disagreeing']} status cells disagreed in {len(bad)} of "
        f"{figures['workbooks']} workbooks, and still_to_do in "
        f"{figures['still_to_do_disagreeing']}. The disagreeing workbooks are kept in "
        f"{bench.folder}. "
        f"The first {min(SHOWN, len(bad))}:\n\n" + "\n\n".join(describe(c) for c in bad[:SHOWN])
    )
