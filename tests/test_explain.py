"""Queries explained: a feedback workbook asks for an explanation beside each query, and
collect records what the team typed there, with its query; one behaviour per test."""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
import re
import time
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from participation_xl import explain
from participation_xl.check import check_pack
from participation_xl.cli import main
from participation_xl.collect import collect
from participation_xl.generate import IssueContext, build_workbook, generate, issued_form
from participation_xl.issues import issue
from participation_xl.pack import load_pack
from participation_xl.read import Cell, RawWorkbook
from participation_xl.register import Register
from participation_xl.report import write_reports
from participation_xl.roster import Team
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.status import status
from participation_xl.workspace import register_path

BEFORE_DUE = dt.date(2027, 1, 10)
PHONE = "Call the team on 01225 477000 to join the forum."


@pytest.fixture
def cycle(workspace):
    paths = {issued_form(workspace, p): p for p in generate(workspace)}
    return workspace, paths


def _text_field(form) -> Any:
    """A free-text question of the form (not a table column), long enough for a sentence."""
    return next(
        i for i in form.inputs if i.field.kind == "text" and (i.field.max_length or 0) >= 200
    )


def _queried_return(ws, issued, team="EH01", form_id="audit") -> tuple[Any, dict, str]:
    """A valid return whose one query is personal data in a free-text answer."""
    form = ws.pack.forms[form_id]
    answers = sample_answers(form, random.Random(5), rows=2, today=BEFORE_DUE)
    spot = _text_field(form)
    _put(answers, spot.field.path, PHONE)
    fill_workbook(issued[(team, form_id)], ws.returns_dir / f"{team}.xlsx", answers, form)
    return form, answers, spot.field.path


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, key = path.split(".")
    for p in parents:
        doc = doc[p]
    doc[key] = value


def _row(ws, team="EH01", form="audit") -> dict[str, Any]:
    with Register(register_path(ws)) as reg:
        rows = status(ws, reg)["teams"]
    return next(r for r in rows if r["team_id"] == team and r["form"] == form)


def _queries(row) -> list[dict[str, Any]]:
    return [i for i in row["issues"] if i["severity"] == "query"]


def _later(path: Path, seconds: int = 60) -> Path:
    """The file's time moved on, as a team's later save would."""
    t = time.time() + seconds
    os.utime(path, (t, t))
    return path


def _feedback(ws, team="EH01", form="audit") -> Path:
    return ws.reports_dir / "feedback" / f"{team}-{form}.xlsx"


def _type_explanations(feedback: Path, out: Path, texts: dict[str, str]) -> Path:
    """Type into the explanation cells by their defined names, as a team would."""
    wb = openpyxl.load_workbook(feedback)
    for name, text in texts.items():
        sheet, cell = next(iter(wb.defined_names[name].destinations))
        wb[sheet][cell.replace("$", "")] = text
    wb.save(out)
    return _later(out)


def _chasers(ws) -> list[dict[str, str]]:
    text = (ws.reports_dir / "chasers.csv").read_text(encoding="utf-8-sig")
    return list(csv.DictReader(text.splitlines()))


def _explain_names(path: Path) -> dict[str, str]:
    wb = openpyxl.load_workbook(path)
    return {n: d.attr_text for n, d in wb.defined_names.items() if n.startswith("explain.")}


# --- the feedback workbook asks ----------------------------------------------------------------


def test_a_valid_return_with_a_query_gets_a_feedback_workbook_with_an_explanation_cell(cycle):
    ws, issued = cycle
    _queried_return(ws, issued)
    collect(ws)
    row = _row(ws)
    assert row["status"] == "valid"
    [query] = _queries(row)
    assert query["code"] == "privacy.personal_data" and query["explanation"] is None
    write_reports(ws, today=BEFORE_DUE)
    feedback = _feedback(ws)
    assert feedback.is_file()
    names = _explain_names(feedback)
    name = explain.name_of(explain.Key(query["code"], query["sheet"], query["cell"]))
    assert list(names) == [name]
    assert re.fullmatch(r"explain\.[A-Za-z0-9_.]+", name)  # Excel's defined-name syntax
    wb = openpyxl.load_workbook(feedback)
    sheet, cell = next(iter(wb.defined_names[name].destinations))
    assert sheet == explain.SHEET
    target = wb[sheet][cell.replace("$", "")]
    assert target.protection.locked is False and target.value is None
    assert wb[sheet].protection.sheet  # everything else stays locked
    # Beside it: where the query is, and what it says.
    row_cells = [c.value for c in wb[sheet][target.row]]
    assert f"{query['sheet']}, cell {query['cell']}" in row_cells
    assert query["message"] in row_cells


