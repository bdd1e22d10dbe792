"""Review decisions and the register's recovery: rebuild, backups, failed report runs and
the run lock (the coordinator's decisions are never lost, doubled or put on another team)."""

from __future__ import annotations

import functools
import os
import random
import sqlite3

import openpyxl
import pytest
from click.testing import CliRunner

import participation_xl.api as api_module
import participation_xl.workspace as workspace_module
from participation_xl.archive import Archive
from participation_xl.cli import main
from participation_xl.collect import collect
from participation_xl.errors import OutputError
from participation_xl.messages import render
from participation_xl.recovery import newest_backup
from participation_xl.register import Register
from participation_xl.report import write_reports
from participation_xl.review import current_reviews, history_of
from participation_xl.review_book import book_path
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.workspace import register_path


@pytest.fixture
def cycle(workspace):
    from participation_xl.generate import generate, issued_form

    return workspace, {issued_form(workspace, p): p for p in generate(workspace)}


def _fill(cycle, team="EH01", form="audit"):
    ws, issued = cycle
    answers = sample_answers(ws.pack.forms[form], random.Random(1))
    target = ws.returns_dir / f"{team} {form}.xlsx"
    return fill_workbook(issued[(team, form)], target, answers, ws.pack.forms[form])


def _cli(ws, *args, code=0):
    result = CliRunner().invoke(main, ["-w", str(ws.root), *args])
    assert result.exit_code == code, result.output
    return result


def _current(ws, team="EH01", form="audit") -> tuple[int, str]:
    with Register(register_path(ws)) as reg:
        row = reg.db.execute(
            "SELECT id, sha256 FROM submissions WHERE team_id = ? AND form = ? AND current = 1",
            (team, form),
        ).fetchone()
    return int(row[0]), str(row[1])


def _reviews(ws) -> dict:
    with Register(register_path(ws)) as reg:
        return current_reviews(reg, ws.cycle)


def _history(ws, team="EH01", form="audit") -> list[str]:
    with Register(register_path(ws)) as reg:
        return [d.action for d in history_of(reg, _current(ws, team, form)[0])]


def _type(ws, team, form, decision, note=None) -> str:
    """Type a decision into review.xlsx and save it; returns the Decision cell."""
    wb = openpyxl.load_workbook(book_path(ws))
    sheet = wb["Review"]
    head = next(r for r in range(1, 11) if sheet.cell(r, 1).value == "Team ID")
    cols = {sheet.cell(head, c).value: c for c in range(1, sheet.max_column + 1)}
    row = next(
        r
        for r in range(head + 1, sheet.max_row + 1)
        if (sheet.cell(r, 1).value, sheet.cell(r, cols["Form"]).value) == (team, form)
    )
    sheet.cell(row, cols["Decision"]).value = decision
    if note is not None:
        sheet.cell(row, cols["Note"]).value = note
    wb.save(book_path(ws))
    return sheet.cell(row, cols["Decision"]).coordinate


def _two_runs(cycle):
    """EH01 collected in one run, SW02 in the next; the review workbook written."""
    ws, _ = cycle
    _fill(cycle, "EH01")
    collect(ws)
    _fill(cycle, "SW02")
    collect(ws)
    write_reports(ws)
    return ws


def _lose_archived_copy(ws, team="EH01", form="audit") -> None:
    """EH01's archived copy is gone: rebuild renumbers SW02's return as EH01's was."""
    os.unlink(Archive(ws.state_dir).find(_current(ws, team, form)[1]))


# --- 1. a row typed before a rebuild is never recorded against another team --------------


def test_a_decision_typed_before_rebuild_renumbers_returns_is_not_recorded_on_another_team(
    cycle,
):
    ws = _two_runs(cycle)
    old_id = _current(ws, "EH01")[0]
    cell = _type(ws, "EH01", "audit", "Approve")
    _lose_archived_copy(ws)

    _cli(ws, "rebuild")
    assert _current(ws, "SW02")[0] == old_id  # the row's return number is SW02's now
    assert not (ws.state_dir / "review-book.json").exists()  # keyed by the old numbers
    warnings: list[str] = []
    write_reports(ws, warnings=warnings)

    assert _reviews(ws).get(("SW02", "audit")) is None
    stale = render(
        "review.book_stale_row",
        path=book_path(ws),
        cell=cell,
        team="EH01",
        form="audit",
        number=old_id,
        value="Approve",
    )
    assert stale in warnings


