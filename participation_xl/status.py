"""Where every team stands: expected returns against the register's current submissions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .register import Register, Submission
from .roster import Team, read_roster
from .workspace import Workspace

ISSUE_KEYS = ("file", "sheet", "cell", "field", "message", "severity")


@dataclass(frozen=True)
class Expected:
    """One return the cycle expects (a team and a form), with its current submission."""

    team: Team
    form: str
    current: Submission | None

    @property
    def status(self) -> str:
        if self.current is None:
            return "missing"
        return "valid" if self.current.valid else "invalid"

    @property
    def late(self) -> bool:
        return bool(self.current) and any(i["code"] == "status.late" for i in self.current.issues)


def expected_returns(ws: Workspace, reg: Register, documents: bool = False) -> list[Expected]:
    """Every team and form the roster expects this cycle, in roster order."""
    current = {(s.team_id, s.form): s for s in reg.submissions(ws.cycle, documents=documents)}
    return [Expected(team, form, current.get((team.team_id, form))) for team, form in _expected(ws)]


def _expected(ws: Workspace) -> Iterator[tuple[Team, str]]:
    """Each team on the roster with each form it is expected to return."""
    for team in read_roster(ws.roster_path):
        for form in ws.forms_for(team.kind):
            yield team, form


def standing(ws: Workspace, reg: Register) -> dict[str, int]:
    """How many expected returns are valid, invalid, missing and late. From one small row
    per submission, not the submissions themselves: memory stays flat however many."""
    current = reg.current_outcomes(ws.cycle)
    counts = dict.fromkeys(("valid", "invalid", "missing", "late", "expected"), 0)
    for team, form in _expected(ws):
        found = current.get((team.team_id, form))
        counts["expected"] += 1
        counts["missing" if found is None else "valid" if found[0] else "invalid"] += 1
        counts["late"] += bool(found and found[1])
    return counts


def status(ws: Workspace, reg: Register) -> dict[str, list[dict[str, Any]]]:
    """The `status --json` document: one entry per team and form, one per file ever seen."""
    teams = [
        {
            "team_id": r.team.team_id,
            "team_name": r.team.team_name,
            "form": r.form,
            "status": r.status,
            "file": r.current.file_name if r.current else None,
            "issues": [
                {k: i[k] for k in ISSUE_KEYS} for i in (r.current.issues if r.current else [])
            ],
        }
        for r in expected_returns(ws, reg)
    ]
    files = [
        {"path": f.path, "sha256": f.sha256, "outcome": f.outcome, "reason": f.reason}
        for f in reg.files()
    ]
    return {"teams": teams, "files": files}