def test_the_pack_suggests_wording_beside_the_explanation_cell(cycle):
    ws, issued = cycle
    _queried_return(ws, issued)
    collect(ws)
    write_reports(ws, today=BEFORE_DUE)
    wb = openpyxl.load_workbook(_feedback(ws))
    values = [c.value for row in wb[explain.SHEET].iter_rows() for c in row]
    assert ws.pack.explanations["privacy.personal_data"] in values


def test_a_return_with_nothing_to_explain_gets_no_feedback(cycle):
    ws, issued = cycle
    form = ws.pack.forms["audit"]
    answers = sample_answers(form, random.Random(5), rows=2, today=BEFORE_DUE)
    fill_workbook(issued[("EH01", "audit")], ws.returns_dir / "EH01.xlsx", answers, form)
    collect(ws)
    assert _row(ws)["issues"] == []
    write_reports(ws, today=BEFORE_DUE)
    assert not _feedback(ws).exists()


def test_an_invalid_return_without_queries_has_no_explain_sheet(cycle):
    ws = _collect_without_role(cycle)
    write_reports(ws, today=BEFORE_DUE)
    wb = openpyxl.load_workbook(_feedback(ws))
    assert explain.SHEET not in wb.sheetnames
    assert not _explain_names(_feedback(ws))


# --- the round trip ---------------------------------------------------------------------------


def test_explanations_typed_in_the_feedback_workbook_are_recorded_with_their_query(cycle):
    ws, issued = cycle
    _queried_return(ws, issued)
    collect(ws)
    write_reports(ws, today=BEFORE_DUE)
    [name] = _explain_names(_feedback(ws))
    text = "This is the forum's public line, staffed by the team; no family's number."
    _type_explanations(_feedback(ws), ws.returns_dir / "EH01 explained.xlsx", {name: text})
    collect(ws)
    row = _row(ws)
    assert row["status"] == "valid" and row["file"] == "EH01 explained.xlsx"
    [query] = _queries(row)
    assert query["explanation"] == text
    with Register(register_path(ws)) as reg:
        assert reg.explanations(ws.cycle)[("EH01", "audit")] == {
            (query["code"], query["sheet"], query["cell"]): text
        }
    write_reports(ws, today=BEFORE_DUE)
    assert not _feedback(ws).exists()  # nothing left to do: no feedback, no chaser
    chased = _chasers(ws)
    assert not [r for r in chased if r["team_id"] == "EH01"]


def test_an_explained_query_stays_explained_when_a_later_return_raises_it_again(cycle):
    ws, issued = cycle
    form, answers, _ = _queried_return(ws, issued)
    collect(ws)
    write_reports(ws, today=BEFORE_DUE)
    [name] = _explain_names(_feedback(ws))
    _type_explanations(_feedback(ws), ws.returns_dir / "EH01 explained.xlsx", {name: "Public."})
    collect(ws)
    # A later return from the original workbook, the same answer, no explanation sheet.
    later = fill_workbook(issued[("EH01", "audit")], ws.returns_dir / "EH01 v3.xlsx", answers, form)
    _later(later, 120)
    collect(ws)
    row = _row(ws)
    assert row["file"] == "EH01 v3.xlsx"
    assert [q["explanation"] for q in _queries(row)] == ["Public."]


def test_a_query_not_explained_still_counts_against_the_return(cycle):
    ws, issued = cycle
    _queried_return(ws, issued)
    collect(ws)
    write_reports(ws, today=BEFORE_DUE)
    chased = _chasers(ws)
    [mine] = [r for r in chased if r["team_id"] == "EH01"]
    assert mine["status"] == "valid"
    assert "1 query to explain" in mine["what"]
    assert mine["attach"].endswith("EH01-audit.xlsx")


def test_status_shows_queries_still_to_explain(cycle):
    ws, issued = cycle
    _queried_return(ws, issued)
    collect(ws)
    out = CliRunner().invoke(main, ["-w", str(ws.root), "status"]).output
    line = next(x for x in out.splitlines() if x.startswith("EH01") and " audit " in x)
    assert "valid, 1 query to explain" in line


