"""Reports for managers, read back as a spreadsheet reader sees them; one behaviour per test.

Most tests put submissions straight into the register (fast, and exactly the values we
want); the round-trip tests go through generate, fill and collect like a real cycle.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import random
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openxml_audit import OpenXmlValidator
from recorded import record_return

from participation_xl import report
from participation_xl.collect import collect
from participation_xl.examine import issue
from participation_xl.generate import generate, issued_form
from participation_xl.issues import Issue
from participation_xl.messages import Code, render
from participation_xl.register import Register
from participation_xl.report import (
    CUT_MARKER,
    FILLS,
    write_compliance,
    write_feedback,
    write_register,
    write_reports,
)
from participation_xl.roster import EXAMPLES, write_starter_roster
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.status import status
from participation_xl.workspace import register_path

BEFORE_DUE = dt.date(2027, 1, 10)
AFTER_DUE = dt.date(2027, 4, 10)
ON_TIME = "2027-03-20T09:30:00+00:00"
LATE = "2027-04-02T16:45:00+00:00"
NASTY = [
    '=HYPERLINK("http://x","y")',
    "=cmd|' /c calc'!A0",
    "@SUM(1+1)",
    "file:///etc/passwd",
    "+1",
    "-1+2",
]


# --- building a register ------------------------------------------------------------------


def _doc(ws, team: str, form: str, seed: int = 1, rows: int = 2) -> dict[str, Any]:
    f = ws.pack.forms[form]
    head = {"form": form, "form_version": f.version, "cycle": ws.cycle, "team_id": team}
    return head | sample_answers(f, random.Random(seed), rows=rows)


def _submit(ws, team, form, doc, issues=(), received=ON_TIME, cycle=None, name=None) -> None:
    """Record one return as collect would: a file, its submission, and which is current."""
    record_return(ws, team, form, doc, issues, received, cycle, name)


def _standards_doc(ws) -> dict[str, Any]:
    """Standard 1 Not met with no action; Standard 2 Partially met, due 15/01/2027; rest Met."""
    doc = _doc(ws, "ADV1", "six-standards", seed=2)
    stds = doc["standards"]
    for key in stds:
        stds[key]["rating"] = "Met"
    stds["feedback"] |= {"rating": "Not met", "target_date": "2027-06-30"}
    del stds["feedback"]["action"]
    stds["delivery"] |= {"rating": "Partially met", "target_date": "2027-01-15"}
    return doc


@pytest.fixture
def known(workspace):
    """1 valid audit (EH01), 1 invalid and late Six Standards review (ADV1), the rest missing."""
    ws = workspace
    audit = _doc(ws, "EH01", "audit", seed=1, rows=2)
    _submit(ws, "EH01", "audit", audit)
    problems = [
        issue("answer.required_when", "ADV1 six-standards.xlsx", "Six Standards", "D8",
              "Improvement action", other="Rating"),
        issue("normalise.trimmed", "ADV1 six-standards.xlsx", "Provider", "B8",
              "Name of the commissioned service"),
        issue("status.late", "ADV1 six-standards.xlsx", received="02/04/2027", due="31/03/2027"),
    ]  # fmt: skip
    _submit(ws, "ADV1", "six-standards", _standards_doc(ws), problems, received=LATE)
    paths = write_reports(ws, today=AFTER_DUE)
    return ws, paths, audit


def _rows(path: Path, sheet: str) -> list[dict[str, Any]]:
    """A sheet's one table as dicts keyed by heading."""
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    (table,) = ws.tables.values()
    cells = [[c.value for c in row] for row in ws[table.ref]]
    return [dict(zip(cells[0], row, strict=True)) for row in cells[1:]]


def _table(path: Path, sheet: str, name: str) -> list[dict[str, Any]]:
    ws = openpyxl.load_workbook(path)[sheet]
    cells = [[c.value for c in row] for row in ws[ws.tables[name].ref]]
    return [dict(zip(cells[0], row, strict=True)) for row in cells[1:]]


def _reports(ws) -> Path:
    return ws.reports_dir


# --- register.xlsx: contents ----------------------------------------------------------------


def test_returns_sheet_has_one_row_per_expected_return(known):
    ws, _, _ = known
    rows = _rows(_reports(ws) / "register.xlsx", "Returns")
    got = [(r["Team ID"], r["Form"], r["Status"], r["Late"]) for r in rows]
    assert got == [
        ("EH01", "audit", "Valid", "No"),
        ("SW02", "audit", "Missing", None),
        ("ADV1", "audit", "Missing", None),
        ("ADV1", "six-standards", "Invalid", "Yes"),
    ]
    adv = rows[3]
    assert adv["Received (UTC)"] == dt.datetime(2027, 4, 2, 16, 45)
    assert adv["File"] == "ADV1 six-standards.xlsx"
    assert re.fullmatch(r"[0-9a-f]{12}", adv["SHA-256 (first 12)"])
    assert (adv["Errors"], adv["Queries"], adv["Earlier versions"]) == (1, 2, 0)