def test_a_row_whose_hidden_file_sha_names_other_bytes_is_not_applied(cycle):
    ws = _two_runs(cycle)
    wb = openpyxl.load_workbook(book_path(ws))
    sheet = wb["Review"]
    head = next(r for r in range(1, 11) if sheet.cell(r, 1).value == "Team ID")
    cols = {sheet.cell(head, c).value: c for c in range(1, sheet.max_column + 1)}
    row = next(r for r in range(head + 1, sheet.max_row + 1) if sheet.cell(r, 1).value == "EH01")
    assert sheet.cell(row, cols["File SHA-256"]).value == _current(ws, "EH01")[1]
    sheet.cell(row, cols["File SHA-256"]).value = "0" * 64  # the row was for other bytes
    sheet.cell(row, cols["Decision"]).value = "Approve"
    wb.save(book_path(ws))
    warnings: list[str] = []

    write_reports(ws, warnings=warnings)

    assert _reviews(ws).get(("EH01", "audit")) is None
    assert len(warnings) == 1 and "is now another return" in warnings[0]


# --- 2. rebuild carries the decisions over; review commands take a backup ------------------


def test_rebuild_keeps_each_review_decision_on_the_return_with_the_same_file(cycle):
    ws = _two_runs(cycle)
    _cli(ws, "review", "return", "EH01", "audit", "--note", "Fill in B4")
    _cli(ws, "review", "approve", "SW02", "audit")
    before = _reviews(ws)

    _cli(ws, "rebuild")

    after = _reviews(ws)
    assert after[("EH01", "audit")] == before[("EH01", "audit")]  # who, when, note, history
    assert after[("SW02", "audit")] == before[("SW02", "audit")]


def test_rebuild_warns_about_a_decision_with_no_rebuilt_return_to_go_on(cycle):
    ws = _two_runs(cycle)
    _cli(ws, "review", "approve", "EH01", "audit")
    _cli(ws, "review", "approve", "SW02", "audit")
    _lose_archived_copy(ws)

    result = _cli(ws, "rebuild")

    assert "could not be carried over" in result.output
    assert "EH01" in result.output
    assert _reviews(ws)[("SW02", "audit")]["state"] == "approved"  # renumbered, still its own


def test_rebuild_says_when_the_old_registers_decisions_cannot_be_read(cycle):
    ws = _two_runs(cycle)
    for extra in ("-wal", "-shm"):
        register_path(ws).with_name(register_path(ws).name + extra).unlink(missing_ok=True)
    register_path(ws).write_bytes(b"not a register at all" * 100)

    result = _cli(ws, "rebuild")

    assert "could not be read" in result.output and "backups" in result.output
    assert _current(ws, "EH01")  # the returns are rebuilt all the same


def test_a_review_command_takes_a_register_backup_with_the_decision(cycle):
    ws, _ = cycle
    _fill(cycle)
    collect(ws)

    _cli(ws, "review", "approve", "EH01", "audit")

    db = sqlite3.connect(newest_backup(ws.state_dir))
    try:
        assert db.execute("SELECT action FROM reviews").fetchall() == [("approve",)]
    finally:
        db.close()


# --- 3. a report run that fails does not record the typed decisions twice ------------------


def test_a_typed_approval_survives_a_failed_report_run_without_being_recorded_twice(cycle):
    ws, _ = cycle
    _fill(cycle)
    collect(ws)
    write_reports(ws)
    _type(ws, "EH01", "audit", "Approve")
    chasers = ws.reports_dir / "chasers.csv"
    chasers.unlink()
    chasers.mkdir()  # the report set cannot be written
    with pytest.raises(OutputError):
        write_reports(ws)
    chasers.rmdir()

    write_reports(ws)

    assert _history(ws) == ["approve"]
    _cli(ws, "review", "undo", "EH01", "audit")
    assert _reviews(ws).get(("EH01", "audit")) is None


# --- 4. a review waits for a running collect, report or rebuild ----------------------------


def test_a_review_command_takes_the_run_lock(cycle, monkeypatch):
    ws, _ = cycle
    _fill(cycle)
    collect(ws)
    quick = functools.partial(workspace_module.run_lock, wait=0.2)
    monkeypatch.setattr(api_module, "run_lock", quick)

    with workspace_module.run_lock(ws):  # a rebuild (or collect) is running
        result = _cli(ws, "review", "approve", "EH01", "audit", code=2)

    assert "Another collect or report is running" in result.output
    assert _reviews(ws).get(("EH01", "audit")) is None