def test_an_explanation_for_a_query_no_longer_raised_is_not_kept(cycle):
    ws, issued = cycle
    form, answers, path = _queried_return(ws, issued)
    collect(ws)
    write_reports(ws, today=BEFORE_DUE)
    [name] = _explain_names(_feedback(ws))
    typed = _type_explanations(_feedback(ws), ws.returns_dir / "tmp.xlsx", {name: "Public."})
    # The team corrects the answer instead, in the same feedback workbook.
    _put(answers, path, "We run a monthly forum.")
    fixed = fill_workbook(typed, ws.returns_dir / "EH01 fixed.xlsx", answers, form)
    typed.unlink()
    _later(fixed)
    collect(ws)
    assert _queries(_row(ws)) == []
    with Register(register_path(ws)) as reg:
        assert reg.explanations(ws.cycle) == {}


def test_status_json_has_an_explanation_key_on_every_issue(cycle):
    ws = _collect_without_role(cycle)
    issues = _row(ws)["issues"]
    assert issues and all(i["explanation"] is None for i in issues)


# --- through LibreOffice, the real client ---------------------------------------------------
@pytest.mark.libreoffice
@pytest.mark.parametrize("fmt", ["xlsx", "ods"])
def test_an_explanation_typed_in_libreoffice_is_recorded_with_its_query(libreoffice, cycle, fmt):
    ws, issued = cycle
    _queried_return(ws, issued)
    collect(ws)
    write_reports(ws, today=BEFORE_DUE)
    feedback = _feedback(ws)
    [(name, target)] = _explain_names(feedback).items()
    target = target.replace("$", "")
    # LibreOffice sees the workbook-level name, on an unlocked cell of a protected sheet,
    # and lets a person type into it there.
    typed = libreoffice.call("type_into", path=str(feedback), cell=target, text="Typed.")
    assert typed["changed"], typed
    text = "The forum's public line: staffed by the team, never a family's number."
    out = ws.returns_dir / f"EH01 explained.{fmt}"
    seen = libreoffice.call(
        "fill_read",
        path=str(feedback),
        edits=[{"cell": target, "value": text}],
        names=[name],
        out=str(out),
        filter=fmt,
    )
    assert seen["names"][name]["defined"] and seen["names"][name]["string"] == text, seen
    _later(out)
    collect(ws)
    row = _row(ws)
    assert row["file"] == out.name and row["status"] == "valid", row
    assert [q["explanation"] for q in _queries(row)] == [text]
    with Register(register_path(ws)) as reg:
        assert list(reg.explanations(ws.cycle)[("EH01", "audit")].values()) == [text]


@pytest.mark.libreoffice
def test_the_explain_sheet_prints_legibly_with_full_length_text(libreoffice, pack, tmp_path):
    """A query and an explanation of the longest allowed length print word for word on
    A4, with no text under 8 pt."""
    import render  # the printing tests' PDF reader (tests/render.py)

    if render.pdfplumber_missing():
        pytest.skip(render.pdfplumber_missing())
    rng = random.Random(15)
    vocab = render.vocabulary()
    texts = {
        "query": render.long_text(rng, 400, vocab),
        "suggestion": render.long_text(rng, 300, vocab),
        "explanation": render.long_text(rng, explain.MAX_TEXT, vocab),
    }
    queries = [
        explain.Query(
            explain.Key("privacy.personal_data", "About the team", "C9"),
            "Your role",
            texts["query"],
            texts["suggestion"],
            texts["explanation"],
        ),
        explain.Query(explain.Key("status.late", "", ""), "", "Received after the due date."),
    ]
    team = Team("EH01", "Early Help North", "Early Help", "internal", "", "Sam", "s@x.org")
    ctx = IssueContext("Council", "2026-27", dt.date(2027, 3, 31), "the folder", "pw", b"k", "now")
    xlsx = tmp_path / "feedback.xlsx"
    xlsx.write_bytes(build_workbook(pack.forms["audit"], team, ctx, queries=queries))
    pdf = tmp_path / "feedback.pdf"
    libreoffice.call("to_pdf", path=str(xlsx), out=str(pdf))
    printed = render.read_pdf(pdf)
    assert printed.smallest_pt >= 8.0, printed.page_sizes
    assert render.missing_words(printed, texts) == {k: [] for k in texts}


