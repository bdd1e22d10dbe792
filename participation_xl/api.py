"""The Python API: every command of the command line, for a coordinator's script.

    from participation_xl import Workspace

    ws = Workspace.open("participation-demo")
    done = ws.collect()  # read the returns, record them, rewrite the reports
    for team in ws.status().teams:
        print(team.team_id, team.form, team.status)

`Workspace` wraps the settings a workspace's participation.toml holds (the internal
`workspace.Workspace`, kept as `.settings`) and offers one method per command. Results are
dataclasses, never printed text; problems are raised as ParticipationError (its subclasses
ConfigError, RosterError, PackError, ReviewError, BusyError, OutputError and
RegisterError), each with a message that says what to fix. The command line (cli.py) only
parses options, calls these and prints what they return.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO, cast

from . import review as _review
from .check import check_pack as _pack_problems
from .cycle import NewCycle
from .cycle import new_cycle as _new_cycle
from .demo import DemoResult, run_demo
from .emails import ISSUE_DIR, write_issue_drafts
from .errors import ExportFormatError, ParticipationError
from .examine import validate_files
from .export import submissions, write_csv, write_jsonl
from .generate import generate as generate_workbooks
from .issued import older as older_issued
from .issues import Issue
from .messages import Code
from .pack import load_pack
from .pipeline import Collected, Written, collect_and_report, rewrite_reports, written_beside
from .rebuild import Rebuilt
from .rebuild import rebuild as _rebuild
from .recovery import backup_register
from .register import Register
from .roster import read_roster
from .status import FileStatus, Review, Status, StatusIssue, TeamStatus, status_of
from .workspace import Workspace as Settings
from .workspace import find_root, init_workspace, load_workspace, register_path, run_lock

Progress = Callable[[int, int], None]  # (files done, files in all), as collect goes
EXPORT_FORMATS = ("jsonl", "csv")


class Writable(Protocol):
    """Where `export` can write: an open text file, io.StringIO, sys.stdout..."""

    def write(self, text: str, /) -> int: ...


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Generated:
    """What `generate` wrote: the workbooks (one folder per team) and any email drafts."""

    workbooks: list[Path]
    outbox: Path
    drafts: list[Path] = field(default_factory=list)
    drafts_dir: Path | None = None  # where the drafts went, when they were asked for
    warnings: list[str] = field(default_factory=list)  # a team no draft could be made for
    # Workbooks teams hold of another version of their form than the pack's now (the
    # latest issued to each team this cycle): (team id, form, form version) each.
    older: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def teams(self) -> int:
        """How many teams workbooks were written for."""
        return len({p.parent for p in self.workbooks})


@dataclass(frozen=True)
class PackCheck:
    """Whether a template pack's layouts, schemas and rules agree (`pack check`)."""

    directory: Path
    name: str
    version: str
    forms: list[str]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Validated:
    """One file as `validate` found it: nothing about it was recorded."""

    file: str
    outcome: str  # accepted | rejected | pending
    valid: bool
    reason: str
    issues: list[Issue]

    @property
    def verdict(self) -> str:
        """valid, invalid (accepted with errors), or the outcome (rejected, pending)."""
        if self.valid:
            return "valid"
        return "invalid" if self.outcome == "accepted" else self.outcome

    def as_json(self) -> dict[str, Any]:
        """The file's entry in `validate --json`."""
        return {
            "file": self.file,
            "outcome": self.outcome,
            "valid": self.valid,
            "reason": self.reason,
            "issues": [i.as_json() for i in self.issues],
        }


@dataclass(frozen=True)
class Validation:
    """Every file `validate` checked; outside a workspace no signature is checked."""

    files: list[Validated]
    signatures_checked: bool

    @property
    def invalid(self) -> list[Validated]:
        return [v for v in self.files if not v.valid]

    def as_json(self) -> list[dict[str, Any]]:
        return [v.as_json() for v in self.files]


@dataclass(frozen=True)
class Exported:
    """How many submissions `export` wrote, and where (None: the stream it was given)."""

    count: int
    output: Path | None