def test_earlier_versions_are_counted(known):
    ws, _, _ = known
    _submit(ws, "EH01", "audit", _doc(ws, "EH01", "audit", seed=5), received=LATE, name="v2.xlsx")
    write_reports(ws, today=AFTER_DUE)
    eh01 = _rows(_reports(ws) / "register.xlsx", "Returns")[0]
    assert (eh01["File"], eh01["Earlier versions"]) == ("v2.xlsx", 1)


def test_status_is_a_word_and_a_colour(known):
    ws, _, _ = known
    sheet = openpyxl.load_workbook(_reports(ws) / "register.xlsx")["Returns"]
    fills = {sheet.cell(r, 6).value: sheet.cell(r, 6).fill.fgColor.rgb for r in range(5, 9)}
    assert fills == {
        "Valid": "FF" + FILLS["good"][0][1:],
        "Missing": "FF" + FILLS["bad"][0][1:],
        "Invalid": "FF" + FILLS["amber"][0][1:],
    }


def _luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


@pytest.mark.parametrize("name", sorted(FILLS))
def test_text_on_every_fill_has_a_contrast_of_at_least_4_5(name):
    fill, text = (_luminance(c) for c in FILLS[name])
    light, dark = max(fill, text), min(fill, text)
    assert (light + 0.05) / (dark + 0.05) >= 4.5


def test_audit_sheet_has_a_column_per_question_as_labelled_in_the_form(known):
    ws, _, audit = known
    (row,) = _rows(_reports(ws) / "register.xlsx", "Audit")
    assert (row["Team ID"], row["Team name"], row["Status"]) == (
        "EH01",
        "Early Help North",
        "Valid",
    )
    assert row["Your name"] == audit["about"]["completed_by"]
    assert row["Date completed"] == dt.datetime.fromisoformat(audit["about"]["date_completed"])
    assert row["How many staff are in your team?"] == audit["commitment"]["staff_total"]
    rating = "We will listen to what they say. – How often do you do this?"
    assert row[rating] == audit["promises"]["listen"]["rating"]
    assert not any(h in row for h in ("You said", "Action", "Signatory"))  # tables: own sheets
    assert row["File"] == "EH01 audit.xlsx"


def test_six_standards_sheet_has_a_row_per_standard(known):
    ws, _, _ = known
    rows = _rows(_reports(ws) / "register.xlsx", "Six Standards")
    assert len(rows) == 6
    first, second = rows[0], rows[1]
    assert first["Standard"] == "Standard 1"  # in full on the compliance Dashboard
    assert (first["Provider"], first["Rating"], first["Improvement action"]) == (
        "Off the Record",
        "Not met",
        None,
    )
    assert second["Target date"] == dt.datetime(2027, 1, 15)
    assert first["Return status"] == "Invalid"


def test_you_said_we_did_lists_every_entry_with_area_and_team_first(known):
    ws, _, audit = known
    rows = _rows(_reports(ws) / "register.xlsx", "You Said, We Did")
    assert list(rows[0])[:3] == ["Service area", "Team", "Date"]
    said = sorted(audit["you_said_we_did"], key=lambda e: e["date"])
    assert [r["You said"] for r in rows] == [e["you_said"] for e in said]
    assert rows[0]["Date"] == dt.datetime.fromisoformat(said[0]["date"])
    assert rows[0]["Team"] == "Early Help North"


def test_you_said_we_did_prints_what_seg_reads_and_leaves_the_trace_off(known):
    ws, _, _ = known
    sheet = openpyxl.load_workbook(_reports(ws) / "register.xlsx")["You Said, We Did"]
    heads = [c.value for c in sheet[4]]
    area = sheet.print_area.split("!")[-1]
    last = re.fullmatch(r"\$A\$1:\$([A-Z]+)\$\d+", area)[1]
    printed = heads[: openpyxl.utils.column_index_from_string(last)]
    for want in ("Service area", "Team", "Date", "You said", "We did", "Impact"):
        assert want in printed
    assert any(h.startswith("Level") for h in printed)
    assert not {"File", "SHA-256 (first 12)", "Received (UTC)"} & set(printed)


