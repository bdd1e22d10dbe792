"""Messages that blame the right party, and say what did not happen (issue 13, item 10),
and team ids that differ only in capitals (item 13c)."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from participation_xl.cli import main
from participation_xl.collect import collect
from participation_xl.errors import RosterError
from participation_xl.generate import generate, issued_form
from participation_xl.register import Register
from participation_xl.roster import read_roster
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.workspace import init_workspace, load_workspace, register_path

DUE = dt.date(2027, 3, 31)
HEADER = "team_id,team_name,service_area,kind,provider,contact_name,contact_email"


def run(*args: str, ws: Path | None = None):
    if ws is not None:
        args = ("-w", str(ws), *args)
    return CliRunner().invoke(main, list(args))


def _workspace(root: Path, pack: Path | None = None):
    ws = init_workspace(root, "C", "2026-27", DUE)
    if pack is not None:
        config = ws.root / "participation.toml"
        config.write_text(
            config.read_text().replace('pack = ""', f"pack = {json.dumps(str(pack))}")
        )
        ws = load_workspace(ws.root)
    return ws


def _return_audit(ws, issued_from=None) -> Path:
    """EH01's audit, filled in as the team would and put in the returns folder."""
    source = issued_from or ws
    issued = {issued_form(source, p): p for p in (source.outbox).rglob("*.xlsx")}
    form = source.pack.forms["audit"]
    answers = sample_answers(form, random.Random(5))
    out = ws.returns_dir / "EH01 audit.xlsx"
    return fill_workbook(issued[("EH01", "audit")], out, answers, form)


def _codes(ws) -> dict[str, str]:
    with Register(register_path(ws)) as reg:
        return {f.path: f.code for f in reg.files()}


def _edit_schema(pack: Path, change) -> None:
    path = pack / "schemas/audit.schema.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _new_first_question(schema: dict) -> None:
    """A question added at the top of 'About the team': every answer below moves down."""
    about = schema["properties"]["about"]
    about["properties"] = {
        "new_question": {"type": "string", "title": "A new question", "maxLength": 50},
        **about["properties"],
    }


def test_a_schema_edit_without_a_version_bump_blames_the_pack_not_the_team(tmp_path, pack_copy):
    ws = _workspace(tmp_path / "ws", pack_copy)
    generate(ws)
    _return_audit(ws)
    _edit_schema(pack_copy, _new_first_question)
    summary = collect(load_workspace(ws.root))
    assert _codes(ws) == {"EH01 audit.xlsx": "identify.pack_changed"}
    reason = next(r for p, _o, r in summary.reasons if p == "EH01 audit.xlsx")
    assert "coordinator" in reason and "changed since this workbook was issued" in reason


def test_a_harmless_schema_edit_without_a_bump_still_accepts_the_return(tmp_path, pack_copy):
    ws = _workspace(tmp_path / "ws", pack_copy)
    generate(ws)
    _return_audit(ws)
    _edit_schema(pack_copy, lambda d: d.update(description="Reworded, nothing moved."))
    summary = collect(load_workspace(ws.root))
    assert summary.seen["accepted"] == 1, summary.reasons


def test_a_version_bump_after_issue_blames_the_pack_not_the_team(tmp_path, pack_copy):
    ws = _workspace(tmp_path / "ws", pack_copy)
    generate(ws)
    _return_audit(ws)
    # A version the workspace never kept (a workspace from before packs were kept): with
    # the kept copy, the return is read with its own version (tests/test_pack_versions.py).
    shutil.rmtree(ws.state_dir / "packs")
    _edit_schema(pack_copy, lambda d: d.update({"x-form-version": "9.9"}))
    summary = collect(load_workspace(ws.root))
    assert _codes(ws) == {"EH01 audit.xlsx": "identify.pack_changed"}
    reason = summary.reasons[0][2]
    assert "version 9.9" in reason and "Fill in the workbook you were sent" not in reason


def test_a_form_removed_from_the_pack_after_issue_blames_the_pack(tmp_path, pack_copy):
    ws = _workspace(tmp_path / "ws", pack_copy)
    generate(ws)
    _return_audit(ws)
    layout = pack_copy / "workbook_templates/audit.toml"
    layout.write_text(layout.read_text().replace('form = "audit"', 'form = "audit-2"'))
    for kind in ("pack.toml",):
        meta = pack_copy / "workbook_templates" / kind
        meta.write_text(meta.read_text().replace('"audit"', '"audit-2"'))
    config = ws.root / "participation.toml"
    config.write_text(config.read_text().replace('"audit"', '"audit-2"'))
    summary = collect(load_workspace(ws.root))
    assert _codes(ws) == {"EH01 audit.xlsx": "identify.pack_changed"}
    assert "no form of that name" in summary.reasons[0][2]


