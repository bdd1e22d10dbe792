"""Property: whatever a team types, it reaches every output as inert text, never a formula."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import os
import random
import shutil

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from participation_xl import init_workspace
from participation_xl.export import submissions, write_csv
from participation_xl.generate import generate, issued_form
from participation_xl.pipeline import collect_and_report
from participation_xl.register import Register
from participation_xl.sample import sample_answers
from participation_xl.workspace import register_path

PREFIXES = [
    "=",
    "+",
    "-",
    "@",
    "\t",
    "\r",
    "mailto:",
    "http://",
    "file://",
    "external:",
    "=HYPERLINK(",
    "=cmd|' /c calc'!A0",
    "@SUM(",
    "=1+1",
]
# A needle this short ("-", "=1") is in our own formulas whatever the team typed, so a
# formula cell counts as holding it only when it is that text exactly (the answer became a
# formula) or the text is longer (a leak into a formula would carry all of it).
MEANINGFUL = 5
EXAMPLES = int(os.environ.get("PXL_PROPERTY_EXAMPLES", "8"))
_RUN = itertools.count()

hostile = st.tuples(
    st.sampled_from(PREFIXES),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=40),
).map(lambda t: t[0] + t[1])


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    ws = init_workspace(
        tmp_path_factory.mktemp("formula") / "ws", "Council", "2026-27", dt.date(2027, 3, 31)
    )
    paths = {issued_form(ws, p)[1]: p for p in generate(ws, team_ids=["ADV1"])}
    return ws, paths


def _fill(ws, src, out, text: str) -> None:
    """A return whose free-text answers hold `text`, typed as text (as Excel stores it)."""
    form = ws.pack.forms["six-standards"]
    answers = sample_answers(form, random.Random(1))
    wb = openpyxl.load_workbook(src)
    targets = ["contract.service_name", "budget.budget_notes", "standards.feedback.evidence"]
    for i in form.inputs:
        node = answers
        for part in i.field.path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        cell = wb[i.sheet].cell(i.row, i.col)
        value = text if i.field.path in targets else node
        if isinstance(value, str) and i.field.kind == "date":
            value = dt.date.fromisoformat(value)
        cell.value = value
        if i.field.path in targets:
            cell.data_type = "s"  # typed as text: openpyxl would otherwise store a formula
    wb.save(out)


def _string_cells_holding(path, needle: str) -> tuple[int, list[str]]:
    wb = openpyxl.load_workbook(path)
    found, bad = 0, []
    for ws in wb.worksheets:
        assert not ws._hyperlinks, (path.name, ws.title)
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and needle.strip() and needle.strip() in cell.value:
                    short = len(needle.strip()) < MEANINGFUL
                    if cell.data_type == "f" and short and cell.value.strip() != needle.strip():
                        continue  # our own live-check formulas hold "-", "+" and "=" anyway
                    found += 1
                    if cell.data_type != "s":
                        bad.append(f"{ws.title}!{cell.coordinate}")
    return found, bad


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=hostile)
def test_hostile_text_stays_text_in_every_output(issued, text):
    ws, paths = issued
    for stale in (ws.returns_dir, ws.reports_dir, ws.state_dir / "archive"):
        shutil.rmtree(stale, ignore_errors=True)
        stale.mkdir(parents=True)
    register_path(ws).unlink(missing_ok=True)
    _fill(ws, paths["six-standards"], ws.returns_dir / f"{next(_RUN)}.xlsx", text)
    collect_and_report(ws)  # writes the register, compliance, feedback and chasers
    outputs = [*ws.reports_dir.glob("*.xlsx"), *ws.reports_dir.glob("feedback/*.xlsx")]
    assert outputs
    seen = 0
    for path in outputs:
        found, bad = _string_cells_holding(path, text[:200])
        assert bad == [], (path.name, bad)
        seen += found
    if text.strip() and len(text.strip()) > 1:
        assert seen, "the text reached no output at all"
    with Register(register_path(ws)) as reg:
        out = io.StringIO()
        write_csv(submissions(ws, reg, include_invalid=True), out)
    for row in csv.reader(io.StringIO(out.getvalue())):
        for value in row:
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
