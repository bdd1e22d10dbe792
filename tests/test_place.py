"""Place: the one model of a place in a workbook, and odd sheet names end to end.

A council may call a sheet anything Excel allows: an apostrophe ("Team's details"),
spaces, any script, up to 31 characters. Every reference is rendered and parsed by
place.py, so each such name must survive a formula, a defined name, pack check, a
collect and the feedback workbook.
"""

from __future__ import annotations

import io
import json
import random
import re
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from click.testing import CliRunner
from openpyxl.formula import Tokenizer

from participation_xl import load_workspace
from participation_xl.check import check_pack
from participation_xl.cli import main
from participation_xl.collect import collect
from participation_xl.generate import STILL_TO_DO, generate, issued_form
from participation_xl.place import (
    Place,
    cell_name,
    column_letters,
    column_number,
    parse,
    position,
    quote,
    sheet_name_allowed,
    shown_at,
)
from participation_xl.report import write_reports
from participation_xl.sample import fill_workbook, sample_answers

# The 31-character unicode name: the longest Excel allows, with an apostrophe and a dash.
LONGEST = "Équipe – Données d'enfants 2026"

# --- sheet names as Excel allows them ---------------------------------------------------

# name                         | how a formula quotes it
SHEET_NAMES = [
    ("Sheet1",                   "'Sheet1'"),
    ("About the team",           "'About the team'"),
    ("Team's details",           "'Team''s details'"),
    ("Don't 'quote' me",         "'Don''t ''quote'' me'"),
    ("Équipe – Données",         "'Équipe – Données'"),
    ("子ども",                    "'子ども'"),
    ("Sheet!1",                  "'Sheet!1'"),
    ("a-b (c) & d, e; f = g",    "'a-b (c) & d, e; f = g'"),
    ("B8",                       "'B8'"),
    ("x" * 31,                   "'" + "x" * 31 + "'"),
    (LONGEST,                    "'Équipe – Données d''enfants 2026'"),
]  # fmt: skip

# name                         | allowed by Excel
ALLOWED = [
    ("Team's details",           True),
    ("x" * 31,                   True),
    (LONGEST,                    True),
    ("x" * 32,                   False),
    ("",                         False),
    ("'Quoted'",                 False),  # may not begin or end with an apostrophe
    ("'Leading",                 False),
    ("Trailing'",                False),
    ("a/b",                      False),
    ("a\\b",                     False),
    ("a:b",                      False),
    ("a?b",                      False),
    ("a*b",                      False),
    ("a[b]",                     False),
]  # fmt: skip


def test_the_longest_name_is_exactly_31_characters():
    assert len(LONGEST) == 31


@pytest.mark.parametrize("name,quoted", SHEET_NAMES)
def test_a_sheet_name_is_quoted_with_its_apostrophes_doubled(name, quoted):
    assert quote(name) == quoted


@pytest.mark.parametrize("name,_", SHEET_NAMES)
def test_a_reference_on_any_allowed_sheet_parses_back_to_its_place(name, _):
    place = Place(name, 8, 2)
    assert place.ref() == f"{quote(name)}!$B$8"
    assert parse(place.ref()) == (name, 8, 2, 8, 2)
    assert parse(place.ref(absolute=False)) == (name, 8, 2, 8, 2)
    assert parse("=" + place.ref()) == (name, 8, 2, 8, 2)
    span = place.to(Place(name, 66, 28))
    assert span == f"{quote(name)}!$B$8:$AB$66"
    assert parse(span) == (name, 8, 2, 66, 28)


@pytest.mark.parametrize("name,_", SHEET_NAMES)
def test_a_reference_on_any_allowed_sheet_is_a_formula_openpyxl_can_read(name, _):
    place = Place(name, 8, 2)
    for formula in (f"={place.ref()}", f"=SUM({place.to(Place(name, 9, 3))})+1"):
        tokens = Tokenizer(formula).items
        operands = [t.value for t in tokens if t.type == "OPERAND" and t.subtype == "RANGE"]
        assert operands and parse(operands[0])[0] == name


@pytest.mark.parametrize("name,allowed", ALLOWED)
def test_which_sheet_names_excel_allows(name, allowed):
    assert sheet_name_allowed(name) is allowed


def test_every_allowed_name_makes_a_defined_name_that_survives_a_saved_workbook():
    """XlsxWriter writes each sheet and a defined name on it; openpyxl reads the names
    back; Place parses each one back to its sheet and cell."""
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    names = [name for name, _ in SHEET_NAMES]
    for n, name in enumerate(names):
        wb.add_worksheet(name).write_string(7, 1, f"answer {n}")
        wb.define_name(f"field_{n}", "=" + Place(name, 8, 2).ref())
        wb.define_name(f"table_{n}", "=" + Place(name, 7, 3).to(Place(name, 66, 3)))
    wb.close()
    book = openpyxl.load_workbook(io.BytesIO(buf.getvalue()))
    assert book.sheetnames == names
    for n, name in enumerate(names):
        field = book.defined_names[f"field_{n}"].attr_text
        Tokenizer("=" + field)  # openpyxl's tokenizer accepts it
        sheet, row, col, _, _ = parse(field)
        assert book[sheet].cell(row, col).value == f"answer {n}"
        assert parse(book.defined_names[f"table_{n}"].attr_text) == (name, 7, 3, 66, 3)