def test_rows_moved_by_the_team_are_still_the_teams_to_fix(tmp_path):
    # The same pack as at issue: "answers have moved" stays the team's message.
    import openpyxl

    ws = _workspace(tmp_path / "ws")
    generate(ws)
    path = _return_audit(ws)
    wb = openpyxl.load_workbook(path)
    wb["About the team"].insert_rows(8, 2)
    wb.save(path)
    collect(ws)
    assert _codes(ws) == {"EH01 audit.xlsx": "identify.moved"}


def test_a_workbook_from_another_workspace_says_so(tmp_path):
    other = _workspace(tmp_path / "other")
    generate(other)
    ws = _workspace(tmp_path / "ws")
    _return_audit(ws, issued_from=other)
    summary = collect(ws)
    assert _codes(ws) == {"EH01 audit.xlsx": "identify.other_workspace"}
    assert "another workspace" in summary.reasons[0][2]


def test_a_workbook_whose_identity_was_edited_is_still_called_changed(tmp_path):
    import openpyxl

    ws = _workspace(tmp_path / "ws")
    generate(ws)
    path = _return_audit(ws)
    wb = openpyxl.load_workbook(path)
    meta = wb["_meta"]
    for row in range(1, 10):
        if meta.cell(row, 1).value == "team_id":
            meta.cell(row, 2).value = "SW02"
    wb.save(path)
    collect(ws)
    assert _codes(ws) == {"EH01 audit.xlsx": "identify.bad_signature"}


@pytest.mark.parametrize(
    "typed,needle",
    [
        ("2027-02-29", "29 February 2027 does not exist (2027 is not a leap year)"),
        ("29/02/2027", "29 February 2027 does not exist"),
        ("31/04/2027", "31 April 2027 does not exist (April has 30 days)"),
        ("2027-13-01", "there is no month 13"),
    ],
)
def test_a_day_that_does_not_exist_is_named(tmp_path, typed, needle):
    result = run(
        "init", str(tmp_path / "w"), "--council", "C", "--cycle", "2026-27", "--due", typed
    )
    assert result.exit_code == 2
    assert needle in result.output
    assert "not a date like" not in result.output


def test_a_leap_day_that_exists_is_taken(tmp_path):
    result = run(
        "init", str(tmp_path / "w"), "--council", "C", "--cycle", "2027-28", "--due", "29/02/2028"
    )
    assert result.exit_code == 0, result.output


def _break_roster(root: Path) -> None:
    roster = root / "teams.csv"
    roster.write_text(f"{HEADER}\nT1,A,B,wrong-kind,,C,c@example.org\n")
    config = root / "participation.toml"
    config.write_text(config.read_text().replace('roster = "teams.xlsx"', 'roster = "teams.csv"'))


@pytest.mark.parametrize(
    "command,said",
    [
        (["status"], "no status can be shown"),
        (["status", "--json"], "no status can be shown"),
        (["generate"], "nothing was generated"),
        (["collect"], "nothing was collected"),
        (["export", "--format", "csv"], "nothing was exported"),
    ],
)
def test_a_roster_error_says_what_the_command_that_ran_did_not_do(tmp_path, command, said):
    ws = _workspace(tmp_path / "ws")
    _break_roster(ws.root)
    result = run(*command, ws=ws.root)
    assert result.exit_code == 2, result.output
    assert said in result.output and "Row 2, column kind" in result.output
    if command[0] != "generate":
        assert "generated" not in result.output


# --- 13c: ids that differ only in capitals ---------------------------------------------


def test_team_ids_that_differ_only_in_case_are_refused_with_row_and_column(tmp_path):
    roster = tmp_path / "teams.csv"
    roster.write_text(
        f"{HEADER}\n"
        "EH01,Early Help North,Early Help,internal,,Sam,sam@example.org\n"
        "SW02,Social Work,Social Work,internal,,Al,al@example.org\n"
        "eh01,Early Help South,Early Help,internal,,Jo,jo@example.org\n"
    )
    with pytest.raises(RosterError) as caught:
        read_roster(roster)
    (problem,) = caught.value.problems
    assert problem.startswith("Row 4, column team_id:")
    assert "'eh01'" in problem and "'EH01'" in problem and "row 2" in problem


def test_an_exact_duplicate_is_still_called_a_duplicate(tmp_path):
    roster = tmp_path / "teams.csv"
    roster.write_text(
        f"{HEADER}\n"
        "eh01,Early Help North,Early Help,internal,,Sam,sam@example.org\n"
        "EH01,Early Help,Early Help,internal,,Al,al@example.org\n"
        "eh01,Early Help South,Early Help,internal,,Jo,jo@example.org\n"
    )
    with pytest.raises(RosterError) as caught:
        read_roster(roster)
    first, second = caught.value.problems
    assert first.startswith("Row 3, column team_id:") and "capitals" in first
    assert second.startswith("Row 4, column team_id:") and "is used by row 2 too" in second
