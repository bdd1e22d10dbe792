"""After `new-cycle`, `generate` pre-fills each team's workbooks from its last return.

Year one: the starter roster's three teams are issued their workbooks; EH01 returns its
audit, ADV1 its audit and Six Standards review, SW02 returns nothing; collect. Then
new-cycle and generate. What the pack says carries (answers to questions that still
exist, not what is marked `"x-carry": false`) is pre-filled and marked, in words, "From
last year: check and update"; last year's action plan fills the table that declares
`"x-carry-from"`, with its "what happened" column empty; SW02 gets an empty workbook, and
so does everyone with `--blank`. A pre-filled workbook returned unchanged is collected
with errors only where this year's answers are still to come, and (through LibreOffice)
its live still-to-do count agrees with collect.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from participation_xl import Workspace, init_workspace
from participation_xl.cli import main
from participation_xl.errors import PackError
from participation_xl.generate import CARRIED, STILL_TO_DO, generate, outbox_path
from participation_xl.pack import Form, load_pack
from participation_xl.pipeline import collect_and_report
from participation_xl.register import Register
from participation_xl.roster import read_roster
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.workspace import load_workspace, register_path

DUE, NEXT, NEXT_DUE = dt.date(2027, 3, 31), "2027-28", dt.date(2028, 3, 31)
RETURNED = [("EH01", "audit"), ("ADV1", "audit"), ("ADV1", "six-standards")]


@pytest.fixture(scope="module")
def years(tmp_path_factory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("prefill") / "ws"
    ws = init_workspace(root, "Bath and North East Somerset Council", "2026-27", DUE)
    teams = {t.team_id: t for t in read_roster(ws.roster_path)}
    generate(ws)
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for n, (team, form_id) in enumerate(RETURNED):
        form = ws.pack.forms[form_id]
        answers = sample_answers(form, random.Random(n), rows=3)
        issued = outbox_path(ws, teams[team], form_id)
        fill_workbook(issued, ws.returns_dir / f"{team} {form_id}.xlsx", answers, form)
    collect_and_report(ws, report=False)
    with Register.read_only(register_path(ws)) as reg:
        last = {(s.team_id, s.form): s.document for s in reg.submissions(cycle="2026-27")}
    assert set(last) == set(RETURNED)
    Workspace.open(root).new_cycle(NEXT, NEXT_DUE)
    ws = load_workspace(root)
    kept = root.parent / "kept"
    for name, blank in (("prefilled", False), ("blank", True)):
        for path in generate(ws, blank=blank):
            target = kept / name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return {"ws": ws, "teams": teams, "last": last, "kept": kept}


def _book(years, kind: str, team: str, form_id: str) -> Path:
    ws = years["ws"]
    return years["kept"] / kind / outbox_path(ws, years["teams"][team], form_id).name


def _inputs(form: Form, path: Path) -> dict[str, Any]:
    wb = openpyxl.load_workbook(path, data_only=True)
    return {i.field.path: wb[i.sheet].cell(i.row, i.col).value for i in form.inputs}


def _value_at(doc: dict[str, Any], path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _same(cell: Any, answer: Any) -> bool:
    if isinstance(cell, dt.datetime):
        return cell.date().isoformat() == answer
    return cell == answer


@pytest.mark.parametrize(("team", "form_id"), RETURNED)
def test_answers_that_still_exist_are_carried_and_dates_of_the_year_are_not(years, team, form_id):
    form = years["ws"].pack.forms[form_id]
    last = years["last"][(team, form_id)]
    cells = _inputs(form, _book(years, "prefilled", team, form_id))
    not_carried = [i.field for i in form.inputs if not i.field.carry]
    assert any(f.kind == "date" for f in not_carried)  # the pack declares the year's dates
    carried = 0
    for i in form.inputs:
        answer = _value_at(last, i.field.path)
        if not i.field.carry:
            assert cells[i.field.path] is None, i.field.path
        elif answer is not None:
            assert _same(cells[i.field.path], answer), i.field.path
            carried += 1
    assert carried > len(form.inputs) // 2


def _rows_with(path: Path, words: str) -> list[tuple[str, int]]:
    wb = openpyxl.load_workbook(path, data_only=True)
    return [
        (ws.title, c.row)
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for c in row
        if isinstance(c.value, str) and words in c.value
    ]


def test_carried_answers_are_marked_in_words_beside_each_and_on_the_instructions(years):
    form = years["ws"].pack.forms["audit"]
    path = _book(years, "prefilled", "EH01", "audit")
    marked = set(_rows_with(path, CARRIED))
    assert any(sheet == "Instructions" for sheet, _ in marked)
    for i in form.inputs:
        row_marked = (i.sheet, i.row) in marked
        # A question of its own says so on its row; a year's date (not carried) does not.
        if i.label == i.field.title:
            assert row_marked == i.field.carry, i.field.path
    # The words are in the status formula, so they stay live as the team types.
    wb = openpyxl.load_workbook(path)
    formulas = [
        c.value
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for c in row
        if isinstance(c.value, str) and c.value.startswith("=") and CARRIED in c.value
    ]
    assert formulas


def test_last_years_action_plan_appears_with_a_column_for_what_happened(years):
    form = years["ws"].pack.forms["audit"]
    table = next(t for t in form.tables if t.carry_from)
    plan = years["last"][("EH01", "audit")][table.carry_from]
    wb = openpyxl.load_workbook(_book(years, "prefilled", "EH01", "audit"), data_only=True)
    sheet = wb[table.sheet]
    outcome = next(c for c in table.columns if c.kind == "choice")
    assert {"Done", "In progress", "Dropped"} <= set(outcome.choices)
    for n, item in enumerate(plan):
        row = table.first_row + n
        for key, answer in item.items():
            assert _same(sheet.cell(row, table.col_of(key)).value, answer), (n, key)
        assert sheet.cell(row, table.col_of(outcome.key)).value is None  # for the team
    assert sheet.cell(table.first_row + len(plan), table.col_of("action")).value is None
    # This year's own action plan starts empty (the pack marks it as the year's).
    own = next(t for t in form.tables if t.path == table.carry_from)
    assert not own.carry
    assert wb[own.sheet].cell(own.first_row, own.first_col).value is None


def _empty(form: Form, path: Path) -> bool:
    wb = openpyxl.load_workbook(path, data_only=True)
    inputs = all(wb[i.sheet].cell(i.row, i.col).value is None for i in form.inputs)
    tables = all(
        wb[t.sheet].cell(r, t.col_of(c.key)).value is None
        for t in form.tables
        for r in range(t.first_row, t.last_row + 1)
        for c in t.columns
    )
    return inputs and tables and not _rows_with(path, CARRIED)


def test_a_team_with_no_previous_return_gets_an_empty_workbook(years):
    form = years["ws"].pack.forms["audit"]
    assert _empty(form, _book(years, "prefilled", "SW02", "audit"))


@pytest.mark.parametrize(("team", "form_id"), RETURNED)
def test_blank_writes_empty_workbooks(years, team, form_id):
    form = years["ws"].pack.forms[form_id]
    assert _empty(form, _book(years, "blank", team, form_id))


def test_blank_on_the_command_line(years, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(years["ws"].root, root)
    ws = load_workspace(root)
    result = CliRunner().invoke(main, ["-w", str(root), "generate", "--blank", "--team", "EH01"])
    assert result.exit_code == 0, result.output
    form = ws.pack.forms["audit"]
    assert _empty(form, outbox_path(ws, years["teams"]["EH01"], "audit"))
    result = CliRunner().invoke(main, ["-w", str(root), "generate", "--team", "EH01"])
    assert result.exit_code == 0, result.output
    assert not _empty(form, outbox_path(ws, years["teams"]["EH01"], "audit"))


def _year_errors(form: Form) -> set[str]:
    """The answers a pre-filled workbook still wants: those not carried (a table of the
    year's own rows too few), and what happened to each of last year's actions."""
    out = {i.field.path for i in form.inputs if not i.field.carry}
    out |= {t.path for t in form.tables if not t.carry}
    out |= {c.path for t in form.tables if t.carry_from for c in t.columns if not c.carry}
    out |= {c.path for t in form.tables if t.carry_from for c in t.columns if c.kind == "choice"}
    return out


def test_a_prefilled_workbook_returned_unchanged_is_collected_with_only_the_years_errors(
    years, tmp_path
):
    root = tmp_path / "copy"
    shutil.copytree(years["ws"].root, root)
    ws = load_workspace(root)
    for team, form_id in RETURNED:
        shutil.copy2(_book(years, "prefilled", team, form_id), ws.returns_dir)
    done = collect_and_report(ws, report=False)
    assert done.seen["accepted"] == len(RETURNED), done.reasons
    with Register.read_only(register_path(ws)) as reg:
        now = {(s.team_id, s.form): s for s in reg.submissions(cycle=NEXT)}
    assert set(now) == set(RETURNED)
    for key, sub in now.items():
        form = ws.pack.forms[key[1]]
        errors = {re.sub(r"\.\d+\.", ".", i.path) for i in sub.issues if i.is_error}
        assert errors <= _year_errors(form), errors - _year_errors(form)
        for i in form.inputs:  # every carried answer came back as a real answer
            if i.field.carry and _value_at(years["last"][key], i.field.path) is not None:
                assert _value_at(sub.document, i.field.path) is not None, i.field.path


@pytest.mark.libreoffice
def test_the_live_count_agrees_with_collect_on_a_prefilled_workbook(years, libreoffice):
    ws = years["ws"]
    for team, form_id in RETURNED:
        path = _book(years, "prefilled", team, form_id)
        got = libreoffice.call("fill_read", path=str(path), edits=[], names=[STILL_TO_DO])
        live = got["names"][STILL_TO_DO]["value"]
        (said,) = Workspace.open(ws.root).validate([path]).files
        assert said.outcome == "accepted", said.reason
        cells = {(i.place.sheet, i.place.row, i.place.col) for i in said.issues if i.is_error}
        assert live == len(cells) > 0, (team, form_id)


def test_a_table_carried_from_a_table_that_is_not_there_is_a_pack_error(pack_copy):
    path = pack_copy / "schemas" / "audit.schema.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    table = next(v for v in data["properties"].values() if "x-carry-from" in v)
    table["x-carry-from"] = "action_plans"  # misspelt: nothing would be carried
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PackError) as caught:
        load_pack(pack_copy)
    assert caught.value.code == "pack.carry_from"