# --- cells -------------------------------------------------------------------------------

# row  | col   | cell       | absolute
CELLS = [
    (1,    1,     "A1",        "$A$1"),
    (8,    2,     "B8",        "$B$8"),
    (66,   26,    "Z66",       "$Z$66"),
    (3,    27,    "AA3",       "$AA$3"),
    (1048576, 16384, "XFD1048576", "$XFD$1048576"),
]  # fmt: skip


@pytest.mark.parametrize("row,col,cell,absolute", CELLS)
def test_a_cell_name_renders_and_parses_both_ways(row, col, cell, absolute):
    assert cell_name(row, col) == Place("S", row, col).cell == cell
    assert cell_name(row, col, True) == absolute
    assert position(cell) == (row, col)
    assert parse(cell) == parse(absolute) == ("", row, col, row, col)
    assert Place.at("S", absolute) == Place("S", row, col)
    assert column_number(column_letters(col)) == col


def test_a_column_can_be_fixed_while_its_row_moves():
    assert cell_name(5, 11, False, fixed_col=True) == "$K5"
    assert Place("_checks", 5, 3).ref(False, fixed_col=True) == "'_checks'!$C5"


# text                      | why it is not one cell or range
NOT_REFERENCES = [
    ("",                        "empty"),
    ("B0",                      "row 0"),
    ("XFE1",                    "beyond the last column"),
    ("A1048577",                "beyond the last row"),
    ("'Team's details'!B8",     "an apostrophe not doubled"),
    ("Team's details!B8",       "a name with spaces, unquoted"),
    ("Sheet1!",                 "no cell"),
    ("B8:",                     "half a range"),
    ("SUM(B8)",                 "a formula"),
]  # fmt: skip


@pytest.mark.parametrize("text,why", NOT_REFERENCES)
def test_what_is_not_a_reference_parses_to_nothing(text, why):
    assert parse(text) is None, why


def test_the_readers_cell_positions_take_only_plain_cell_names():
    assert position("b8") is None and position("$B$8") is None and position("8B") is None
    assert Place.at("S", "B8:C9") is None


def test_a_place_is_shown_to_a_person_with_its_sheet_and_cell():
    assert Place("Team's details", 8, 2).shown() == "Team's details, cell B8"
    assert Place("Team's details").shown() == "Team's details"
    assert Place().shown() == ""


# --- odd sheet names, end to end ----------------------------------------------------------


def _renamed_workspace(workspace, pack_copy: Path, sheet: str):
    """The workspace, on a copy of the built-in pack whose first audit sheet is renamed."""
    layout = pack_copy / "workbook_templates" / "audit.toml"
    text = layout.read_text(encoding="utf-8")
    assert 'name = "About the team"' in text
    toml_name = sheet.replace("\\", "\\\\").replace('"', '\\"')
    layout.write_text(text.replace('"About the team"', f'"{toml_name}"'), encoding="utf-8")
    config = workspace.root / "participation.toml"
    config.write_text(
        config.read_text().replace('pack = ""', f'pack = "{pack_copy}"'), encoding="utf-8"
    )
    ws = load_workspace(workspace.root)
    assert ws.pack.forms["audit"].sheets[0].name == sheet
    return ws


def _status_json(ws) -> dict:
    result = CliRunner().invoke(main, ["-w", str(ws.root), "status", "--json"])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.output)


@pytest.mark.parametrize("sheet", ["Team's details", LONGEST])
def test_a_pack_with_an_odd_sheet_name_works_from_check_to_feedback(workspace, pack_copy, sheet):
    ws = _renamed_workspace(workspace, pack_copy, sheet)
    assert check_pack(ws.pack) == []
    form = ws.pack.forms["audit"]
    role = form.input_of("about.role")
    assert role is not None and role.sheet == sheet
    issued = {issued_form(ws, p): p for p in generate(ws)}
    good = sample_answers(form, random.Random(1))
    fill_workbook(issued[("EH01", "audit")], ws.returns_dir / "EH01 audit.xlsx", good, form)
    bad = sample_answers(form, random.Random(2))
    del bad["about"]["role"]
    fill_workbook(issued[("SW02", "audit")], ws.returns_dir / "SW02 audit.xlsx", bad, form)
    collect(ws)

    rows = {(t["team_id"], t["form"]): t for t in _status_json(ws)["teams"]}
    assert rows[("EH01", "audit")]["status"] == "valid", rows[("EH01", "audit")]["issues"]
    invalid = rows[("SW02", "audit")]
    assert invalid["status"] == "invalid"
    where = {(i["sheet"], i["cell"]) for i in invalid["issues"] if i["severity"] == "error"}
    assert where == {(sheet, cell_name(role.row, role.col))}

    write_reports(ws)
    feedback = openpyxl.load_workbook(ws.reports_dir / "feedback" / "SW02-audit.xlsx")
    assert feedback[sheet].cell(role.row, role.col).comment is not None
    listed = [c.value for row in feedback["Instructions"].iter_rows() for c in row if c.value]
    shown = Place(sheet, role.row, role.col).shown()
    assert shown in listed
    # The same words wherever the place is shown: chasers.csv and `validate`.
    chasers = (ws.reports_dir / "chasers.csv").read_text(encoding="utf-8-sig")
    assert f"first, {shown}: " in chasers
    said = CliRunner().invoke(
        main, ["-w", str(ws.root), "validate", str(ws.returns_dir / "SW02 audit.xlsx")]
    )
    assert f"error: {shown}: " in said.output, said.output
    # The feedback's own defined names resolve to the renamed sheet.
    named = parse(feedback.defined_names["about.role"].attr_text)
    assert named == (sheet, role.row, role.col, role.row, role.col)


