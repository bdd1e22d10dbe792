"""The coordinator's review: approve a return, send it back with a note, or undo.

Every decision is a row in an append-only table of the register (`reviews`), with who made
it, when and the note. Nothing is ever updated or deleted: undo is a row too, and the
standing decision is worked out by replaying the rows. A decision belongs to the submission
it was made on (its id and SHA-256), so a newer submission starts with no review.
"""

from __future__ import annotations

import datetime as dt
import getpass
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ReviewError
from .messages import Code, render
from .register import Register
from .roster import read_roster
from .workspace import Workspace

ACTIONS = ("approve", "return", "undo")
STATE_OF = {"approve": "approved", "return": "returned"}
WORD_OF = {"approved": "Approved", "returned": "Sent back"}
NOTE_LIMIT = 2000  # a note is a sentence or a short list, not a letter

TABLE = """
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY,
    cycle TEXT NOT NULL,
    team_id TEXT NOT NULL,
    form TEXT NOT NULL,
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    sha256 TEXT NOT NULL,          -- the submission's file, so the decision names its bytes
    action TEXT NOT NULL,          -- approve | return | undo
    note TEXT NOT NULL DEFAULT '',
    decided_by TEXT NOT NULL,
    decided_at TEXT NOT NULL,      -- ISO, UTC
    source TEXT NOT NULL DEFAULT 'command'   -- command | workbook
)
"""


@dataclass(frozen=True)
class Decision:
    """One row of the history: what was done to which submission, by whom, when."""

    submission_id: int
    action: str
    note: str
    by: str
    at: str
    source: str

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "note": self.note or None,
            "by": self.by,
            "at": self.at,
            "source": self.source,
        }


def ensure_table(reg: Register) -> None:
    """Create the history table in a register that lacks it (outside a transaction)."""
    reg.db.execute(TABLE)


def _has_table(reg: Register) -> bool:
    row = reg.db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'reviews'"
    ).fetchone()
    return row is not None


def coordinator_name(ws: Workspace) -> str:
    """participation.toml's `coordinator`, else the login name."""
    if ws.coordinator:
        return ws.coordinator
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):  # no login name (a container, a service)
        return "unknown"


# --- the standing decision ----------------------------------------------------------------


def standing(history: list[Decision]) -> dict[str, Any] | None:
    """The review the history leaves: each undo takes back the latest decision still
    standing, so approve, return, undo leaves the approval. None when nothing stands."""
    stack: list[Decision] = []
    for d in history:
        if d.action == "undo":
            if stack:
                stack.pop()
        else:
            stack.append(d)
    if not stack:
        return None
    top = stack[-1]
    return {
        "state": STATE_OF[top.action],
        "note": top.note or None,
        "by": top.by,
        "at": top.at,
        "history": [d.as_json() for d in history],
    }


def current_reviews(reg: Register, cycle: str) -> dict[tuple[str, str], dict[str, Any] | None]:
    """(team, form) -> the standing review of each current submission (None: not reviewed,
    or every decision undone). Decisions on earlier submissions do not carry over."""
    if not _has_table(reg):
        return {}
    rows = reg.db.execute(
        "SELECT s.team_id, s.form, r.submission_id, r.action, r.note, r.decided_by, "
        "r.decided_at, r.source FROM reviews AS r JOIN submissions AS s "
        "ON s.id = r.submission_id WHERE s.cycle = ? AND s.current = 1 ORDER BY r.id",
        (cycle,),
    )
    by_key: dict[tuple[str, str], list[Decision]] = {}
    for r in rows:
        by_key.setdefault((r[0], r[1]), []).append(Decision(*r[2:]))
    return {key: standing(history) for key, history in by_key.items()}


def state_of(review: Mapping[str, Any] | None) -> str | None:
    return review["state"] if review else None


def word(review: dict[str, Any] | None) -> str:
    """The decision as a word for a table: Approved, Sent back, or blank."""
    state = state_of(review)
    return WORD_OF[state] if state else ""


# --- what a decision changes ----------------------------------------------------------------


def counts(review: Mapping[str, Any] | None, require_approval: bool) -> bool:
    """Whether the review lets a return count in the compliance figures: always, unless
    participation.toml's [review] require_approval is on; then only once approved."""
    return not require_approval or state_of(review) == "approved"


