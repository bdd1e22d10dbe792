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
from .review import WORD_OF, current_reviews
from .review import counts as review_counts
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


@dataclass(frozen=True)
class StatusIssue:
    """One issue of a team's return, as `status` gives it: the Issue itself, and the
    team's explanation of a query, if it gave one. Words are made only in `as_json`."""

    issue: Issue
    explanation: str | None

    @property
    def code(self) -> Code:
        return self.issue.code

    @property
    def severity(self) -> str:  # error | query
        return self.issue.severity.value

    @property
    def message(self) -> str:
        return self.issue.message

    def as_json(self) -> dict[str, Any]:
        found = {**self.issue.as_json(), "explanation": self.explanation}
        return {k: found[k] for k in ISSUE_KEYS}

    @property
    def to_explain(self) -> bool:
        """A query the team is asked to explain (or correct), with no explanation yet."""
        return explain.to_explain(self.issue) and self.explanation is None


@dataclass(frozen=True)
class Review:
    """The coordinator's decision standing on a team's current return."""

    state: str  # approved | returned
    note: str | None
    by: str
    at: str  # ISO time, UTC
    history: list[dict[str, Any]]  # every decision on the return, undos included

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Review | None:
        return cls(**data) if data else None

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "note": self.note,
            "by": self.by,
            "at": self.at,
            "history": self.history,
        }

    @property
    def word(self) -> str:
        """Approved, or Sent back."""
        return WORD_OF[self.state]


@dataclass(frozen=True)
class TeamStatus:
    """Where one team stands on one form: an entry of `status --json`'s `teams`."""

    team_id: str
    team_name: str
    form: str
    status: str  # missing | rejected | invalid | valid
    late: bool
    file: str | None
    review: Review | None
    issues: list[StatusIssue]

    @classmethod
    def of(cls, r: Expected) -> TeamStatus:
        issues = [StatusIssue(i, explain.explanation_of(i, r.explained)) for i in issues_of(r)]
        t = r.team
        review = Review.from_json(r.review)
        return cls(t.team_id, t.team_name, r.form, r.status, r.late, r.file, review, issues)

    def as_json(self) -> dict[str, Any]:
        return {
            "team_id": self.team_id,
            "team_name": self.team_name,
            "form": self.form,
            "status": self.status,
            "late": self.late,
            "file": self.file,
            "review": self.review.as_json() if self.review else None,
            "issues": [i.as_json() for i in self.issues],
        }

    @property
    def returned(self) -> bool:
        """A return was accepted (valid or invalid): it has errors and queries to count."""
        return self.status in ("valid", "invalid")

    @property
    def errors(self) -> int | None:
        """The current return's errors; None when no return was accepted."""
        return sum(i.severity == "error" for i in self.issues) if self.returned else None

    @property
    def queries(self) -> int | None:
        """The current return's queries; None when no return was accepted."""
        return sum(i.severity != "error" for i in self.issues) if self.returned else None

    @property
    def to_explain(self) -> int:
        """A valid return's queries still to explain (they keep it on the chasers list)."""
        return sum(i.to_explain for i in self.issues) if self.status == "valid" else 0

    @property
    def rejected_reason(self) -> str:
        """Why the team's latest file was refused, when nothing of it was accepted."""
        return self.issues[0].message if self.status == "rejected" and self.issues else ""


@dataclass(frozen=True)
class FileStatus:
    """A file collect has seen: an entry of `status --json`'s `files`."""

    path: str
    sha256: str | None
    outcome: str  # accepted | rejected | duplicate | ignored | pending
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "outcome": self.outcome,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Status:
    """Where every team stands, and every file ever seen (`status --json`, typed)."""

    teams: list[TeamStatus]
    files: list[FileStatus]

    def as_json(self) -> dict[str, list[dict[str, Any]]]:
        """The document `status --json` prints."""
        return {
            "teams": [t.as_json() for t in self.teams],
            "files": [f.as_json() for f in self.files],
        }

    def team(self, team_id: str, form: str) -> TeamStatus | None:
        return next((t for t in self.teams if (t.team_id, t.form) == (team_id, form)), None)


def status_of(ws: Workspace, reg: Register) -> Status:
    """Where every team stands on every form it is expected to return, and every file
    ever seen: `status`, typed (the Python API gives it; the CLI prints it)."""
    teams = [TeamStatus.of(r) for r in expected_returns(ws, reg)]
    files = [FileStatus(f.path, f.sha256, f.outcome, f.reason) for f in reg.files()]
    return Status(teams, files)


def status(ws: Workspace, reg: Register) -> dict[str, list[dict[str, Any]]]:
    """The `status --json` document: one entry per team and form, one per file ever seen."""
    return status_of(ws, reg).as_json()


def issues_of(r: Expected) -> list[Issue]:
    """The current return's issues; for a rejected one, the rejection as its one error,
    with the reason (which says what to do)."""
    if r.current:
        return r.current.issues
    if r.rejected:
        f = r.rejected
        return [Issue(Code(f.code), file=f.path, text=f.reason)]
    return []
