"""One Issue type: codes from the catalogue's enum, issues stored as register rows, and
lateness frozen in a column when collect records a return (older registers migrated)."""

from __future__ import annotations

import datetime as dt
import json
import pickle
import re
import sqlite3
from pathlib import Path

import pytest

from participation_xl.collect import register_path
from participation_xl.issues import Issue, issue
from participation_xl.messages import CATALOGUE, Code, Severity
from participation_xl.place import Place
from participation_xl.register import Register
from participation_xl.report import _marks
from participation_xl.status import expected_returns, standing, status

PACKAGE = Path(__file__).resolve().parent.parent / "participation_xl"
NOW = "2027-03-20T10:00:00+00:00"
IDENTITY = {"team_id": "EH01", "form": "audit", "form_version": "1.0", "cycle": "2026-27"}


def test_every_code_has_a_catalogue_entry_and_every_entry_a_code():
    assert set(CATALOGUE) == set(Code)
    assert all(isinstance(code, Code) for code in CATALOGUE)
    assert len({c.value for c in Code}) == len(Code)


def test_no_code_is_built_from_parts_so_every_code_can_be_searched_for():
    prefixes = sorted({c.value.split(".")[0] for c in Code})
    built = re.compile(r"""f["'](?:""" + "|".join(prefixes) + r""")\.\{""")
    found = [
        f"{path.name}:{n}"
        for path in sorted(PACKAGE.glob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if built.search(line)
    ]
    assert found == []


def test_an_issue_names_its_question_once_and_says_where():
    choice = issue(Code.ANSWER_CHOICE, "a.xlsx", "Team's details", "B8", "Rating", value="x")
    assert choice.place == Place("Team's details", 8, 2)
    assert choice.severity is Severity.ERROR and choice.is_error
    assert choice.message.startswith("'Rating': 'x' is not one of the options.")
    required = issue(Code.ANSWER_REQUIRED, "a.xlsx", "S", "B8", "Rating")
    assert required.message == "'Rating' is required. Please fill it in."  # named once
    late = issue(Code.STATUS_LATE, "a.xlsx", received="02/04/2027", due="31/03/2027")
    assert late.place == Place() and late.severity is Severity.QUERY
    assert late.as_json() == {
        "code": "status.late",
        "severity": "query",
        "file": "a.xlsx",
        "sheet": "",
        "cell": "",
        "field": "",
        "message": "Received 02/04/2027, after the due date 31/03/2027.",
    }


def test_an_issue_crosses_from_a_worker_process_whole():
    i = issue(Code.RULE_MORE_THAN, "a.xlsx", "S", "C9", "Spent", table_row=2, value=5, limit=3)
    back = pickle.loads(pickle.dumps(i))
    assert back == i and back.message == i.message and back.place.table_row == 2
    assert not hasattr(i, "__dict__")  # slots: small to send and to keep


def _register_with(ws, issues: list[Issue], late: bool) -> Register:
    reg = Register(register_path(ws))
    with reg.transaction():
        file_id = reg.add_file("EH01 audit.xlsx", 1, 1, "ab" * 32, "accepted", "", "", NOW)
        identity = {**IDENTITY, "cycle": ws.cycle}
        reg.add_submission(
            file_id, "ab" * 32, "EH01 audit.xlsx", identity, True, {}, issues, NOW, NOW, late=late
        )
        reg.refresh_current(ws.cycle, "EH01", "audit")
    return reg


def test_issues_are_register_rows_and_come_back_as_they_were_recorded(workspace):
    recorded = [
        Issue(Code.ANSWER_CHOICE, Place("S", 8, 2), "a.b", "Rating", {"value": "x"}, "f.xlsx"),
        Issue(Code.RULE_MORE_THAN, Place("T", 12, 3, 2), "t.1.k", "Row 2", {"value": 5}, "f"),
        issue(Code.STATUS_LATE, "f.xlsx", received="02/04/2027", due="31/03/2027"),
    ]
    with _register_with(workspace, recorded, late=True) as reg:
        rows = reg.db.execute("SELECT code, sheet, row, col, table_row FROM issues").fetchall()
        assert [tuple(r) for r in rows] == [
            ("answer.choice", "S", 8, 2, 0),
            ("rule.more_than", "T", 12, 3, 2),
            ("status.late", "", 0, 0, 0),
        ]
        assert reg.db.execute("SELECT issues, late FROM submissions").fetchone()[:] == ("[]", 1)
        (sub,) = reg.submissions(workspace.cycle, documents=False)
        assert sub.issues == recorded and sub.late
        assert reg.current_submission(workspace.cycle, "EH01", "audit").issues == recorded


def test_lateness_is_the_column_collect_froze_not_a_query_read_back(workspace):
    # Recorded on time, though an issue says late: the column is what counts.
    late_query = issue(Code.STATUS_LATE, "f.xlsx", received="02/04/2027", due="31/03/2027")
    with _register_with(workspace, [late_query], late=False) as reg:
        assert standing(workspace, reg)["late"] == 0
        assert not any(e.late for e in expected_returns(workspace, reg))
        reg.db.execute("UPDATE submissions SET late = 1")
        assert standing(workspace, reg)["late"] == 1
        row = next(t for t in status(workspace, reg)["teams"] if t["team_id"] == "EH01")
        assert row["late"] is True
        assert [i["code"] for i in row["issues"]] == ["status.late"]  # still explainable


def test_feedback_marks_come_from_the_issue_place_not_from_its_cell_text(workspace):
    issues = [
        issue(Code.ANSWER_REQUIRED, "f", "Team's details", "C9", "Role"),
        issue(Code.NORMALISE_TRIMMED, "f", "Team's details", "C9", "Role"),
        issue(Code.STATUS_LATE, "f", received="02/04/2027", due="31/03/2027"),
    ]
    with _register_with(workspace, issues, late=True) as reg:
        (sub,) = reg.submissions(workspace.cycle)
    (mark,) = _marks(sub)
    assert (mark.sheet, mark.row, mark.col, mark.severity) == ("Team's details", 9, 3, "error")
    assert mark.message.splitlines()[0] == "'Role' is required. Please fill it in."


# A register as the release before issue 14 made it: issues as JSON in the submission,
# lateness a status.late issue among them, no `late` column and no `issues` table.
OLD_SUBMISSIONS = """
CREATE TABLE files (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, sha256 TEXT, outcome TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '', code TEXT NOT NULL DEFAULT '', seen_at TEXT NOT NULL,
    cycle TEXT NOT NULL DEFAULT '', claimed_team TEXT NOT NULL DEFAULT '',
    claimed_form TEXT NOT NULL DEFAULT '', basis TEXT NOT NULL DEFAULT ''
);
CREATE TABLE submissions (
    id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES files(id),
    sha256 TEXT NOT NULL, file_name TEXT NOT NULL, team_id TEXT NOT NULL, form TEXT NOT NULL,
    form_version TEXT NOT NULL, cycle TEXT NOT NULL, valid INTEGER NOT NULL,
    errors INTEGER NOT NULL, queries INTEGER NOT NULL, document TEXT NOT NULL,
    issues TEXT NOT NULL, received_at TEXT NOT NULL, recorded_at TEXT NOT NULL,
    current INTEGER NOT NULL DEFAULT 0
);
"""
OLD_ISSUES = [
    {
        "code": "answer.required",
        "severity": "error",
        "file": "EH01 audit.xlsx",
        "sheet": "Team's details",
        "cell": "C9",
        "field": "Role",
        "message": "'Role' is required. Please fill it in.",
    },
    {
        "code": "status.late",
        "severity": "query",
        "file": "EH01 audit.xlsx",
        "sheet": "",
        "cell": "",
        "field": "",
        "message": "Received 02/04/2027, after the due date 31/03/2027.",
    },
]


def _old_register(path: Path, cycle: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript(OLD_SUBMISSIONS)
    db.execute(
        "INSERT INTO files VALUES (1, 'EH01 audit.xlsx', 1, 1, ?, 'accepted', '', '', ?, "
        "?, '', '', '')",
        ("ab" * 32, NOW, cycle),
    )
    for sid, issues in ((1, OLD_ISSUES), (2, OLD_ISSUES[:1])):
        db.execute(
            "INSERT INTO submissions VALUES (?, 1, ?, 'EH01 audit.xlsx', ?, 'audit', '1.0', ?, "
            "0, 1, ?, '{}', ?, ?, ?, ?)",
            (sid, "ab" * 32, f"T{sid}", cycle, len(issues) - 1, json.dumps(issues), NOW, NOW, 1),
        )
    db.commit()
    db.close()


def _as_recorded(sub) -> list[dict]:
    return [i.as_json() for i in sub.issues]


def test_an_older_register_is_read_as_it_is_without_being_changed(workspace):
    path = register_path(workspace)
    _old_register(path, workspace.cycle)
    before = path.read_bytes()
    with Register.read_only(path) as reg:
        late, on_time = reg.submissions(workspace.cycle)
        assert (late.late, on_time.late) == (True, False)
        assert _as_recorded(late) == OLD_ISSUES
        assert late.issues[0].place == Place("Team's details", 9, 3)
        assert reg.current_outcomes(workspace.cycle) == {
            ("T1", "audit"): (False, True),
            ("T2", "audit"): (False, False),
        }
    assert path.read_bytes() == before


def test_an_older_register_is_migrated_when_opened_its_issues_moved_into_rows(workspace):
    path = register_path(workspace)
    _old_register(path, workspace.cycle)
    with Register(path) as reg:
        assert [tuple(r) for r in reg.db.execute("SELECT id, issues, late FROM submissions")] == [
            (1, "[]", 1),
            (2, "[]", 0),
        ]
        rows = reg.db.execute("SELECT submission_id, code, sheet, row, col FROM issues")
        assert [tuple(r) for r in rows] == [
            (1, "answer.required", "Team's details", 9, 3),
            (1, "status.late", "", 0, 0),
            (2, "answer.required", "Team's details", 9, 3),
        ]
        late, on_time = reg.submissions(workspace.cycle)
        assert _as_recorded(late) == OLD_ISSUES and _as_recorded(on_time) == OLD_ISSUES[:1]
        assert (late.late, on_time.late) == (True, False)
    with Register(path) as reg:  # opened again: nothing moved twice
        assert reg.db.execute("SELECT COUNT(*) FROM issues").fetchone()[0] == 3


@pytest.mark.parametrize("code", [Code.READ_TRUNCATED, Code.READ_EMPTY, Code.READ_CRASHED])
def test_every_read_problem_has_its_catalogue_code(code):
    from participation_xl.examine import READ_CODES

    assert READ_CODES[code.value.removeprefix("read.")] is code
    assert set(READ_CODES.values()) == {c for c in Code if c.value.startswith("read.")}


def _collect_one(ws, day: dt.datetime, sha: str):
    """Record one accepted return with this file time, through collect's own _submit."""
    from participation_xl.collect import Found, _submit
    from participation_xl.examine import Examined

    found = Found(f"EH01 {sha[:4]}.xlsx", "", 1, int(day.timestamp() * 1e9), "")
    ex = Examined("accepted", identity={**IDENTITY, "cycle": ws.cycle}, document={})
    with Register(register_path(ws)) as reg, reg.transaction():
        file_id = reg.add_file(found.rel, 1, found.mtime_ns, sha, "accepted", "", "", NOW)
        _submit(reg, ws, found, sha, file_id, ex, "2030-01-01T00:00:00+00:00")
        return reg.submission_of_file(file_id)


def test_collect_freezes_lateness_by_the_day_received_against_the_due_date(workspace):
    due = dt.datetime.combine(workspace.due, dt.time(12), dt.UTC)
    on_time = _collect_one(workspace, due, "cd" * 32)
    late = _collect_one(workspace, due + dt.timedelta(days=2), "ef" * 32)
    assert (on_time.late, late.late) == (False, True)
    assert [i.code for i in late.issues] == [Code.STATUS_LATE]  # asked about, too
    assert on_time.issues == []