def sent_back(review: Mapping[str, Any] | None) -> bool:
    return state_of(review) == "returned"


def feedback_note(review: Mapping[str, Any] | None) -> str:
    """The coordinator's note for a feedback workbook, when the return was sent back."""
    if not sent_back(review):
        return ""
    assert review is not None
    return str(review["note"] or "")


# --- making a decision --------------------------------------------------------------------


def decide(
    ws: Workspace,
    reg: Register,
    team_id: str,
    form: str,
    action: str,
    note: str = "",
    by: str | None = None,
    source: str = "command",
    submission_id: int | None = None,
) -> dict[str, Any] | None:
    """Record a decision on a team's current return of a form (or on `submission_id`, an
    earlier one, when a workbook decision was typed before a newer return came). Returns
    the review now standing on the current return."""
    if action not in ACTIONS:
        raise ValueError(action)
    ensure_table(reg)
    _check_expected(ws, team_id, form, reg)
    note = (note or "").strip()
    if action == "return" and not note:
        raise ReviewError(Code.REVIEW_NOTE_REQUIRED, render(Code.REVIEW_NOTE_REQUIRED))
    if len(note) > NOTE_LIMIT:
        raise ReviewError(
            Code.REVIEW_NOTE_TOO_LONG,
            render(Code.REVIEW_NOTE_TOO_LONG, length=len(note), limit=NOTE_LIMIT),
        )
    with reg.transaction():
        current = _current(reg, ws.cycle, team_id, form)
        if current is None:
            raise ReviewError(
                Code.REVIEW_NO_SUBMISSION,
                render(Code.REVIEW_NO_SUBMISSION, team=team_id, form=form),
            )
        target = (submission_id, _sha(reg, submission_id)) if submission_id else current
        if action == "undo" and standing(_history(reg, target[0])) is None:
            raise ReviewError(
                Code.REVIEW_NOTHING_TO_UNDO,
                render(Code.REVIEW_NOTHING_TO_UNDO, team=team_id, form=form),
            )
        reg.db.execute(
            "INSERT INTO reviews (cycle, team_id, form, submission_id, sha256, action, note, "
            "decided_by, decided_at, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ws.cycle,
                team_id,
                form,
                target[0],
                target[1],
                action,
                note,
                by or coordinator_name(ws),
                dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
                source,
            ),
        )
        return standing(_history(reg, current[0]))


def _check_expected(ws: Workspace, team_id: str, form: str, reg: Register) -> None:
    team = next((t for t in read_roster(ws.roster_path) if t.team_id == team_id), None)
    if team is None and any(r.team_id == team_id and r.form == form for r in reg.issued(ws.cycle)):
        return  # removed from the roster after issue: its return may still be reviewed
    if team is None:
        raise ReviewError(Code.REVIEW_UNKNOWN_TEAM, render(Code.REVIEW_UNKNOWN_TEAM, team=team_id))
    forms = ws.forms_for(team.kind)
    if form not in forms:
        raise ReviewError(
            Code.REVIEW_UNKNOWN_FORM,
            render(Code.REVIEW_UNKNOWN_FORM, team=team_id, form=form, forms=", ".join(forms)),
        )


def _current(reg: Register, cycle: str, team_id: str, form: str) -> tuple[int, str] | None:
    row = reg.db.execute(
        "SELECT id, sha256 FROM submissions WHERE cycle = ? AND team_id = ? AND form = ? "
        "AND current = 1",
        (cycle, team_id, form),
    ).fetchone()
    return (int(row[0]), str(row[1])) if row else None


def _sha(reg: Register, submission_id: int) -> str:
    row = reg.db.execute("SELECT sha256 FROM submissions WHERE id = ?", (submission_id,)).fetchone()
    return str(row[0]) if row else ""


def _history(reg: Register, submission_id: int) -> list[Decision]:
    try:
        rows = reg.db.execute(
            "SELECT submission_id, action, note, decided_by, decided_at, source FROM reviews "
            "WHERE submission_id = ? ORDER BY id",
            (submission_id,),
        )
    except sqlite3.OperationalError:  # no table yet: no history
        return []
    return [Decision(*r) for r in rows]


def history_of(reg: Register, submission_id: int) -> list[Decision]:
    """Every decision ever made on one submission, oldest first."""
    return _history(reg, submission_id)
