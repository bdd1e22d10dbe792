"""Where every team stands: expected returns against the register's current submissions."""

from __future__ import annotations

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
    return [
        Expected(team, form, current.get((team.team_id, form)))
        for team in read_roster(ws.roster_path)
        for form in ws.forms_for(team.kind)
    ]


def standing(ws: Workspace, reg: Register) -> dict[str, int]:
    rows = expected_returns(ws, reg)
    counts = {k: sum(r.status == k for r in rows) for k in ("valid", "invalid", "missing")}
    counts["late"] = sum(r.late for r in rows)
    counts["expected"] = len(rows)
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