@dataclass(frozen=True)
class Decided:
    """A review decision recorded, and the review now standing on the current return."""

    team_id: str
    form: str
    review: Review | None  # None: no decision stands (an undo took back the last)


# --- the workspace ------------------------------------------------------------------------


class Workspace:
    """A workspace opened for scripting: one method per command of the command line."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings  # participation.toml, loaded and checked

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    @classmethod
    def open(cls, path: str | Path | None = None) -> Workspace:
        """The workspace at `path` (default: the current folder), or the nearest folder
        above it with a participation.toml; ConfigError when there is none."""
        return cls(load_workspace(path))

    @classmethod
    def find(cls, path: str | Path | None = None) -> Workspace | None:
        """Like `open`, but None when there is no workspace here or above."""
        try:
            root = find_root(path)
        except ParticipationError:
            return None
        return cls.open(root)

    @classmethod
    def create(
        cls,
        path: str | Path,
        council: str,
        cycle: str,
        due: dt.date,
        return_to: str = "",
        coordinator: str = "",
    ) -> Workspace:
        """Make a new workspace with a starter roster to fill in (`init`); never writes
        over an existing file."""
        return cls(init_workspace(path, council, cycle, due, return_to, coordinator))

    @property
    def root(self) -> Path:
        return self.settings.root

    @property
    def cycle(self) -> str:
        return self.settings.cycle

    @property
    def due(self) -> dt.date:
        return self.settings.due

    def generate(
        self,
        teams: str | Iterable[str] = (),
        roster: str | Path | None = None,
        emails: bool = False,
        blank: bool = False,
    ) -> Generated:
        """Write the locked workbooks for every team on the roster, or only `teams` (one
        team's id, or several); with `emails`, also one draft email per team, its workbooks
        attached. After a new cycle, each is pre-filled from the team's return of the
        previous cycle, unless `blank`."""
        ws = self.settings
        wanted = [teams] if isinstance(teams, str) else list(teams)
        paths = generate_workbooks(ws, roster, wanted, blank=blank)
        with Register.read_only(register_path(ws)) as reg:
            older = [(r.team_id, r.form, r.form_version) for r in older_issued(ws, reg)]
        if not emails:
            return Generated(paths, ws.outbox, older=older)
        everyone = read_roster(roster or ws.roster_path)
        chosen = [t for t in everyone if not wanted or t.team_id in wanted]
        drafts, warnings = write_issue_drafts(ws, chosen, paths)
        return Generated(paths, ws.outbox, drafts, ws.outbox / ISSUE_DIR, warnings, older)

    def new_cycle(self, cycle: str, due: dt.date) -> NewCycle:
        """Start the next cycle (`new-cycle`): participation.toml's cycle and due date
        change, the finished cycle's outbox/ and reports/ move to cycles/<old cycle>/, and
        the roster, pack, key, settings and register carry over. This object then speaks
        for the new cycle."""
        done = _new_cycle(self.settings, cycle, due)
        self.settings = load_workspace(self.root)
        return done

    def collect(
        self,
        folder: str | Path | None = None,
        recheck: bool = False,
        report: bool = True,
        progress: Progress | None = None,
    ) -> Collected:
        """Read the returns folder (or `folder`), validate and record every new file, then
        rewrite the reports unless `report` is False. With `recheck`, every rejected and
        pending file is examined again. A report that cannot be written leaves the
        collect done and says why in `report_error`."""
        return collect_and_report(self.settings, folder, progress, recheck, report)

    def write_reports(self, today: dt.date | None = None) -> Written:
        """Rewrite every report from the register, with no rescan (`report`)."""
        return rewrite_reports(self.settings, today)

    def status(self) -> Status:
        """Where every team stands, and every file seen (`status`); reads only."""
        with Register.read_only(register_path(self.settings)) as reg:
            return status_of(self.settings, reg)

    def export(
        self,
        fmt: str = "jsonl",
        include_invalid: bool = False,
        output: str | Path | Writable | None = None,
    ) -> Exported:
        """Write the current valid submissions (with `include_invalid`, every current
        one) as `jsonl` (one schema-valid document a line) or `csv` (one row per team
        and form), to a file, a text stream, or standard output."""
        if fmt not in EXPORT_FORMATS:
            raise ExportFormatError.of(
                Code.EXPORT_FORMAT, fmt=repr(fmt), formats=", ".join(EXPORT_FORMATS)
            )
        ws = self.settings
        with Register.read_only(register_path(ws)) as reg:  # export never writes the register
            subs = submissions(ws, reg, include_invalid)
        teams = {t.team_id: t for t in read_roster(ws.roster_path)} if fmt == "csv" else {}

        def write(out: Writable) -> int:
            stream = cast(TextIO, out)  # the writers call only write()
            if fmt == "jsonl":
                return write_jsonl(subs, stream)
            return write_csv(subs, stream, teams=teams)

        if isinstance(output, str | Path):
            target = Path(output)
            with target.open("w", encoding="utf-8", newline="") as fh:
                return Exported(write(fh), target)
        return Exported(write(output or sys.stdout), None)

    def approve(self, team_id: str, form: str, note: str = "") -> Decided:
        """Approve the team's current return of the form."""
        return self._decide("approve", team_id, form, note)

    def send_back(self, team_id: str, form: str, note: str) -> Decided:
        """Send the team's current return back, with a note saying what to change
        (`review return`)."""
        return self._decide("return", team_id, form, note)

    def undo(self, team_id: str, form: str) -> Decided:
        """Take back the latest decision on the team's current return."""
        return self._decide("undo", team_id, form, "")

    def _decide(self, action: str, team_id: str, form: str, note: str) -> Decided:
        ws = self.settings
        # The run lock: a decision never goes into a register that rebuild is moving aside.
        with run_lock(ws), Register(register_path(ws)) as reg:
            now = _review.decide(ws, reg, team_id, form, action, note)
            backup_register(reg, ws.state_dir)  # a decision since the last collect is in a backup
        return Decided(team_id, form, Review.from_json(now))

    def rebuild(self) -> Rebuilt:
        """Rebuild the register from the archive; the old one is kept beside, renamed."""
        return _rebuild(self.settings)

    def validate(self, files: Iterable[str | Path]) -> Validation:
        """Check files against this workspace (signature included), recording nothing."""
        return validate_returns(files, self)

    def check_pack(self) -> PackCheck:
        """Check this workspace's template pack (`pack check -w DIR`)."""
        return check_pack(self.settings.pack_dir)


# --- commands that need no workspace ----------------------------------------------------------


def check_pack(directory: str | Path | None = None) -> PackCheck:
    """Prove that a template pack's layouts, schemas and rules agree (default: the
    built-in pack). PackError when the pack cannot be loaded at all."""
    loaded = load_pack(directory)
    problems = _pack_problems(loaded)
    return PackCheck(loaded.dir, loaded.name, loaded.version, list(loaded.forms), list(problems))


def validate_returns(files: Iterable[str | Path], workspace: Workspace | None = None) -> Validation:
    """Check returns without recording anything. Outside a workspace, each file is checked
    against the built-in pack and everything but its signature is checked."""
    settings = workspace.settings if workspace else None
    results = validate_files(settings, [str(f) for f in files])
    checked = [Validated(p, ex.outcome, ex.valid, ex.reason, ex.issues) for p, ex in results]
    return Validation(checked, signatures_checked=settings is not None)


__all__ = [
    "Collected",
    "Decided",
    "DemoResult",
    "Exported",
    "FileStatus",
    "Generated",
    "NewCycle",
    "PackCheck",
    "Progress",
    "Rebuilt",
    "Review",
    "Status",
    "StatusIssue",
    "TeamStatus",
    "Validated",
    "Validation",
    "Workspace",
    "Writable",
    "Written",
    "check_pack",
    "run_demo",
    "validate_returns",
    "written_beside",
]