def test_a_sheet_name_excel_refuses_is_a_pack_problem_not_a_crash(workspace, pack_copy):
    ws = _renamed_workspace(workspace, pack_copy, "Trailing'")
    problems = check_pack(ws.pack)
    assert any("Trailing'" in p for p in problems), problems


def test_typing_in_libreoffice_on_the_apostrophe_sheet_agrees_with_collect(
    libreoffice, workspace, pack_copy, tmp_path
):
    """LibreOffice opens the workbook, a cell on "Team's details" is cleared, the workbook
    recalculates: its still_to_do and collect's verdict name the same one answer."""
    sheet = "Team's details"
    ws = _renamed_workspace(workspace, pack_copy, sheet)
    form = ws.pack.forms["audit"]
    role = form.input_of("about.role")
    assert role is not None
    issued = {issued_form(ws, p): p for p in generate(ws, team_ids=["EH01"])}
    filled = fill_workbook(
        issued[("EH01", "audit")],
        tmp_path / "filled.xlsx",
        sample_answers(form, random.Random(1)),
        form,
    )
    target = Place(sheet, role.row, role.col).ref(absolute=False)
    out = ws.returns_dir / "EH01 audit.xlsx"
    seen = libreoffice.call(
        "fill_read",
        path=str(filled),
        edits=[{"cell": target, "type": "blank"}],
        names=[STILL_TO_DO],
        cells=[target],
        out=str(out),
        filter="xlsx",
    )
    assert "error" not in seen, seen
    assert seen["cells"][target]["string"] == ""
    still_to_do = seen["names"][STILL_TO_DO]
    assert still_to_do["defined"], still_to_do
    collect(ws)
    row = next(t for t in _status_json(ws)["teams"] if t["team_id"] == "EH01")
    errors = {(i["sheet"], i["cell"]) for i in row["issues"] if i["severity"] == "error"}
    assert errors == {(sheet, cell_name(role.row, role.col))}
    assert int(still_to_do["value"]) == len(errors) == 1


def test_no_code_outside_place_builds_or_parses_a1_references():
    """The helpers of XlsxWriter and openpyxl that build or parse references are used only
    by place.py (report._marks is replaced by the issue work)."""
    package = Path(__file__).resolve().parent.parent / "participation_xl"
    banned = re.compile(
        r"xl_rowcol_to_cell|xl_cell_to_rowcol|xl_col_to_name|range_boundaries"
        r"|get_column_letter|column_index_from_string|coordinate_from_string"
    )
    offenders = [
        f"{p.name}:{n}"
        for p in sorted(package.glob("*.py"))
        if p.name not in ("place.py", "report.py")
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if banned.search(line)
    ]
    assert offenders == []


def test_no_code_outside_place_quotes_a_sheet_name_by_hand():
    """A place is shown to a person only by Place.shown()/shown_at(), and written in a
    formula only by place.py: a reference such as '{sheet}'!{cell} built by hand in the
    package (code or a catalogue template) would not double an apostrophe, and would
    show the place a second way."""
    package = Path(__file__).resolve().parent.parent / "participation_xl"
    by_hand = re.compile(r"""'\{[^}]*\}'!|"\{[^}]*\}"!|\{quote\(""")
    offenders = [
        f"{p.name}:{n}"
        for p in sorted(package.glob("*.py"))
        if p.name != "place.py"
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if by_hand.search(line)
    ]
    assert offenders == []


def test_a_place_is_shown_to_a_person_one_way_whatever_the_sheet_is_called():
    assert Place("Team's details", 8, 2).shown() == "Team's details, cell B8"
    assert shown_at("Team's details", "B8") == "Team's details, cell B8"
    assert shown_at("Matrix", "A5:K11") == "Matrix, cells A5:K11"
    assert shown_at("Matrix", "Chart 1") == "Matrix, Chart 1"
    assert shown_at("Matrix", "") == "Matrix"