def test_signatories_sheet_is_the_promise_register(known):
    ws, _, audit = known
    rows = _rows(_reports(ws) / "register.xlsx", "Signatories")
    assert list(rows[0])[:5] == ["Name", "Role", "Organisation", "Date signed",
                                 "Signed up in the return of"]  # fmt: skip
    signed = {s["signatory"]: s for s in audit["signatories"]}
    assert {r["Name"] for r in rows} == set(signed)
    row = rows[0]
    assert row["Signed up in the return of"] == "Early Help North"
    assert row["Date signed"] == dt.datetime.fromisoformat(signed[row["Name"]]["date_signed"])
    assert row["Latest cycle seen"] == ws.cycle


def test_issues_sheet_lists_every_open_error_and_query(known):
    ws, _, _ = known
    rows = _rows(_reports(ws) / "register.xlsx", "Issues")
    got = [(r["Team ID"], r["Sheet"], r["Cell"], r["Severity"]) for r in rows]
    assert got == [
        ("ADV1", "Six Standards", "D8", "Error"),
        ("ADV1", "Provider", "B8", "Query"),
        ("ADV1", None, None, "Query"),
    ]
    assert "Improvement action" in rows[0]["Message"]


def test_overview_counts_returns_and_charts_them_with_alt_text(known):
    ws, _, _ = known
    path = _reports(ws) / "register.xlsx"
    counts = {r["Status"]: r["Returns"] for r in _table(path, "Overview", "StatusCounts")}
    assert counts == {"Valid": 1, "Invalid return": 1, "No return": 2}
    kinds = {r["Kind"]: r for r in _table(path, "Overview", "ByKind")}
    assert {k: r["Expected"] for k, r in kinds.items()} == {"commissioned": 2, "internal": 2}
    assert kinds["commissioned"]["Late (of those received)"] == 1
    sheet = openpyxl.load_workbook(path)["Overview"]
    assert sheet["B6"].value == dt.datetime(2027, 3, 31)
    assert sheet["B6"].number_format == "dd/mm/yyyy"
    assert 'descr="Column chart of returns by status' in _parts(path, "xl/drawings/drawing1.xml")


def _parts(path: Path, name: str) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read(name).decode("utf-8")


EXPECTED_TABLES = {
    "register.xlsx": {
        "Returns": "Returns",
        "Audit": "Audit",
        "Six Standards": "SixStandards",
        "You Said, We Did": "YouSaidWeDid",
        "Signatories": "Signatories",
        "Issues": "Issues",
    },
    "compliance.xlsx": {
        "Matrix": "Matrix",
        "Exceptions": "Exceptions",
        "Trend": "Trend",
        "Issues": "Issues",
    },
}


@pytest.mark.parametrize("book", sorted(EXPECTED_TABLES))
def test_data_sheets_are_named_tables_frozen_and_print_on_a4_landscape(known, book):
    ws, _, _ = known
    wb = openpyxl.load_workbook(_reports(ws) / book)
    for sheet, name in EXPECTED_TABLES[book].items():
        s = wb[sheet]
        assert list(s.tables) == [name]
        assert s.tables[name].tableStyleInfo.name == "TableStyleMedium2"
        assert s.tables[name].autoFilter is not None
        assert s.freeze_panes in ("A5", "B5", "C5")  # title, note, gap, then the heading
        assert s["A1"].value and s["A1"].font.b  # a title, then what the sheet shows
        assert s["A2"].value
        assert s.page_setup.paperSize == 9 and s.page_setup.orientation == "landscape"
        assert s.print_title_rows == "$4:$4"
        widths = [d.width for d in s.column_dimensions.values() if d.width]
        # openpyxl reports Excel's stored width, which adds ~0.71 of padding to ours.
        assert widths and max(widths) <= 61


# --- compliance.xlsx -------------------------------------------------------------------------


