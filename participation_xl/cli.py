"""The command line: a thin shell over the library. Options in, messages out.

Exit status: 0 when the command did its job, 1 when `validate` found an invalid file,
2 for bad usage or configuration (with a message that says what to fix).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import __version__, api
from .api import Decided, TeamStatus, Workspace
from .errors import ParticipationError, RosterError
from .messages import Code, render
from .terminal import shown
from .workspace import load_workspace, parse_date, register_path


class Failure(click.ClickException):
    """A problem the user can fix: printed plainly, exit status 2."""

    exit_code = 2


# What a command did not do when the roster stopped it (RosterError.describe).
_NOT_DONE = {
    "generate": "nothing was generated",
    "collect": "nothing was collected",
    "status": "no status can be shown until the roster is fixed",
    "report": "no report was written",
    "export": "nothing was exported",
    "validate": "nothing was checked",
}


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every problem into a plain message with exit status 2, never a traceback.

    The library raises ParticipationError with specific messages; OS and SQLite errors
    that reach this far are still named (the file, and what to do), and anything else is
    a bug, reported as one, without a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise  # click's own: usage errors (2), ctx.exit(1), Ctrl-C
        except RosterError as err:
            command = click.get_current_context().info_name or ""
            raise Failure(err.describe(_NOT_DONE.get(command, "the command stopped"))) from err
        except ParticipationError as err:
            raise Failure(str(err)) from err
        except OSError as err:
            raise Failure(os_message(err)) from err
        except sqlite3.DatabaseError as err:
            raise Failure(register_message(err)) from err
        except Exception as err:  # a bug: still a message, never a traceback
            if os.environ.get("PXL_DEBUG"):
                raise  # a developer asked for the traceback
            raise Failure(render(Code.CLI_UNEXPECTED, kind=type(err).__name__, detail=err)) from err

    return wrapper


def os_message(err: OSError) -> str:
    """An OS error as a message that names the file and says what to do."""
    where = f"{err.filename}: " if err.filename else ""
    return render(Code.OS_FAILED, path=where, detail=err.strerror or str(err) or type(err).__name__)


def register_message(err: sqlite3.DatabaseError) -> str:
    """An SQLite error that reached the command line, naming the register file."""
    ctx = click.get_current_context(silent=True)
    try:
        path: Path | str = register_path(
            load_workspace(ctx.obj.get("workspace") if ctx and ctx.obj else None)
        )
    except ParticipationError:  # no workspace to name (the register is always in one)
        path = "the workspace's register"
    code = Code.REGISTER_READ_ONLY if "unable to open" in str(err) else Code.REGISTER_UNUSABLE
    return render(code, path=path, detail=str(err) or type(err).__name__)


def _set_workspace(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    """-w DIR given after a command's name: the same as before it (and wins over it)."""
    if value is not None:
        ctx.ensure_object(dict)
        ctx.find_root().obj["workspace"] = value


WORKSPACE_HELP = "The workspace folder (default: the current folder or the nearest one above it)."


def _workspace_param() -> click.Option:
    return click.Option(
        ["-w", "--workspace"],
        type=click.Path(file_okay=False, path_type=Path),
        metavar="DIR",
        expose_value=False,
        callback=_set_workspace,
        help=WORKSPACE_HELP,
    )


class _Group(click.Group):
    """A group whose every command, and every command of its sub-groups, takes -w DIR
    after its name too (`participation-xl status -w DIR`), as well as before it."""

    group_class = type  # sub-groups (pack) are _Groups too

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not any(p.name == "workspace" for p in cmd.params):
            cmd.params.append(_workspace_param())
        super().add_command(cmd, name)


def _workspace(ctx: click.Context) -> Workspace:
    return Workspace.open(ctx.obj.get("workspace"))


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return parse_date(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="participation-xl")
@click.option(
    "-w",
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help=WORKSPACE_HELP,
)
@click.pass_context
def main(ctx: click.Context, workspace: Path | None) -> None:
    """Locked Excel participation audits for children's services.

    Issue workbooks to every team (generate), collect what comes back (collect), and
    give managers the consolidated picture (report).
    """
    ctx.ensure_object(dict)
    ctx.obj["workspace"] = workspace


