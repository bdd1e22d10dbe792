"""The coordinator's decision: review approve / return / undo, the history, where it shows,
the counting rule, and decisions typed in reports/review.xlsx."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from recorded import record_return

from participation_xl.cli import main
from participation_xl.collect import collect
from participation_xl.errors import ConfigError
from participation_xl.examine import issue
from participation_xl.generate import generate, issued_form
from participation_xl.register import Register
from participation_xl.report import write_reports
from participation_xl.review import history_of
from participation_xl.review_book import book_path
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.workspace import load_workspace, register_path

ON_TIME = "2027-03-20T09:30:00+00:00"


# --- helpers --------------------------------------------------------------------------------


def _doc(ws, team: str, form: str, seed: int = 1) -> dict[str, Any]:
    f = ws.pack.forms[form]
    head = {"form": form, "form_version": f.version, "cycle": ws.cycle, "team_id": team}
    return head | sample_answers(f, random.Random(seed), rows=2)


def _submit(ws, team, form, issues=(), received=ON_TIME, seed=1) -> int:
    """Record one return as collect would; returns its submission id."""
    doc = _doc(ws, team, form, seed)
    return record_return(ws, team, form, doc, issues, received, name=f"{team} {form} {seed}.xlsx")


def _cli(ws, *args, code=0):
    result = CliRunner().invoke(main, ["-w", str(ws.root), *args])
    assert result.exit_code == code, result.output
    return result.output


def _row(ws, team="EH01", form="audit") -> dict[str, Any]:
    doc = json.loads(_cli(ws, "status", "--json"))
    return next(t for t in doc["teams"] if t["team_id"] == team and t["form"] == form)


def _require_approval(ws, value: object):
    config = ws.root / "participation.toml"
    setting = json.dumps(value)  # true / false, or a string for a bad setting
    text = config.read_text(encoding="utf-8").replace(
        "require_approval = false", f"require_approval = {setting}"
    )
    config.write_text(text, encoding="utf-8")
    return load_workspace(ws.root)


def _with_coordinator(ws, name: str):
    config = ws.root / "participation.toml"
    text = config.read_text(encoding="utf-8").replace('coordinator = ""', f'coordinator = "{name}"')
    config.write_text(text, encoding="utf-8")
    return load_workspace(ws.root)


def _table(path: Path, sheet: str) -> list[dict[str, Any]]:
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    (table,) = ws.tables.values()
    cells = [[c.value for c in row] for row in ws[table.ref]]
    return [dict(zip(cells[0], row, strict=True)) for row in cells[1:]]


# --- the commands ---------------------------------------------------------------------------


def test_approve_is_kept_with_who_when_and_the_note(workspace):
    ws = _with_coordinator(workspace, "Jo Bloggs")
    _submit(ws, "EH01", "audit")
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    _cli(ws, "review", "approve", "EH01", "audit", "--note", "Thorough, thank you")
    review = _row(ws)["review"]
    assert review["state"] == "approved"
    assert review["note"] == "Thorough, thank you"
    assert review["by"] == "Jo Bloggs"
    assert dt.datetime.fromisoformat(review["at"]) >= before
    assert [h["action"] for h in review["history"]] == ["approve"]
    assert _row(ws, "SW02")["review"] is None  # nothing decided there


def test_without_a_coordinator_the_login_name_is_recorded(workspace, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "cjones")
    _submit(workspace, "EH01", "audit")
    _cli(workspace, "review", "approve", "EH01", "audit")
    assert _row(workspace)["review"]["by"] == "cjones"


def test_return_needs_a_note(workspace):
    _submit(workspace, "EH01", "audit")
    out = _cli(workspace, "review", "return", "EH01", "audit", code=2)
    assert "--note" in out
    out = _cli(workspace, "review", "return", "EH01", "audit", "--note", "   ", code=2)
    assert "needs a note" in out
    assert _row(workspace)["review"] is None


@pytest.mark.parametrize(
    "args,says",
    [
        (("approve", "NOPE", "audit"), "not on the roster"),
        (("approve", "EH01", "six-standards"), "not expected to return"),
        (("approve", "SW02", "audit"), "no accepted return"),
        (("undo", "EH01", "audit"), "no decision to undo"),
    ],
)
def test_a_decision_that_cannot_be_made_exits_2_with_a_message(workspace, args, says):
    _submit(workspace, "EH01", "audit")
    out = _cli(workspace, "review", *args, code=2)
    assert says in out
    assert "Traceback" not in out


def test_undo_adds_to_the_history_and_restores_the_decision_before(workspace):
    ws = workspace
    sub = _submit(ws, "EH01", "audit")
    _cli(ws, "review", "approve", "EH01", "audit")
    _cli(ws, "review", "return", "EH01", "audit", "--note", "Add evidence for standard 2")
    assert _row(ws)["review"]["state"] == "returned"
    _cli(ws, "review", "undo", "EH01", "audit")
    review = _row(ws)["review"]
    assert review["state"] == "approved"
    assert [h["action"] for h in review["history"]] == ["approve", "return", "undo"]
    _cli(ws, "review", "undo", "EH01", "audit")
    assert _row(ws)["review"] is None
    with Register(register_path(ws)) as reg:
        assert [d.action for d in history_of(reg, sub)] == ["approve", "return", "undo", "undo"]


def test_the_history_table_is_append_only(workspace):
    ws = workspace
    _submit(ws, "EH01", "audit")
    _cli(ws, "review", "approve", "EH01", "audit", "--note", "first")
    _cli(ws, "review", "undo", "EH01", "audit")
    with Register(register_path(ws)) as reg:
        rows = reg.db.execute("SELECT action, note FROM reviews ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [("approve", "first"), ("undo", "")]


def test_a_newer_submission_reopens_the_review(workspace):
    ws = workspace
    first = _submit(ws, "EH01", "audit", seed=1)
    _cli(ws, "review", "approve", "EH01", "audit")
    _submit(ws, "EH01", "audit", seed=2, received="2027-03-25T09:30:00+00:00")
    assert _row(ws)["review"] is None
    with Register(register_path(ws)) as reg:  # the decision stays with its submission
        assert [d.action for d in history_of(reg, first)] == ["approve"]


def test_round_trip_approve_then_a_new_return_reopens_the_review(workspace):
    """Through the real pipeline: issue, return, collect, approve, return again, collect."""
    ws = workspace
    paths = {issued_form(ws, p): p for p in generate(ws, team_ids=["EH01"])}
    form = ws.pack.forms["audit"]
    first = ws.returns_dir / "EH01 audit.xlsx"
    fill_workbook(paths[("EH01", "audit")], first, sample_answers(form, random.Random(1)), form)
    os.utime(first, (1_774_000_000, 1_774_000_000))  # March 2026: before the second one
    collect(ws)
    _cli(ws, "review", "approve", "EH01", "audit", "--note", "Good")
    assert _row(ws)["review"]["state"] == "approved"
    second = ws.returns_dir / "EH01 audit v2.xlsx"
    fill_workbook(paths[("EH01", "audit")], second, sample_answers(form, random.Random(2)), form)
    collect(ws)
    row = _row(ws)
    assert row["file"] == "EH01 audit v2.xlsx"
    assert row["review"] is None
    _cli(ws, "review", "return", "EH01", "audit", "--note", "Please add a second entry")
    assert _row(ws)["review"]["state"] == "returned"


def test_status_table_shows_the_decision(workspace):
    ws = _with_coordinator(workspace, "Jo Bloggs")
    _submit(ws, "EH01", "audit")
    _cli(ws, "review", "return", "EH01", "audit", "--note", "Add evidence")
    lines = _cli(ws, "status").splitlines()
    assert "review" in lines[0].split()
    assert "sent back by Jo Bloggs" in next(line for line in lines if line.startswith("EH01"))


# --- where it shows in the reports --------------------------------------------------------


def test_returns_sheet_has_the_review_word_by_at_and_note(workspace):
    ws = _with_coordinator(workspace, "Jo Bloggs")
    _submit(ws, "EH01", "audit")
    _submit(ws, "ADV1", "audit")
    _cli(ws, "review", "approve", "EH01", "audit", "--note", '=HYPERLINK("http://x","y")')
    write_reports(ws)
    rows = {
        (r["Team ID"], r["Form"]): r for r in _table(ws.reports_dir / "register.xlsx", "Returns")
    }
    eh = rows[("EH01", "audit")]
    assert eh["Review"] == "Approved"
    assert eh["Reviewed by"] == "Jo Bloggs"
    assert isinstance(eh["Reviewed at (UTC)"], dt.datetime)
    assert eh["Review note"] == '=HYPERLINK("http://x","y")'  # text, never a formula
    assert rows[("ADV1", "audit")]["Review"] == "Not reviewed"
    assert rows[("SW02", "audit")]["Review"] is None  # missing: nothing to review


def _dashboard_text(ws) -> tuple[list[str], list[list[Any]]]:
    sheet = openpyxl.load_workbook(ws.reports_dir / "compliance.xlsx")["Dashboard"]
    texts = [c.value for row in sheet.iter_rows(max_row=4) for c in row if isinstance(c.value, str)]
    table = sheet.tables["StandardsOverall"]
    rows = [[c.value for c in r] for r in sheet[table.ref]]
    return texts, rows


@pytest.mark.parametrize("require", [False, True])
def test_the_counting_rule_says_whether_approval_is_needed_and_is_applied(workspace, require):
    ws = _require_approval(workspace, require)
    assert ws.require_approval is require
    _submit(ws, "ADV1", "six-standards")
    write_reports(ws)
    texts, rows = _dashboard_text(ws)
    rule = next(t for t in texts if t.startswith("Counting rule"))
    assert f"require_approval = {'true' if require else 'false'}" in rule
    head, first = rows[0], rows[1]
    no_return = first[head.index("No return")]
    assert no_return == (1 if require else 0)  # not yet approved: counts as no return
    _cli(ws, "review", "approve", "ADV1", "six-standards")
    write_reports(ws)
    _, rows = _dashboard_text(ws)
    assert rows[1][rows[0].index("No return")] == 0


def test_a_bad_review_setting_is_a_config_error(workspace):
    with pytest.raises(ConfigError, match="require_approval"):
        _require_approval(workspace, "yes")


def _instructions_text(path: Path) -> str:
    wb = openpyxl.load_workbook(path)
    sheet = wb[wb.sheetnames[0]]
    return "\n".join(str(c.value) for row in sheet.iter_rows() for c in row if c.value)


def test_a_valid_return_sent_back_gets_feedback_carrying_the_note(workspace):
    ws = workspace
    _submit(ws, "EH01", "audit")
    feedback = ws.reports_dir / "feedback" / "EH01-audit.xlsx"
    write_reports(ws)
    assert not feedback.exists()  # valid, not sent back: nothing to feed back
    _cli(ws, "review", "return", "EH01", "audit", "--note", "Please add what changed in May")
    write_reports(ws)
    assert "Please add what changed in May" in _instructions_text(feedback)
    _cli(ws, "review", "approve", "EH01", "audit")
    write_reports(ws)
    assert not feedback.exists()  # approved since: the stale feedback goes


# --- decisions typed in reports/review.xlsx -------------------------------------------------


def _book_rows(ws) -> tuple[openpyxl.Workbook, dict[tuple[str, str], int], dict[str, int]]:
    wb = openpyxl.load_workbook(book_path(ws))
    sheet = wb["Review"]
    head_row = next(r for r in range(1, 11) if sheet.cell(r, 1).value == "Team ID")
    cols = {sheet.cell(head_row, c).value: c for c in range(1, sheet.max_column + 1)}
    rows = {
        (sheet.cell(r, 1).value, sheet.cell(r, cols["Form"]).value): r
        for r in range(head_row + 1, sheet.max_row + 1)
        if sheet.cell(r, 1).value
    }
    return wb, rows, cols


def _type(ws, team, form, decision, note=None):
    """Type a decision into review.xlsx as the coordinator would, and save it."""
    wb, rows, cols = _book_rows(ws)
    sheet = wb["Review"]
    sheet.cell(rows[(team, form)], cols["Decision"]).value = decision
    if note is not None:
        sheet.cell(rows[(team, form)], cols["Note"]).value = note
    wb.save(book_path(ws))


def _book_value(ws, team, form, column):
    wb, rows, cols = _book_rows(ws)
    return wb["Review"].cell(rows[(team, form)], cols[column]).value


def test_the_review_workbook_has_a_row_per_current_return_with_an_unlocked_dropdown(workspace):
    ws = workspace
    _submit(ws, "EH01", "audit")
    _submit(ws, "ADV1", "six-standards")
    write_reports(ws)
    wb, rows, cols = _book_rows(ws)
    sheet = wb["Review"]
    assert set(rows) == {("EH01", "audit"), ("ADV1", "six-standards")}
    assert sheet.protection.sheet
    r = rows[("EH01", "audit")]
    assert not sheet.cell(r, cols["Decision"]).protection.locked
    assert not sheet.cell(r, cols["Note"]).protection.locked
    assert sheet.cell(r, cols["Team ID"]).protection.locked
    (dv,) = sheet.data_validations.dataValidation
    assert dv.type == "list" and dv.formula1 == '"Approve,Send back"'
    assert sheet.cell(r, cols["Decision"]).coordinate in dv.sqref


def test_a_typed_decision_is_recorded_and_kept_when_the_file_is_rewritten(workspace):
    ws = _with_coordinator(workspace, "Jo Bloggs")
    _submit(ws, "EH01", "audit")
    write_reports(ws)
    _type(ws, "EH01", "audit", "Send back", "Standard 3: say who took part")
    write_reports(ws)  # reads it back, records, then rewrites it
    review = _row(ws)["review"]
    assert review["state"] == "returned"
    assert review["note"] == "Standard 3: say who took part"
    assert review["by"] == "Jo Bloggs"
    assert review["history"][0]["source"] == "workbook"
    assert _book_value(ws, "EH01", "audit", "Decision") == "Send back"  # still shown
    assert _book_value(ws, "EH01", "audit", "Decision now").startswith("Sent back by Jo Bloggs")
    write_reports(ws)  # read again: nothing new, so nothing more recorded
    assert len(_row(ws)["review"]["history"]) == 1


def test_an_untouched_row_never_undoes_a_decision_made_with_the_command(workspace):
    ws = workspace
    _submit(ws, "EH01", "audit")
    _submit(ws, "ADV1", "audit")
    write_reports(ws)  # EH01's Decision is blank in the file
    _cli(ws, "review", "return", "EH01", "audit", "--note", "By command")
    _type(ws, "ADV1", "audit", "Approve")  # the file is saved; EH01's row is untouched
    write_reports(ws)
    assert _row(ws)["review"]["state"] == "returned"
    assert _row(ws, "ADV1")["review"]["state"] == "approved"
    assert _book_value(ws, "EH01", "audit", "Decision") == "Send back"
    assert _book_value(ws, "EH01", "audit", "Note") == "By command"


def test_clearing_a_decision_in_the_workbook_undoes_it(workspace):
    ws = workspace
    _submit(ws, "EH01", "audit")
    _cli(ws, "review", "approve", "EH01", "audit")
    write_reports(ws)
    assert _book_value(ws, "EH01", "audit", "Decision") == "Approve"
    _type(ws, "EH01", "audit", None)
    write_reports(ws)
    review_history = _row(ws)["review"]
    assert review_history is None


def test_send_back_without_a_note_is_not_lost(workspace):
    ws = workspace
    _submit(ws, "EH01", "audit")
    write_reports(ws)
    _type(ws, "EH01", "audit", "Send back")
    warnings: list[str] = []
    write_reports(ws, warnings=warnings)
    assert any("needs a note" in w for w in warnings)
    assert _row(ws)["review"] is None
    assert _book_value(ws, "EH01", "audit", "Decision") == "Send back"  # kept as typed
    _type(ws, "EH01", "audit", "Send back", "Add the date")
    write_reports(ws)
    assert _row(ws)["review"]["state"] == "returned"


def test_a_word_that_is_not_a_decision_is_kept_and_reported(workspace):
    ws = workspace
    _submit(ws, "EH01", "audit")
    write_reports(ws)
    _type(ws, "EH01", "audit", "Maybe")
    warnings: list[str] = []
    write_reports(ws, warnings=warnings)
    assert any("'Maybe' is not a decision" in w for w in warnings)
    assert _book_value(ws, "EH01", "audit", "Decision") == "Maybe"


def test_a_changed_file_that_cannot_be_read_is_kept_and_the_others_written(workspace):
    ws = workspace
    _submit(ws, "EH01", "audit")
    write_reports(ws)
    damaged = b"PK\x03\x04 not really a workbook any more"
    book_path(ws).write_bytes(damaged)
    register = ws.reports_dir / "register.xlsx"
    os.utime(register, (1, 1))
    warnings: list[str] = []
    write_reports(ws, warnings=warnings)
    assert book_path(ws).read_bytes() == damaged  # kept exactly
    assert any("review.xlsx has changed since it was last read" in w for w in warnings)
    assert register.stat().st_mtime > 1  # the other reports were written


def test_a_review_file_open_in_excel_is_read_but_not_overwritten(workspace):
    ws = workspace
    _submit(ws, "EH01", "audit")
    write_reports(ws)
    _type(ws, "EH01", "audit", "Approve", "Fine")
    typed = book_path(ws).read_bytes()
    lock = ws.reports_dir / "~$review.xlsx"
    lock.write_bytes(b"owner")
    warnings: list[str] = []
    write_reports(ws, warnings=warnings)
    assert _row(ws)["review"]["state"] == "approved"  # what was saved is recorded
    assert book_path(ws).read_bytes() == typed  # and the open file is left alone
    assert any("is open" in w for w in warnings)
    lock.unlink()
    write_reports(ws)
    assert _book_value(ws, "EH01", "audit", "Decision now").startswith("Approved")
    assert len(_row(ws)["review"]["history"]) == 1  # not recorded twice


def test_a_decision_typed_before_a_newer_return_stays_with_the_return_it_was_typed_on(
    workspace,
):
    ws = workspace
    first = _submit(ws, "EH01", "audit", seed=1)
    write_reports(ws)
    _type(ws, "EH01", "audit", "Approve")
    _submit(ws, "EH01", "audit", seed=2, received="2027-03-25T09:30:00+00:00")
    warnings: list[str] = []
    write_reports(ws, warnings=warnings)
    assert any("a newer return" in w for w in warnings)
    assert _row(ws)["review"] is None  # the new return waits for review
    with Register(register_path(ws)) as reg:
        assert [d.action for d in history_of(reg, first)] == ["approve"]


def test_issues_of_a_return_do_not_stop_review(workspace):
    """An invalid return can be sent back (or approved as it is) like any other."""
    ws = workspace
    problem = issue("answer.required", "EH01 audit.xlsx", "About", "C8", "Role")
    _submit(ws, "EH01", "audit", issues=[problem])
    _cli(ws, "review", "return", "EH01", "audit", "--note", "Fill in the role")
    write_reports(ws)
    text = _instructions_text(ws.reports_dir / "feedback" / "EH01-audit.xlsx")
    assert "Fill in the role" in text


def test_the_review_workbook_prints_legibly_on_a4(workspace, libreoffice, tmp_path):
    import render

    if render.pdfplumber_missing():
        pytest.skip(render.pdfplumber_missing())
    ws = _with_coordinator(workspace, "Jo Bloggs")
    for team in ("EH01", "SW02", "ADV1"):
        _submit(ws, team, "audit")
    note = "Standard 2: please say which young people took part, and what changed as a result."
    _cli(ws, "review", "return", "SW02", "audit", "--note", note)
    write_reports(ws)
    pdf = tmp_path / "review.pdf"
    libreoffice.call("to_pdf", path=str(book_path(ws)), out=str(pdf))
    assert render.smallest_text_pt(pdf) >= 8
    printed = " ".join(render.pdf_text(pdf).split())
    assert "Sent back by Jo Bloggs" in printed
    assert all(w in printed for w in note.split())


def test_the_review_workbook_passes_the_accessibility_check(workspace):
    from participation_xl.accessibility import check_workbook

    _submit(workspace, "EH01", "audit")
    _cli(workspace, "review", "return", "EH01", "audit", "--note", "Add evidence")
    write_reports(workspace)
    assert check_workbook(book_path(workspace)) == []


def test_a_decision_typed_in_libreoffice_is_recorded_and_kept(workspace, libreoffice, tmp_path):
    """The coordinator's own spreadsheet program types into the protected sheet's unlocked
    cells and saves over the file; report records the decision, then rewrites the file."""
    ws = _with_coordinator(workspace, "Jo Bloggs")
    _submit(ws, "EH01", "audit")
    _submit(ws, "ADV1", "audit")
    write_reports(ws)
    _, rows, cols = _book_rows(ws)
    r = rows[("ADV1", "audit")]
    letter = openpyxl.utils.get_column_letter
    edits = [
        {"cell": f"Review!{letter(cols['Decision'])}{r}", "value": "Send back"},
        {"cell": f"Review!{letter(cols['Note'])}{r}", "value": "Say what changed\nin May"},
    ]
    saved = tmp_path / "typed.xlsx"
    libreoffice.call(
        "fill_save", path=str(book_path(ws)), edits=edits, out=str(saved), filter="xlsx"
    )
    book_path(ws).write_bytes(saved.read_bytes())  # saved over, as the coordinator would
    write_reports(ws)
    review = _row(ws, "ADV1")["review"]
    assert (review["state"], review["note"], review["by"]) == (
        "returned",
        "Say what changed\nin May",
        "Jo Bloggs",
    )
    assert _row(ws)["review"] is None  # the untouched row stays undecided
    assert _book_value(ws, "ADV1", "audit", "Decision") == "Send back"
    assert _book_value(ws, "ADV1", "audit", "Decision now").startswith("Sent back by Jo Bloggs")


@pytest.mark.parametrize(
    "team,form,action,note,code",
    [
        ("NOPE", "audit", "approve", "", "review.unknown_team"),
        ("EH01", "six-standards", "approve", "", "review.unknown_form"),
        ("SW02", "audit", "approve", "", "review.no_submission"),
        ("EH01", "audit", "return", "  \n ", "review.note_required"),
        ("EH01", "audit", "return", "x" * 2001, "review.note_too_long"),
        ("EH01", "audit", "undo", "", "review.nothing_to_undo"),
    ],
)
def test_the_library_refuses_with_a_stable_code(workspace, team, form, action, note, code):
    from participation_xl.errors import ReviewError
    from participation_xl.review import decide

    _submit(workspace, "EH01", "audit")
    with Register(register_path(workspace)) as reg:
        with pytest.raises(ReviewError) as caught:
            decide(workspace, reg, team, form, action, note)
        assert caught.value.code == code
        assert reg.db.execute("SELECT COUNT(*) FROM reviews").fetchone()[0] == 0


def test_the_coordinator_setting_is_validated(workspace):
    config = workspace.root / "participation.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('coordinator = ""', f'coordinator = "{"x" * 121}"'))
    with pytest.raises(ConfigError, match="coordinator"):
        load_workspace(workspace.root)