def test_matrix_shows_each_rating_as_a_word_and_a_colour(known):
    ws, _, _ = known
    path = _reports(ws) / "compliance.xlsx"
    (row,) = _rows(path, "Matrix")
    assert row["Return"] == "Invalid"  # its ratings do not count: none shows as a rating
    assert [row[f"Standard {n}"] for n in range(1, 7)] == ["Invalid return"] * 6
    doc = _standards_doc(ws)
    doc["standards"]["feedback"]["action"] = "Plan it"
    doc["standards"]["equality"]["rating"] = "Mostly"  # not on the scale
    problem = issue(
        "answer.choice",
        "ADV1 six-standards.xlsx",
        "Six Standards",
        "C10",
        "Standard 3",
        value="Mostly",
        options="Met, Partially met, Not met",
    )
    _submit(ws, "ADV1", "six-standards", doc, [problem], received=LATE, name="again.xlsx")
    _submit(ws, "SW02", "audit", _doc(ws, "SW02", "audit"), name="sw.xlsx")
    _submit(ws, "ADV1", "audit", _doc(ws, "ADV1", "audit"), name="adv.xlsx")
    write_reports(ws, today=AFTER_DUE)
    (row,) = _rows(path, "Matrix")
    assert [row[f"Standard {n}"] for n in range(1, 7)] == [
        "Invalid return", "Invalid return", "Invalid answer", *["Invalid return"] * 3
    ]  # fmt: skip
    issues = _rows(path, "Issues")
    assert [(r["Team ID"], r["Code"]) for r in issues] == [("ADV1", "answer.choice")]
    # Now valid: each rating a word and a colour.
    doc["standards"]["equality"]["rating"] = "Met"
    _submit(ws, "ADV1", "six-standards", doc, received=LATE, name="third.xlsx")
    write_reports(ws, today=AFTER_DUE)
    (row,) = _rows(path, "Matrix")
    assert [row[f"Standard {n}"] for n in range(1, 7)] == [
        "Not met", "Partially met", *["Met"] * 4
    ]  # fmt: skip
    sheet = openpyxl.load_workbook(path)["Matrix"]
    fills = {c.value: c.fill.fgColor.rgb for c in sheet[5][5:11]}
    assert fills == {
        "Not met": "FF" + FILLS["bad"][0][1:],
        "Partially met": "FF" + FILLS["amber"][0][1:],
        "Met": "FF" + FILLS["good"][0][1:],
    }


def test_matrix_says_no_return_in_grey_for_a_missing_review(workspace):
    write_reports(workspace, today=BEFORE_DUE)
    path = _reports(workspace) / "compliance.xlsx"
    (row,) = _rows(path, "Matrix")
    assert (row["Return"], row["Standard 1"]) == ("Missing", "No return")
    cell = openpyxl.load_workbook(path)["Matrix"]["F5"]
    assert cell.fill.fgColor.rgb == "FF" + FILLS["grey"][0][1:]


def test_dashboard_gives_each_standards_share_of_services(known):
    ws, _, _ = known
    path = _reports(ws) / "compliance.xlsx"
    overall = _table(path, "Dashboard", "StandardsOverall")
    assert [r["Standard"] for r in overall] == [f"Standard {n}" for n in range(1, 7)]
    first = overall[0]
    assert (first["Services expected"], first["Invalid return"], first["Not met"]) == (1, 1, 0)
    assert (first["Invalid return %"], first["Not met %"]) == (1, 0)
    by_area = _table(path, "Dashboard", "StandardsByArea")
    assert {r["Service area"] for r in by_area} == {"Advocacy"}
    assert 'descr="Stacked bar chart' in _parts(path, "xl/drawings/drawing1.xml")


def test_dashboard_heat_map_counts_self_ratings_with_a_colour_scale(known):
    ws, _, audit = known
    path = _reports(ws) / "compliance.xlsx"
    rows = _table(path, "Dashboard", "Ratings")
    assert len(rows) == 10  # five promises and five rights
    listen = rows[0]
    assert listen["Statement"] == "We will listen to what they say."
    assert listen[audit["promises"]["listen"]["rating"]] == 1
    assert (listen["No return"], listen["Teams expected"]) == (2, 3)
    rules = openpyxl.load_workbook(path)["Dashboard"].conditional_formatting
    scales = [r.colorScale for cf in rules for r in cf.rules if r.type == "colorScale"]
    assert len(scales) == 1 and len(scales[0].color) == 3


def test_exceptions_after_the_due_date(known):
    ws, _, _ = known
    rows = _rows(_reports(ws) / "compliance.xlsx", "Exceptions")
    got = [(r["Team ID"], r["Form"], r["Standard"], r["Exception"]) for r in rows]
    assert got == [
        ("ADV1", "six-standards", "Standard 1", "No action plan"),
        ("ADV1", "six-standards", "Standard 2", "Target date passed"),
        ("SW02", "audit", None, "Missing return"),
        ("ADV1", "audit", None, "Missing return"),
        ("ADV1", "six-standards", None, "Invalid return"),
    ]
    assert rows[0]["Detail"] == "Not met with no improvement action."
    assert rows[1]["Target date"] == dt.datetime(2027, 1, 15)