@main.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--council", required=True, help="The council's name, shown on every workbook.")
@click.option("--cycle", required=True, help="The cycle: two consecutive years, like 2026-27.")
@click.option(
    "--due",
    required=True,
    metavar="DATE",
    callback=_date,
    help="The due date, day first (31/03/2027) or 2027-03-31; in the cycle (from 1 April).",
)
@click.option(
    "--return-to",
    default="",
    metavar="TEXT",
    help="Where teams return the file, in your words, for the workbook's Instructions "
    "(default: the name of the returns folder).",
)
@click.pass_context
@friendly
def init(
    ctx: click.Context,
    directory: Path | None,
    council: str,
    cycle: str,
    due: dt.date,
    return_to: str,
) -> None:
    """Make a workspace with a starter roster (teams.xlsx) to fill in."""
    target = directory or ctx.obj.get("workspace") or Path.cwd()
    ws = Workspace.create(target, council, cycle, due, return_to).settings
    click.echo(f"Made a workspace for {ws.council}, cycle {ws.cycle}, due {ws.due:%d/%m/%Y}:")
    click.echo(f"  {ws.root}")
    click.echo(f"Teams are told to return their workbooks to {ws.return_instructions}.")
    click.echo(
        f"Next: replace the example teams in {ws.roster_path.name}, then run "
        "'participation-xl generate'."
    )


@main.command()
@click.option(
    "--roster",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A roster file (default: the one participation.toml names).",
)
@click.option(
    "--team", "teams", multiple=True, metavar="ID", help="Only this team (repeat for more)."
)
@click.option(
    "--emails",
    is_flag=True,
    help="Also write one draft email per team (.eml, with its workbooks attached) into "
    "outbox/emails/.",
)
@click.option(
    "--blank",
    is_flag=True,
    help="Empty workbooks: after new-cycle, do not pre-fill last year's answers.",
)
@click.pass_context
@friendly
def generate(
    ctx: click.Context, roster: Path | None, teams: tuple[str, ...], emails: bool, blank: bool
) -> None:
    """Write the locked workbooks for every team on the roster into outbox/."""
    done = _workspace(ctx).generate(teams, roster, emails, blank)
    click.echo(
        f"Wrote {len(done.workbooks)} workbook(s) for {done.teams} team(s) in {done.outbox}."
    )
    if done.older:
        held = ", ".join(shown(f"{t} ({f} version {v})") for t, f, v in done.older)
        click.echo(render(Code.GENERATE_OLDER_VERSION, count=len(done.older), held=held))
    if not emails:
        click.echo("Send each team the workbooks in its folder.")
        return
    for warning in done.warnings:
        click.echo(f"Warning: {warning}", err=True)
    click.echo(
        f"Wrote {len(done.drafts)} draft email(s) in {done.drafts_dir}: open each in Outlook "
        "or Thunderbird, check it and send it."
    )


@main.command("new-cycle")
@click.argument("cycle")
@click.option(
    "--due",
    required=True,
    metavar="DATE",
    callback=_date,
    help="The new cycle's due date, day first (31/03/2028) or 2028-03-31; in the cycle.",
)
@click.pass_context
@friendly
def new_cycle(ctx: click.Context, cycle: str, due: dt.date) -> None:
    """Start the next cycle (like 2027-28) in this workspace: same roster, pack, key,
    settings and register; last cycle's outbox and reports move to cycles/<its name>/."""
    done = _workspace(ctx).new_cycle(cycle, due)
    click.echo(f"Started cycle {done.cycle}, due {done.due:%d/%m/%Y} (was {done.previous}).")
    click.echo(f"Cycle {done.previous}'s outbox and reports are kept in {done.kept_in}.")
    click.echo(
        "Next: 'participation-xl generate' writes workbooks pre-filled from each team's "
        "last return ('--blank' for empty ones)."
    )


@main.group()
def pack() -> None:
    """Work with the template pack (schemas and layouts)."""


