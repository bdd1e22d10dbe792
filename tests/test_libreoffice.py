"""What LibreOffice, the real client, sees in our workbooks, and what it sends back.

These run in CI (the fixture fails there if LibreOffice is missing): they are the check
that a team using LibreOffice gets a locked, guided form, and that its saves are collected.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil

import pytest
from click.testing import CliRunner
from xlsxwriter.utility import xl_rowcol_to_cell

from participation_xl.cli import main
from participation_xl.collect import collect
from participation_xl.generate import generate, issued_form
from participation_xl.pack import LISTS_SHEET, META_SHEET
from participation_xl.pipeline import collect_and_report
from participation_xl.register import Register
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.workspace import register_path

pytestmark = pytest.mark.libreoffice


def ref(sheet: str, row: int, col: int) -> str:
    return f"'{sheet}'!{xl_rowcol_to_cell(row - 1, col - 1)}"


@pytest.fixture(scope="module")
def issued_paths(issued):
    ws, paths = issued
    return ws, {issued_form(ws, p): p for p in paths}


@pytest.mark.parametrize("form_id", ["audit", "six-standards"])
def test_libreoffice_opens_the_form_locked_with_inputs_open_and_lists(
    libreoffice, issued_paths, form_id
):
    ws, paths = issued_paths
    form = ws.pack.forms[form_id]
    inputs = [*form.inputs[:12], form.inputs[-1]]
    labels = [ref(i.sheet, i.row, i.label_col) for i in inputs]
    seen = libreoffice.call(
        "inspect",
        path=str(paths[("ADV1", form_id)]),
        cells=[ref(i.sheet, i.row, i.col) for i in inputs] + labels,
    )
    sheets = {s["name"]: s for s in seen["sheets"]}
    assert all(s["protected"] for s in sheets.values())
    assert sheets[META_SHEET]["visible"] is False
    assert sheets[LISTS_SHEET]["visible"] is False
    for i in inputs:
        cell = seen["cells"][ref(i.sheet, i.row, i.col)]
        assert cell["locked"] is False, i.field.path
        expected = {
            "choice": "LIST",
            "integer": "WHOLE",
            "number": "DECIMAL",
            "date": "DATE",
            "text": "TEXT_LEN",
            "email": "TEXT_LEN",
        }[i.field.kind]
        assert cell["validation"]["type"] == expected, i.field.path
        assert cell["validation"]["show_error"] and cell["validation"]["input_message"]
        if i.field.kind == "choice":
            assert cell["validation"]["formula1"] == i.field.choices_name
    for label in labels:
        assert seen["cells"][label]["locked"] is True
    assert set(seen["named_ranges"]) >= {f.path for f in form.fields}


@pytest.mark.parametrize("form_id", ["audit", "six-standards"])
def test_after_recalculation_the_banner_counts_blank_required_answers(
    libreoffice, issued_paths, form_id, tmp_path
):
    ws, paths = issued_paths
    form = ws.pack.forms[form_id]
    plan = form.sheets[0]
    required = [i for i in form.inputs if i.sheet == plan.name and i.field.required]
    count = ref(plan.name, 3, plan.last_col)
    before = libreoffice.call(
        "inspect", path=str(paths[("ADV1", form_id)]), cells=[count], recalc=True
    )
    assert before["cells"][count]["value"] == len(required)
    # Fill two required answers in LibreOffice: the banner goes down by two.
    edits = [
        {"cell": ref(i.sheet, i.row, i.col), "value": _typed(i.field), "type": _kind(i.field)}
        for i in required[:2]
    ]
    out = tmp_path / "filled.xlsx"
    libreoffice.call(
        "fill_save", path=str(paths[("ADV1", form_id)]), edits=edits, out=str(out), filter="xlsx"
    )
    after = libreoffice.call(
        "inspect", path=str(out), cells=[count, ref(plan.name, 3, 1)], recalc=True
    )
    assert after["cells"][count]["value"] == len(required) - 2
    assert "to fill in or fix" in after["cells"][ref(plan.name, 3, 1)]["string"]


def _typed(field):
    if field.kind == "date":
        return (dt.date(2026, 6, 1) - dt.date(1899, 12, 30)).days
    if field.kind in ("integer", "number"):
        return 3
    if field.kind == "choice":
        return field.choices[0]
    return "Filled in LibreOffice"


def _kind(field):
    return {"date": "date", "integer": "number", "number": "number"}.get(field.kind, "string")


def test_typing_into_a_locked_cell_is_refused_but_an_answer_cell_takes_it(
    libreoffice, issued_paths
):
    ws, paths = issued_paths
    form = ws.pack.forms["six-standards"]
    answer = next(i for i in form.inputs if i.field.path == "standards.feedback.rating")
    path = str(paths[("ADV1", "six-standards")])
    locked = libreoffice.call(
        "type_into", path=path, cell=ref(answer.sheet, answer.row, 1), text="hacked"
    )
    assert locked["changed"] is False and locked["after"] != "hacked"
    open_cell = libreoffice.call(
        "type_into", path=path, cell=ref(answer.sheet, answer.row, answer.col), text="Met"
    )
    assert open_cell["changed"] is True and open_cell["after"] == "Met"


@pytest.mark.parametrize("fmt", ["xlsx", "ods", "xls"])
def test_a_return_filled_and_saved_in_libreoffice_is_collected(
    libreoffice, workspace, fmt, tmp_path
):
    paths = {issued_form(workspace, p): p for p in generate(workspace, team_ids=["ADV1"])}
    form = workspace.pack.forms["six-standards"]
    answers = sample_answers(form, random.Random(3))
    edits = []
    for i in form.inputs:
        node = answers
        for part in i.field.path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            continue
        kind = _kind(i.field)
        value = (
            (dt.date.fromisoformat(node) - dt.date(1899, 12, 30)).days if kind == "date" else node
        )
        edits.append({"cell": ref(i.sheet, i.row, i.col), "value": value, "type": kind})
    out = workspace.returns_dir / f"ADV1 six-standards.{fmt}"
    libreoffice.call(
        "fill_save",
        path=str(paths[("ADV1", "six-standards")]),
        edits=edits,
        out=str(out),
        filter=fmt,
    )
    collect(workspace)
    with Register(register_path(workspace)) as reg:
        subs = reg.submissions(workspace.cycle)
    assert len(subs) == 1, json.dumps(_files(workspace))
    sub = subs[0]
    assert sub.valid, sub.issues
    ident = {
        "form": "six-standards",
        "form_version": "1.0",
        "cycle": workspace.cycle,
        "team_id": "ADV1",
    }
    assert sub.document == {**ident, **answers}


def _files(ws):
    result = CliRunner().invoke(main, ["-w", str(ws.root), "status", "--json"])
    return json.loads(result.output)["files"]


def test_libreoffice_converts_every_generated_form_to_pdf(libreoffice, issued_paths, tmp_path):
    _, paths = issued_paths
    for key, path in paths.items():
        out = tmp_path / f"{key[0]}-{key[1]}.pdf"
        copy = tmp_path / path.name
        shutil.copy(path, copy)
        result = libreoffice.call("to_pdf", path=str(copy), out=str(out))
        assert result["bytes"] > 10_000 and out.read_bytes().startswith(b"%PDF")


def test_libreoffice_opens_every_report_and_converts_it_to_pdf(libreoffice, workspace, tmp_path):
    paths = {issued_form(workspace, p): p for p in generate(workspace)}
    for n, ((team, form_id), path) in enumerate(sorted(paths.items())):
        form = workspace.pack.forms[form_id]
        answers = sample_answers(form, random.Random(n))
        if n == 0:
            answers["about" if form_id == "audit" else "contract"].clear()  # one invalid
        fill_workbook(path, workspace.returns_dir / f"{team} {form_id}.xlsx", answers, form)
    collect_and_report(workspace)
    reports = [
        *workspace.reports_dir.glob("*.xlsx"),
        *workspace.reports_dir.glob("feedback/*.xlsx"),
    ]
    assert {p.name for p in reports} >= {"register.xlsx", "compliance.xlsx"}
    assert any(p.parent.name == "feedback" for p in reports)
    for path in reports:
        out = tmp_path / f"{path.stem}.pdf"
        result = libreoffice.call("to_pdf", path=str(path), out=str(out))
        assert result["bytes"] > 5_000 and out.read_bytes().startswith(b"%PDF"), path.name