def test_a_team_whose_every_file_was_refused_is_a_rejected_return(known):
    """The counting rule lists missing, rejected or invalid returns: a team that sent a
    file that was refused is not told that nothing came, but why it was refused."""
    ws, _, _ = known
    reason = "The workbook is password-protected. Save it without a password."
    now = dt.datetime.now(dt.UTC).isoformat()
    with Register(register_path(ws)) as reg, reg.transaction():
        reg.add_file("SW02 audit.xlsx", 1, 1, "ab" * 32, "rejected", reason,
                     str(Code.READ_ENCRYPTED), now, ws.cycle, "SW02", "audit")  # fmt: skip
    with Register(register_path(ws)) as reg:
        write_compliance(ws, reg, today=AFTER_DUE)
    rows = _rows(_reports(ws) / "compliance.xlsx", "Exceptions")
    kinds = {(r["Team ID"], r["Form"]): (r["Exception"], r["Detail"]) for r in rows
             if r["Standard"] is None}  # fmt: skip
    due, late = "31/03/2027", Code.REPORT_INVALID_OVERDUE
    # team, form                | exception          | detail (from the catalogue)
    assert kinds == {
        ("SW02", "audit"):         ("Rejected return", render(Code.REPORT_REJECTED, reason=reason)),
        ("ADV1", "audit"):         ("Missing return",  render(Code.REPORT_MISSING, due=due)),
        ("ADV1", "six-standards"): ("Invalid return",  render(late, errors=1, due=due)),
    }  # fmt: skip
    (sw02,) = [r for r in rows if r["Team ID"] == "SW02"]
    assert sw02["File"] == "SW02 audit.xlsx"


# The Issues sheet's severity is the issue's own, from the catalogue (a query is a query).
PROBLEM_SEVERITIES = [
    # code                              | severity shown
    (Code.SIGNATORIES_UNREADABLE,         "Error"),
    (Code.NORMALISE_TRIMMED,              "Query"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "shown"), PROBLEM_SEVERITIES)
def test_the_issues_sheet_shows_each_problems_own_severity(code, shown):
    found = Issue(code, file="signatories.csv", values={"detail": "it is empty"})
    (row,) = report._problem_rows([found])
    assert row[8] == shown and row[9] == str(code)


def test_exceptions_before_the_due_date_do_not_chase_returns(known):
    ws, _, _ = known
    with Register(register_path(ws)) as reg:
        write_compliance(ws, reg, today=BEFORE_DUE)
    rows = _rows(_reports(ws) / "compliance.xlsx", "Exceptions")
    assert [(r["Standard"], r["Exception"]) for r in rows] == [("Standard 1", "No action plan")]


def test_a_valid_return_received_late_is_an_exception_as_collect_judged_it(known):
    """Lateness is the submission's `late`, frozen when collect recorded the return: the
    report does not judge it again by today's date or the due date in force now."""
    ws, _, _ = known
    late = [issue(Code.STATUS_LATE, "SW02 audit.xlsx", received="02/04/2027", due="31/03/2027")]
    _submit(ws, "SW02", "audit", _doc(ws, "SW02", "audit", seed=2), late, received=LATE)
    for today in (BEFORE_DUE, AFTER_DUE):
        with Register(register_path(ws)) as reg:
            write_compliance(ws, reg, today=today)
        rows = _rows(_reports(ws) / "compliance.xlsx", "Exceptions")
        (row,) = [r for r in rows if r["Team ID"] == "SW02"]
        assert row["Exception"] == "Received late"
        assert "after the due date" in row["Detail"]
        assert not [r for r in rows if r["Team ID"] == "EH01"]  # valid and on time


def test_trend_says_when_no_earlier_cycle_is_recorded(known):
    ws, _, _ = known
    path = _reports(ws) / "compliance.xlsx"
    rows = {r["Measure"]: r for r in _rows(path, "Trend")}
    received = rows["Six Standards review: returns received"]
    assert list(received) == ["Measure", "2026-27 so far", "Returns behind it (2026-27)"]
    assert received["2026-27 so far"] == 1
    note = " ".join(str(c.value) for c in openpyxl.load_workbook(path)["Trend"]["A"][:3])
    assert "No earlier cycle is recorded" in note


def test_trend_compares_with_the_previous_cycle(known):
    ws, _, _ = known
    earlier = _standards_doc(ws) | {"cycle": "2025-26"}
    for key in earlier["standards"]:
        earlier["standards"][key]["rating"] = "Met"
    _submit(ws, "ADV1", "six-standards", earlier, cycle="2025-26")
    write_reports(ws, today=AFTER_DUE)
    rows = {r["Measure"]: r for r in _rows(_reports(ws) / "compliance.xlsx", "Trend")}
    met = rows["Standard 1: share Met"]
    # This cycle's one review is invalid: nothing to count yet, not a fall to 0.
    assert (met["2025-26"], met["Returns behind it (2025-26)"]) == (1, 1)
    assert (met["2026-27 so far"], met["Returns behind it (2026-27)"]) == ("No returns yet", 0)
    assert met["Change since 2025-26"] is None
    received = rows["Six Standards review: returns received"]
    assert (received["2026-27 so far"], received["Change since 2025-26"]) == (1, 0)
    valid = _standards_doc(ws)
    valid["standards"]["feedback"]["action"] = "Plan it"
    _submit(ws, "ADV1", "six-standards", valid, received=LATE, name="fixed.xlsx")
    write_reports(ws, today=AFTER_DUE)
    rows = {r["Measure"]: r for r in _rows(_reports(ws) / "compliance.xlsx", "Trend")}
    met = rows["Standard 1: share Met"]
    assert (met["2026-27 so far"], met["Returns behind it (2026-27)"]) == (0, 1)
    assert met["Change since 2025-26"] == -1