@pack.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
@friendly
def pack_check(ctx: click.Context, directory: Path | None) -> None:
    """Prove that every layout agrees with its schema.

    DIRECTORY is a template pack; by default, the workspace's pack when -w names a
    workspace, else the built-in pack.
    """
    if directory is None and ctx.obj.get("workspace"):
        checked = _workspace(ctx).check_pack()
    else:
        checked = api.check_pack(directory)
    for p in checked.problems:
        click.echo(f"  - {p}", err=True)
    if not checked.ok:
        raise Failure(
            render(Code.PACK_CHECK_FAILED, directory=checked.directory, count=len(checked.problems))
        )
    click.echo(
        f"{checked.name} {checked.version}: {len(checked.forms)} form(s), layouts and schemas "
        "agree."
    )


@main.command()
@click.argument(
    "folder", required=False, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--no-report", is_flag=True, help="Record the returns but do not rewrite the reports."
)
@click.option(
    "--recheck",
    is_flag=True,
    help="Examine every rejected and pending file again (rejected ones from the archive).",
)
@click.pass_context
@friendly
def collect(ctx: click.Context, folder: Path | None, no_report: bool, recheck: bool) -> None:
    """Read the returns, validate them, record them, then write the reports.

    FOLDER defaults to the workspace's returns folder. It is only ever read. Files
    rejected for a reason in the workspace (roster, pack, key, cycle, settings) are
    examined again by themselves when that changes.
    """
    ws = _workspace(ctx)
    progress = _progress if sys.stderr.isatty() else None  # quiet when piped or logged
    summary = ws.collect(folder, recheck=recheck, report=not no_report, progress=progress)
    if progress:
        click.echo(err=True)
    for warning in summary.warnings:
        click.echo(f"Warning: {warning}", err=True)
    for path, outcome, reason in summary.reasons:
        if outcome in ("rejected", "pending"):
            click.echo(f"  {outcome}: {shown(path)}: {shown(reason)}")
    seen = summary.seen
    new = sum(seen.values())
    click.echo(
        f"Read {new} new file(s): {seen['accepted']} accepted, {seen['rejected']} rejected, "
        f"{seen['duplicate']} duplicate, {seen['ignored']} ignored, {seen['pending']} pending."
    )
    again = summary.again
    if again:
        click.echo(
            f"Examined {sum(again.values())} earlier rejected file(s) again: "
            f"{again['accepted']} now accepted, {again['rejected']} still rejected."
        )
    click.echo(f"Cycle {ws.cycle}: {_standing_text(summary.standing)}")
    _say_written(summary.reports)
    if summary.report_error:  # every return is recorded; only the reports are behind
        raise Failure(summary.report_error)


def _standing_text(st: dict[str, int]) -> str:
    return (
        f"{st['expected']} returns expected; {st['valid']} valid, {st['invalid']} invalid, "
        f"{st['rejected']} rejected, {st['missing']} missing; {st['late']} late."
    )


def _say_written(paths: list[Path]) -> None:
    for path in paths:
        if api.written_beside(path):
            click.echo(
                f"Note: the usual file was locked (open in Excel?), so this was written "
                f"beside it instead: {path}"
            )
        else:
            click.echo(f"Wrote {path}")


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    click.echo(
        f"\rReading returns [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
        nl=False,
        err=True,
    )


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_context
@friendly
def validate(ctx: click.Context, files: tuple[str, ...], as_json: bool) -> None:
    """Check returns without recording anything; exit status 1 if any is invalid.

    Outside a workspace it checks everything but the signature (which only the
    workspace's secret can check), against the built-in pack, and says so.
    """
    # The workspace -w names (which must be one), else the one here or above, if any.
    ws = _workspace(ctx) if ctx.obj.get("workspace") else Workspace.find()
    if ws is None and not as_json:
        click.echo(render(Code.VALIDATE_NO_WORKSPACE), err=True)
    checked = api.validate_returns(files, ws)
    if as_json:
        click.echo(json.dumps(checked.as_json(), indent=2, ensure_ascii=False))
    else:
        for v in checked.files:
            reason = f": {shown(v.reason)}" if v.reason else ""
            click.echo(f"{shown(v.file)}: {v.verdict}{reason}")
            for i in v.issues:
                where = f"{shown(i.place.shown())}: " if i.place.cell else ""
                click.echo(f"  {i.severity}: {where}{shown(i.message)}")
    if checked.invalid:
        ctx.exit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON (see the README).")