# --- names and the pack ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "name"),
    [
        (
            explain.Key("privacy.personal_data", "About the team", "C9"),
            "explain.privacy.personal_data.About_the_team.C9",
        ),
        (explain.Key("status.late", "", ""), "explain.status.late"),
        (explain.Key("rule.not_after_query", "Action plan", "$E$12"), None),
    ],
)
def test_explanation_names_are_stable_and_valid_excel_names(key, name):
    got = explain.name_of(key)
    assert name is None or got == name
    assert got == explain.name_of(explain.Key(*key))
    assert re.fullmatch(r"explain\.[A-Za-z_][A-Za-z0-9_.]*", got)


def test_names_that_would_clash_are_told_apart():
    keys = [explain.Key("c.q", "A b", "C1"), explain.Key("c.q", "A-b", "C1")]
    assert explain.unique_names(keys) == ["explain.c.q.A_b.C1", "explain.c.q.A_b.C1_2"]


def test_the_pack_check_refuses_a_suggestion_for_an_error_or_unknown_code(pack_copy):
    toml = pack_copy / "workbook_templates" / "pack.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8") + '"answer.required" = "x"\n"no.such_code" = "y"\n',
        encoding="utf-8",
    )
    problems = check_pack(load_pack(pack_copy))
    assert any("'answer.required'" in p for p in problems)
    assert any("'no.such_code'" in p for p in problems)


# --- reading explanation cells, as a table of cells and what is kept --------------------------


def _raw(*rows: tuple[Any, ...]) -> Any:
    """A returned workbook whose explain sheet holds these rows: (code, sheet, cell, the
    explanation cell), from the first query row down."""
    cells: dict[tuple[int, int], Cell] = {}
    for n, (code, sheet, cell, typed) in enumerate(rows):
        r = explain.HEADER_ROW + 1 + n
        keys = ((explain.CODE_COL, code), (explain.SHEET_COL, sheet), (explain.CELL_COL, cell))
        for col, v in keys:
            if v:
                cells[(r, col)] = Cell(v, "s")
        if typed is not None:
            cells[(r, explain.EXPLAIN_COL)] = typed
    return RawWorkbook("x.xlsx", "xlsx", cells={explain.SHEET: cells})


def test_reading_explanations_keeps_typed_text_only():
    raw = _raw(
        ("privacy.personal_data", "About", "C9", Cell("  Public   line. ", "s")),
        ("status.late", "", "", Cell(42.0, "n")),  # a number typed: kept as its text
        ("rule.not_after_query", "Plan", "E12", Cell("Yes", "s", formula="A1")),  # a formula
        ("privacy.personal_data", "About", "C10", None),  # not explained
        ("privacy.personal_data", "About", "C11", Cell("#N/A", "e")),  # an error value
    )
    assert explain.read_explanations(raw) == {
        explain.Key("privacy.personal_data", "About", "C9"): "Public line.",
        explain.Key("status.late", "", ""): "42",
    }


def test_only_explanations_of_queries_the_return_raises_are_kept():
    found = {
        explain.Key("privacy.personal_data", "S", "B2"): "x",
        explain.Key("answer.required", "S", "B3"): "y",
    }
    issues = [
        issue("privacy.personal_data", "f", "S", "B2", what="email"),
        issue("answer.required", "f", "S", "B3"),  # an error, not a query
    ]
    assert explain.answered(found, issues) == {explain.Key("privacy.personal_data", "S", "B2"): "x"}


def test_a_workbook_without_the_explain_sheet_has_no_explanations():
    assert explain.read_explanations(RawWorkbook("x.xlsx", "xlsx")) == {}


@pytest.mark.parametrize(
    ("code", "asked"),
    [
        ("privacy.personal_data", True),  # the team says why the answer is right
        ("rule.not_after_query", True),
        ("status.late", True),  # as DfE COLLECT asks why a return came late
        ("file.resent", False),  # what the tool did: nothing for the team to explain
        ("status.future_time", False),
        ("answer.control_chars", False),
        ("normalise.trimmed", False),
        ("normalise.date_text", False),
        ("answer.required", False),  # an error is fixed, not explained
    ],
)
def test_which_issues_a_team_is_asked_to_explain(code, asked):
    assert explain.to_explain(issue(code, "f")) is asked


def _collect_without_role(cycle):
    """EH01 returns an audit with a required answer left blank (errors, no query)."""
    ws, issued = cycle
    form = ws.pack.forms["audit"]
    answers = sample_answers(form, random.Random(5), rows=2, today=BEFORE_DUE)
    answers["about"].pop("role")
    fill_workbook(issued[("EH01", "audit")], ws.returns_dir / "EH01.xlsx", answers, form)
    collect(ws)
    return ws