def test_trend_shows_every_cycle_with_its_returns_and_says_when_one_has_none(known):
    """Three cycles: each has its figure and the returns behind it; a cycle with no
    reviews says "No returns" rather than falling to 0; the change is since the latest."""
    ws, _, _ = known
    oldest = _standards_doc(ws) | {"cycle": "2024-25"}
    for key in oldest["standards"]:
        oldest["standards"][key]["rating"] = "Met"
    _submit(ws, "ADV1", "six-standards", oldest, cycle="2024-25", name="a.xlsx")
    _submit(ws, "SW02", "audit", _doc(ws, "SW02", "audit") | {"cycle": "2025-26"},
            cycle="2025-26", name="b.xlsx")  # fmt: skip
    write_reports(ws, today=AFTER_DUE)
    path = _reports(ws) / "compliance.xlsx"
    rows = {r["Measure"]: r for r in _rows(path, "Trend")}
    met = rows["Standard 1: share Met"]
    assert list(met) == [
        "Measure", "2024-25", "Returns behind it (2024-25)", "2025-26",
        "Returns behind it (2025-26)", "2026-27 so far", "Returns behind it (2026-27)",
        "Change since 2025-26",
    ]  # fmt: skip
    assert (met["2024-25"], met["Returns behind it (2024-25)"]) == (1, 1)
    assert (met["2025-26"], met["Returns behind it (2025-26)"]) == ("No returns", 0)
    audits = rows[f"{ws.pack.forms['audit'].short_name}: returns received"]
    assert audits["Returns behind it (2025-26)"] == 1
    title = openpyxl.load_workbook(path)["Trend"]["A1"].value
    assert title == "Trend: cycles 2024-25 to 2026-27"


def test_an_empty_register_still_writes_valid_tables(workspace):
    paths = write_reports(workspace, today=BEFORE_DUE)
    (row,) = _rows(paths[0], "Audit")
    assert row["Team ID"] == "None yet"
    validator = OpenXmlValidator()
    assert [validator.validate(str(p)).errors for p in paths[:2]] == [[], []]


# --- safety ----------------------------------------------------------------------------------


@pytest.fixture
def hostile(workspace):
    """Formula-, DDE- and link-like text everywhere a user can put text."""
    ws = workspace
    rows = [list(r) for r in EXAMPLES]
    rows[0][1], rows[2][4] = NASTY[1], NASTY[3]  # a team name and a provider
    write_starter_roster(ws.roster_path, [tuple(r) for r in rows])
    audit = _doc(ws, "EH01", "audit", rows=len(NASTY))
    audit["about"]["completed_by"] = NASTY[0]
    audit["commitment"]["lead_name"] = NASTY[4]
    for n, text in enumerate(NASTY):
        audit["you_said_we_did"][n] |= {"you_said": text, "we_did": text}
        audit["signatories"][n] |= {"signatory": text, "organisation": text}
    wrong = issue("answer.choice", NASTY[0], "About the team", "B8", "Your name",
                  value=NASTY[1], options="Yes, No")  # fmt: skip
    _submit(ws, "EH01", "audit", audit, [wrong], name=NASTY[0])
    standards = _standards_doc(ws)
    standards["standards"]["delivery"] |= {"evidence": NASTY[2], "owner": NASTY[5]}
    _submit(ws, "ADV1", "six-standards", standards)
    return ws, write_reports(ws, today=AFTER_DUE)


def _sheet_xml(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return [z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("xl/worksheets/")]


@pytest.mark.parametrize("book", ["register.xlsx", "compliance.xlsx"])
def test_hostile_text_stays_text_in_the_report_workbooks(hostile, book):
    ws, _ = hostile
    path = _reports(ws) / book
    found = set()
    for sheet in openpyxl.load_workbook(path).worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate}"
                if isinstance(cell.value, str):
                    assert cell.data_type == "s"
                    found |= {t for t in NASTY if t in cell.value}
    assert found == set(NASTY) if book == "register.xlsx" else found
    with zipfile.ZipFile(path) as z:
        assert not [n for n in z.namelist() if "externalLink" in n]
        rels = "".join(z.read(n).decode() for n in z.namelist() if n.endswith(".rels"))
    assert "hyperlink" not in rels.lower()
    assert not any(re.search(r"<f[ >]|<hyperlink", xml) for xml in _sheet_xml(path))