@click.pass_context
@friendly
def status(ctx: click.Context, as_json: bool) -> None:
    """Where every team stands: missing, rejected, invalid or valid, and late."""
    now = _workspace(ctx).status()  # status never writes anything
    if as_json:
        click.echo(json.dumps(now.as_json(), indent=2, ensure_ascii=False))
        return
    rows = [tuple(map(shown, _status_row(t))) for t in now.teams]
    head = ("team", "name", "form", "status", "errors", "queries", "late", "review", "file")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    rejected = [t for t in now.teams if t.status == "rejected"]
    if rejected:
        click.echo("\nRejected (the team sent a file that could not be accepted):")
    for t in rejected:
        where = f"{t.team_id} {t.form}: {t.file}: {t.rejected_reason}"
        click.echo(f"  {shown(where)}")


NAME_WIDTH = 30


def shorten(text: str, width: int = NAME_WIDTH) -> str:
    """Text cut to `width` characters, ending in an ellipsis when it was cut."""
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _status_word(t: TeamStatus) -> str:
    """The status, and for a valid return the queries still to explain (which keep it on
    the chasers list until each is explained or corrected)."""
    n = t.to_explain
    return f"{t.status}, {n} quer{'y' if n == 1 else 'ies'} to explain" if n else t.status


def _status_row(t: TeamStatus) -> tuple[str, ...]:
    counts = (str(t.errors), str(t.queries)) if t.returned else ("", "")
    late = "late" if t.late else ""
    review = t.review
    decided = f"{review.word.lower()} by {shorten(review.by, 20)}" if review else ""
    return (
        t.team_id,
        shorten(t.team_name),
        t.form,
        _status_word(t),
        *counts,
        late,
        decided,
        t.file or "",
    )


