"""Where every team stands: expected returns against the register's current submissions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from . import explain
from .issued import as_now
from .issues import Issue
from .messages import Code
from .register import FileRecord, Register, Submission
from .review import counts as review_counts
from .review import current_reviews
from .roster import Team, read_roster
from .workspace import Workspace

ISSUE_KEYS = ("code", "file", "sheet", "cell", "field", "message", "severity", "explanation")


STATUSES = ("missing", "rejected", "invalid", "valid")


@dataclass(frozen=True)
class Expected:
    """One return the cycle expects (a team and a form), with its current submission, and
    the latest file rejected for it (which only shows when nothing was accepted)."""

    team: Team
    form: str
    current: Submission | None
    rejected: FileRecord | None = None
    # The team's explanations in force for this return's queries, by (code, sheet, cell).
    explained: Mapping[tuple[str, str, str], str] = field(default_factory=dict)
    # The coordinator's standing decision on the current submission (review.standing), and
    # whether the review lets it count in the figures ([review] require_approval).
    review: Mapping[str, Any] | None = None
    counts: bool = True
    # False: a team issued this workbook this cycle and removed from the roster since. Its
    # return is shown and counted when it comes; a missing one is not expected, and the
    # team is never chased.
    on_roster: bool = True

    @property
    def to_explain(self) -> list[Issue]:
        """The current return's queries with no explanation yet: what still counts against
        a valid return (it is chased, and gets a feedback workbook, until each is
        explained or the answer corrected)."""
        if self.current is None:
            return []
        return explain.unexplained(self.current.issues, self.explained)

    @property
    def sent_back(self) -> bool:
        """The coordinator sent the current return back, with a note (review return)."""
        return (self.review or {}).get("state") == "returned"

    @property
    def queries_open(self) -> list[Issue]:
        """The queries the team is still asked about: none once the coordinator approved
        the return as it is."""
        approved = (self.review or {}).get("state") == "approved"
        return [] if approved else self.to_explain

    @property
    def chased(self) -> bool:
        """Whether the team is chased for this return (chasers.csv, the email drafts and
        the feedback workbooks all follow this one rule): missing, rejected, invalid, sent
        back, or with queries still open. Never a team no longer on the roster."""
        if not self.on_roster:
            return False
        if self.status != "valid":
            return True
        return self.sent_back or bool(self.queries_open)

    @property
    def status(self) -> str:
        """valid or invalid (a return was accepted); rejected (every file the team sent
        for it was refused); or missing (nothing came)."""
        if self.current is None:
            return "rejected" if self.rejected else "missing"
        return "valid" if self.current.valid else "invalid"

    @property
    def late(self) -> bool:
        """True when the current (accepted) return's file time is after the due date, as
        collect judged it when it recorded the return."""
        return self.current is not None and self.current.late

    @property
    def file(self) -> str | None:
        """The current return's file, else the rejected one's."""
        if self.current:
            return self.current.file_name
        return self.rejected.path if self.rejected else None


def expected_returns(ws: Workspace, reg: Register, documents: bool = False) -> list[Expected]:
    """Every team and form the roster expects this cycle, in roster order."""
    found = reg.submissions(ws.cycle, documents=documents)
    if documents:  # an earlier form version's answers under this version's field paths
        found = as_now(ws.pack, found)
    current = {(s.team_id, s.form): s for s in found}
    rejected = reg.rejected_claims(ws.cycle)
    explained = reg.explanations(ws.cycle)
    reviews = current_reviews(reg, ws.cycle)
    out = []
    for team, form, on_roster in _expected(ws, reg, current.keys() | rejected.keys()):
        key = (team.team_id, form)
        review = reviews.get(key)
        out.append(
            Expected(
                team,
                form,
                current.get(key),
                rejected.get(key),
                explained.get(key, {}),
                review,
                review_counts(review, ws.require_approval),
                on_roster,
            )
        )
    return out


def _expected(
    ws: Workspace, reg: Register, arrived: AbstractSet[tuple[str, str]]
) -> Iterator[tuple[Team, str, bool]]:
    """Each team on the roster with each form it is expected to return; then each
    workbook issued this cycle to a team removed from the roster since, only when
    something came back for it (`arrived`: (team, form) of returns and rejected files)."""
    on_roster = set()
    for team in read_roster(ws.roster_path):
        on_roster.add(team.team_id)
        for form in ws.forms_for(team.kind):
            yield team, form, True
    for r in reg.issued(ws.cycle):
        if r.team_id not in on_roster and (r.team_id, r.form) in arrived:
            yield Team(r.team_id, r.team_name, "", r.kind, "", "", ""), r.form, False


def standing(ws: Workspace, reg: Register) -> dict[str, int]:
    """How many expected returns are valid, invalid, rejected, missing and late. From one
    small row per submission, not the submissions themselves: memory stays flat however
    many. valid + invalid + rejected + missing = expected."""
    current = reg.current_outcomes(ws.cycle)
    rejected = reg.rejected_claims(ws.cycle).keys()
    counts = dict.fromkeys((*STATUSES, "late", "expected"), 0)
    for team, form, _ in _expected(ws, reg, current.keys() | rejected):
        key = (team.team_id, form)
        found = current.get(key)
        counts["expected"] += 1
        if found is None:
            counts["rejected" if key in rejected else "missing"] += 1
        else:
            counts["valid" if found[0] else "invalid"] += 1
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
            "late": r.late,
            "file": r.file,
            "review": r.review,
            "issues": [
                {k: i[k] for k in ISSUE_KEYS}
                for i in explain.with_explanations(issues_of(r), r.explained)
            ],
        }
        for r in expected_returns(ws, reg)
    ]
    files = [
        {"path": f.path, "sha256": f.sha256, "outcome": f.outcome, "reason": f.reason}
        for f in reg.files()
    ]
    return {"teams": teams, "files": files}


def issues_of(r: Expected) -> list[Issue]:
    """The current return's issues; for a rejected one, the rejection as its one error,
    with the reason (which says what to do)."""
    if r.current:
        return r.current.issues
    if r.rejected:
        f = r.rejected
        return [Issue(Code(f.code), file=f.path, text=f.reason)]
    return []