def test_hostile_text_stays_text_in_feedback(hostile):
    ws, paths = hostile
    path = _reports(ws) / "feedback" / "EH01-audit.xlsx"
    assert path in paths
    wb = openpyxl.load_workbook(path)
    cell = wb["About the team"]["B8"]
    assert (cell.value, cell.data_type) == (NASTY[0], "s")
    log = wb["You Said We Did"]
    texts = [c.value for row in log.iter_rows() for c in row if c.value in NASTY]
    assert set(texts) == set(NASTY)
    formulas = [c.value for s in wb.worksheets for row in s.iter_rows() for c in row
                if c.data_type == "f"]  # fmt: skip
    assert formulas and not any(re.search(r"HYPERLINK|cmd|SUM\(1\+1\)", f) for f in formulas)
    assert not any("<hyperlink" in xml for xml in _sheet_xml(path))


def test_chasers_neutralise_formula_like_text(hostile):
    ws, _ = hostile
    raw = (_reports(ws) / "chasers.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    eh01 = next(r for r in rows if r["team_id"] == "EH01")
    assert eh01["team_name"] == "'" + NASTY[1]
    assert eh01["attach"] == str(ws.reports_dir / "feedback" / "EH01-audit.xlsx")  # full path
    assert eh01["what"].startswith("1 problem(s) to fix: first, About the team, cell B8: ")


def test_chasers_list_every_missing_and_invalid_return(known):
    ws, _, _ = known
    text = (_reports(ws) / "chasers.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(report.CHASER_COLUMNS)
    got = [(r["team_id"], r["form"], r["status"], r["attach"]) for r in rows]
    assert got == [
        ("SW02", "audit", "missing", ""),
        ("ADV1", "audit", "missing", ""),
        (
            "ADV1",
            "six-standards",
            "invalid",
            str(ws.reports_dir / "feedback/ADV1-six-standards.xlsx"),
        ),
    ]
    assert rows[0]["what"] == "No return received yet; due 31/03/2027."
    assert rows[2]["contact_email"] == "jo.smith@example.org"


def test_openxml_audit_finds_no_errors(known):
    _ws, paths, _ = known
    books = [p for p in paths if p.suffix == ".xlsx"]
    assert [p.name for p in books] == [
        "register.xlsx",
        "compliance.xlsx",
        "ADV1-six-standards.xlsx",
        "review.xlsx",
    ]
    validator = OpenXmlValidator()
    assert {p.name: validator.validate(str(p)).errors for p in books} == {p.name: [] for p in books}


def test_text_over_excels_cell_limit_is_cut_with_a_marker(workspace):
    ws = workspace
    audit = _doc(ws, "EH01", "audit")
    long = "Young people said " + "x" * 40_000
    audit["promises"]["listen"]["evidence"] = long
    _submit(ws, "EH01", "audit", audit)
    write_reports(ws, today=BEFORE_DUE)
    (row,) = _rows(_reports(ws) / "register.xlsx", "Audit")
    cut = row["We will listen to what they say. – An example from this year"]
    assert len(cut) == 32_767 and cut.endswith(CUT_MARKER)
    assert cut.startswith("Young people said xxx")
    with Register(register_path(ws)) as reg:
        (sub,) = reg.submissions(ws.cycle)
    assert sub.document["promises"]["listen"]["evidence"] == long


# --- writing safely --------------------------------------------------------------------------


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.tmp"))


@pytest.mark.parametrize("where", ["building", "renaming"])
def test_an_interrupted_write_leaves_the_previous_report(known, monkeypatch, where):
    ws, _, _ = known
    target = _reports(ws) / "register.xlsx"
    before = target.read_bytes()
    _submit(ws, "SW02", "audit", _doc(ws, "SW02", "audit"))

    def fail(*args: object) -> None:
        raise OSError("interrupted")

    if where == "building":
        monkeypatch.setattr(report, "_issue_rows", fail)
    else:
        monkeypatch.setattr(os, "replace", fail)
    with Register(register_path(ws)) as reg, pytest.raises(OSError, match="interrupted"):
        write_register(ws, reg)
    assert target.read_bytes() == before
    assert _leftovers(_reports(ws)) == []


def test_a_locked_report_is_written_beside_it_under_a_dated_name(known, monkeypatch):
    ws, _, _ = known
    target = _reports(ws) / "register.xlsx"
    before = target.read_bytes()
    replace, refused = os.replace, []

    def locked_once(src: str, dst: str) -> None:
        if Path(dst) == target and not refused:
            refused.append(dst)
            raise PermissionError("open in Excel")
        replace(src, dst)

    monkeypatch.setattr(os, "replace", locked_once)
    with Register(register_path(ws)) as reg:
        written = write_register(ws, reg)
    assert re.fullmatch(r"register \(\d{8}-\d{6}\)\.xlsx", written.name)
    assert written.parent == target.parent and written.is_file()
    assert target.read_bytes() == before
    assert _leftovers(_reports(ws)) == []


def test_write_reports_returns_every_path_it_wrote(known):
    ws, paths, _ = known
    root = _reports(ws)
    assert paths == [
        root / "register.xlsx",
        root / "compliance.xlsx",
        root / "feedback" / "ADV1-six-standards.xlsx",
        root / "chasers.csv",
        root / "emails" / "SW02 Children in Care Team.eml",
        root / "emails" / "ADV1 Independent Advocacy.eml",
        root / "review.xlsx",
    ]
    assert all(p.is_file() for p in paths)


# --- feedback --------------------------------------------------------------------------------


def test_feedback_marks_each_issue_on_its_cell(known):
    ws, _, _ = known
    wb = openpyxl.load_workbook(_reports(ws) / "feedback" / "ADV1-six-standards.xlsx")
    error = wb["Six Standards"]["D8"].comment
    query = wb["Provider"]["B8"].comment
    assert error and "'Improvement action' is needed" in error.text
    assert query and query.text.startswith("Please check: 'Name of the commissioned service'")
    assert "Spaces at the start or end" in query.text
    listed = [c.value for row in wb["Instructions"].iter_rows() for c in row if c.value]
    assert "Please fix" in listed and "Six Standards, cell D8" in listed


def test_feedback_is_removed_once_a_return_is_no_longer_invalid(known):
    ws, _, _ = known
    folder = _reports(ws) / "feedback"
    mine = folder / "SW02-audit.xlsx"  # left from an earlier run
    mine.write_bytes(b"old")
    other = folder / "notes.xlsx"
    other.write_bytes(b"not ours")
    _submit(ws, "ADV1", "six-standards", _doc(ws, "ADV1", "six-standards"), received=LATE,
            name="fixed.xlsx")  # fmt: skip
    with Register(register_path(ws)) as reg:
        assert write_feedback(ws, reg) == []
    assert sorted(p.name for p in folder.iterdir()) == ["notes.xlsx"]


# --- through collect, as in a real cycle ----------------------------------------------------


@pytest.fixture
def cycle(workspace):
    paths = {issued_form(workspace, p): p for p in generate(workspace)}
    return workspace, paths


def _team_status(ws, team, form):
    with Register(register_path(ws)) as reg:
        rows = status(ws, reg)["teams"]
    return next(r for r in rows if r["team_id"] == team and r["form"] == form)


def test_collected_returns_reach_the_register(cycle):
    ws, issued = cycle
    form = ws.pack.forms["audit"]
    answers = sample_answers(form, random.Random(4), rows=3)
    fill_workbook(issued[("EH01", "audit")], ws.returns_dir / "EH01.xlsx", answers, form)
    collect(ws)
    write_reports(ws, today=BEFORE_DUE)
    rows = _rows(_reports(ws) / "register.xlsx", "Returns")
    assert [r["Status"] for r in rows] == ["Valid", "Missing", "Missing", "Missing"]
    said = [r["You said"] for r in _rows(_reports(ws) / "register.xlsx", "You Said, We Did")]
    # The log is by service area, then team, then date (one team here: by date).
    by_date = sorted(answers["you_said_we_did"], key=lambda e: str(e.get("date") or ""))
    assert said == [e["you_said"] for e in by_date]


def test_feedback_fixed_in_its_marked_cells_comes_back_valid(cycle):
    ws, issued = cycle
    form = ws.pack.forms["six-standards"]
    answers = sample_answers(form, random.Random(3))
    email = answers["contract"].pop("contact_email")
    fill_workbook(issued[("ADV1", "six-standards")], ws.returns_dir / "ADV1.xlsx", answers, form)
    collect(ws)
    assert _team_status(ws, "ADV1", "six-standards")["status"] == "invalid"
    write_reports(ws, today=BEFORE_DUE)
    feedback = _reports(ws) / "feedback" / "ADV1-six-standards.xlsx"
    assert "required" in openpyxl.load_workbook(feedback)["Provider"]["B13"].comment.text
    answers["contract"]["contact_email"] = email
    fixed = fill_workbook(feedback, ws.returns_dir / "ADV1 fixed.xlsx", answers, form)
    later = time.time() + 60
    os.utime(fixed, (later, later))
    collect(ws)
    assert _team_status(ws, "ADV1", "six-standards")["status"] == "valid"
    write_reports(ws, today=BEFORE_DUE)
    assert not feedback.exists()