@main.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    required=True,
    help="jsonl: one schema-valid document per line; csv: one row per team and form.",
)
@click.option("--all", "include_invalid", is_flag=True, help="Include invalid submissions too.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@click.pass_context
@friendly
def export(ctx: click.Context, fmt: str, include_invalid: bool, output: Path | None) -> None:
    """Export the current submissions for Power BI, a data warehouse or Excel."""
    ws = _workspace(ctx)
    if output:
        done = ws.export(fmt, include_invalid, output)
        click.echo(render(Code.EXPORT_WROTE, count=done.count, output=output), err=True)
    else:
        with _Echo() as out:
            ws.export(fmt, include_invalid, out)


class _Echo:
    """A text stream over click.echo (standard output, as click resolves it), in chunks.
    click 8.5 deprecates click.get_text_stream; echo is the way it keeps."""

    CHUNK = 1 << 16

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> int:
        self.parts.append(text)
        self.size += len(text)
        if self.size >= self.CHUNK:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self.parts:
            # color=True: write the text exactly, never stripped of escape sequences.
            click.echo("".join(self.parts), nl=False, color=True)
        self.parts, self.size = [], 0

    def __enter__(self) -> _Echo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()


@main.group()
def review() -> None:
    """Record your decision on a team's current return: approve it, send it back, or undo.

    Each decision is kept with your name (coordinator in participation.toml, else your
    login name), the time and the note, and applies to the return it was made on: a newer
    return from the team starts undecided. You can also decide in reports/review.xlsx.
    """


def _say_decided(done: Decided) -> None:
    now, team, form = done.review, done.team_id, done.form
    if now is None:
        click.echo(f"{team} {form}: no decision stands on the current return now.")
    else:
        said = f": {' '.join(now.note.split())}" if now.note else ""
        click.echo(f"{team} {form}: {now.word.lower()} by {now.by}{said}")
    click.echo("Run 'participation-xl report' to update the reports and email drafts.")


@review.command("approve")
@click.argument("team", metavar="TEAM")
@click.argument("form", metavar="FORM")
@click.option("--note", default="", metavar="TEXT", help="A note kept with the approval.")
@click.pass_context
@friendly
def review_approve(ctx: click.Context, team: str, form: str, note: str) -> None:
    """Approve TEAM's current return of FORM (for example: review approve EH01 audit)."""
    _say_decided(_workspace(ctx).approve(team, form, note))


@review.command("return")
@click.argument("team", metavar="TEAM")
@click.argument("form", metavar="FORM")
@click.option(
    "--note",
    required=True,
    metavar="TEXT",
    help="What the team should change; it goes in its feedback workbook and email draft.",
)
@click.pass_context
@friendly
def review_return(ctx: click.Context, team: str, form: str, note: str) -> None:
    """Send TEAM's current return of FORM back, with a note saying what to change."""
    _say_decided(_workspace(ctx).send_back(team, form, note))


@review.command("undo")
@click.argument("team", metavar="TEAM")
@click.argument("form", metavar="FORM")
@click.pass_context
@friendly
def review_undo(ctx: click.Context, team: str, form: str) -> None:
    """Take back the latest decision on TEAM's current return of FORM (it stays in the
    history, with the undo)."""
    _say_decided(_workspace(ctx).undo(team, form))


@main.command()
@click.pass_context
@friendly
def report(ctx: click.Context) -> None:
    """Rewrite every report from the register, with no rescan of the returns."""
    done = _workspace(ctx).write_reports()
    for warning in done.warnings:
        click.echo(f"Warning: {warning}", err=True)
    _say_written(done.paths)


@main.command()
@click.pass_context
@friendly
def rebuild(ctx: click.Context) -> None:
    """Rebuild the register from the archive, when it is lost or damaged.

    Every archived file is examined again with its original path, file time and the
    moment collect first saw it. The old register, if any, is kept beside, renamed.
    """
    done = _workspace(ctx).rebuild()
    if done.set_aside:
        click.echo(f"Kept the old register as {done.set_aside}")
    for warning in done.warnings:
        click.echo(f"Warning: {warning}", err=True)
    click.echo(
        f"Rebuilt the register from the archive: {done.files} file(s) from {done.runs} "
        "collect run(s). Run 'participation-xl report' to rewrite the reports from it."
    )


@main.command()
@click.argument(
    "directory",
    required=False,
    default="participation-demo",
    type=click.Path(file_okay=False, path_type=Path),
)
@click.pass_context
@friendly
def demo(ctx: click.Context, directory: Path) -> None:
    """Run a whole cycle on a built-in sample roster of 12 teams, into DIRECTORY.

    init, generate, returns filled as real teams fill them (valid, incomplete, wrong,
    late, resubmitted, missing, saved by LibreOffice), collect, and the reports.
    DIRECTORY defaults to -w DIR if given, else participation-demo.
    """
    source = ctx.get_parameter_source("directory")
    if source is click.core.ParameterSource.DEFAULT and ctx.obj.get("workspace"):
        directory = ctx.obj["workspace"]
    result = api.run_demo(directory, say=click.echo)
    for note in result.notes:
        click.echo(f"   - {note}")
    click.echo(f"\nCycle {result.workspace.cycle}: {_standing_text(result.summary.standing)}")
    root = result.workspace.root
    click.echo(f"\nThe workspace is {root}")
    click.echo("Open first:")
    click.echo(f"  {root / 'reports' / 'compliance.xlsx'}   the managers' dashboard and RAG matrix")
    click.echo(f"  {root / 'reports' / 'register.xlsx'}     every return, answer and issue")
    click.echo(f"  {root / 'reports' / 'feedback'}          workbooks to send back to teams to fix")
    click.echo(f"  {root / 'reports' / 'chasers.csv'}       the mail-merge list for chasing")
    click.echo(
        f"  {root / 'reports' / 'emails'}            draft chaser emails, workbooks attached"
    )
    click.echo(f"  {root / 'reports' / 'review.xlsx'}       approve or send back each return")
    click.echo(f"  {root / 'outbox'}                      the workbooks issued to each team")
    click.echo(f"Then try: participation-xl -w {directory} status")
    if result.summary.report_error:
        raise Failure(result.summary.report_error)
