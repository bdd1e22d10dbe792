"""demo: a whole cycle on a built-in sample roster, filled as real teams fill workbooks.

Twelve teams, internal and commissioned. Most return valid workbooks; some are incomplete,
some have wrong types or answers pasted over dropdowns, one is late, one is resubmitted
after a mistake, one never returns, one is saved by LibreOffice (when it is installed), and
the shared folder holds the usual debris (a lock file, a duplicate copy).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, PackError
from .generate import generate, outbox_path
from .messages import Code, render
from .pack import Form
from .pipeline import Collected, collect_and_report
from .roster import Team, read_roster, write_starter_roster
from .sample import fill_explanations, fill_workbook, sample_answers
from .workspace import Workspace, check_free, init_workspace

ROSTER = [
    (
        "EH01",
        "Early Help North",
        "Early Help",
        "internal",
        "",
        "Sam Patel",
        "sam.patel@example.org",
    ),
    (
        "EH02",
        "Early Help South",
        "Early Help",
        "internal",
        "",
        "Chris Lee",
        "chris.lee@example.org",
    ),
    (
        "SW01",
        "Children in Care Team",
        "Social Work",
        "internal",
        "",
        "Alex Jones",
        "alex.jones@example.org",
    ),
    (
        "SW02",
        "Care Leavers Team",
        "Social Work",
        "internal",
        "",
        "Priya Shah",
        "priya.shah@example.org",
    ),
    ("SEND1", "SEND Assessment Team", "SEND", "internal", "", "Dan Evans", "dan.evans@example.org"),
    ("YS01", "Youth Service", "Youth", "internal", "", "Mia Brown", "mia.brown@example.org"),
    (
        "ADV1",
        "Independent Advocacy",
        "Advocacy",
        "commissioned",
        "Off the Record",
        "Jo Smith",
        "jo.smith@example.org",
    ),
    (
        "PART1",
        "Participation Service",
        "Participation",
        "commissioned",
        "Off the Record",
        "Lee Kim",
        "lee.kim@example.org",
    ),
    (
        "CL01",
        "Care Leaver Support",
        "Social Work",
        "commissioned",
        "Next Steps Trust",
        "Ana Silva",
        "ana.silva@example.org",
    ),
    (
        "FS01",
        "Family Support Hub",
        "Early Help",
        "commissioned",
        "Family Links",
        "Tom Hall",
        "tom.hall@example.org",
    ),
    (
        "YC01",
        "Young Carers Project",
        "Youth",
        "commissioned",
        "Carers Centre",
        "Eve Ward",
        "eve.ward@example.org",
    ),
    (
        "MH01",
        "Emotional Wellbeing Service",
        "Health",
        "commissioned",
        "Mind Matters",
        "Raj Gill",
        "raj.gill@example.org",
    ),
]


@dataclass
class DemoResult:
    workspace: Workspace
    summary: Collected
    notes: list[str]


def current_cycle(today: dt.date) -> str:
    start = today.year if today.month >= 4 else today.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def run_demo(
    directory: str | Path,
    today: dt.date | None = None,
    libreoffice: bool = True,
    say: Callable[[str], None] = lambda _: None,
) -> DemoResult:
    """Init, generate, return workbooks as teams would, collect, and write the reports.

    The folder must be new or empty: the demo fills a whole workspace (returns, outbox,
    reports), so anything already there could be written over or mixed into the demo."""
    _check_empty(Path(directory))
    today = today or dt.date.today()
    due = today - dt.timedelta(days=10)  # the due date has passed: late and missing show
    cycle_start = dt.date(int(current_cycle(today)[:4]), 4, 1)
    due = max(due, cycle_start)  # a cycle's due date is never before it starts
    say(f"1. init: a workspace for Example Council, cycle {current_cycle(today)}")
    ws = init_workspace(
        directory,
        "Example Council",
        current_cycle(today),
        due,
        coordinator="Sam Taylor, Participation Coordinator",
    )
    write_starter_roster(ws.roster_path, ROSTER)
    say(f"2. generate: locked workbooks for {len(ROSTER)} teams")
    generate(ws)
    say("3. returns: filled as real teams fill them")
    story = scenario(ws.pack.dir)
    notes = _returns(ws, read_roster(ws.roster_path), random.Random(2026), libreoffice, story)
    say("4. collect and report")
    summary = collect_and_report(ws)
    if _explain(ws, _queried(story)):  # the team explains its query on the feedback workbook
        say("5. collect again: a query explained on its feedback workbook")
        summary = collect_and_report(ws)
    return DemoResult(ws, summary, notes)


def _check_empty(folder: Path) -> None:
    """Refuse a folder that holds anything, before a single file is written."""
    check_free(folder.resolve(), "demo")  # a file in the way, or a lost workspace's key
    try:
        names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    except OSError as err:
        raise ConfigError(
            render(Code.OS_FAILED, path=f"{folder}: ", detail=err.strerror or str(err)),
            Code.OS_FAILED,
        ) from err
    if names:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        raise ConfigError(
            render(Code.WORKSPACE_NOT_EMPTY, path=folder.resolve(), names=shown),
            Code.WORKSPACE_NOT_EMPTY,
        )


PUBLIC_LINE = "Young people can text the forum's public line on 07700 900123 to join."
SCENARIO = Path("workbook_templates", "demo", "scenario.toml")  # in the pack's folder
PUBLIC_EDIT = "public_line"  # the scenario's edit that puts a phone number in (a query)


def scenario(pack_dir: Path) -> dict[str, Any]:
    """The pack's demo story (see the built-in pack's demo/scenario.toml), or a plain one:
    every team returns every form on time, except the last team on the roster."""
    path = pack_dir / SCENARIO
    if path.is_file():
        try:
            with path.open("rb") as fh:
                return tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as err:
            problem = f"it cannot be read as TOML ({err})"
            raise PackError(render(Code.PACK_LAYOUT, path=path, problem=problem),
                            Code.PACK_LAYOUT) from err  # fmt: skip
    teams = [row[0] for row in ROSTER]
    return {
        "returns": [
            {"teams": teams[:-1], "forms": "all", "note": "Valid returns from every team."}
        ],
        "missing_note": f"{teams[-1]} never returned: missing, on the chase list.",
    }


def _explain(ws: Workspace, team_form: tuple[str, str] | None) -> bool:
    """The team returns its feedback workbook with the query explained, a day later."""
    if team_form is None:
        return False
    feedback = ws.reports_dir / "feedback" / f"{team_form[0]}-{team_form[1]}.xlsx"
    if not feedback.is_file():
        return False
    out = ws.returns_dir / f"{team_form[0]} {team_form[1]} explained.xlsx"
    fill_explanations(
        feedback, out, "This is the forum's public text line, run by staff: not a child's number."
    )
    stamp = dt.datetime.combine(ws.due - dt.timedelta(days=2), dt.time(12)).timestamp()
    os.utime(out, (stamp, stamp))
    return True


def _queried(story: dict[str, Any]) -> tuple[str, str] | None:
    """The team and form whose return gets a phone number (and is explained later)."""
    for entry in story.get("returns", []):
        if entry.get("edit") == PUBLIC_EDIT and entry.get("form"):
            return (entry["teams"][0], entry["form"])
    return None


def _returns(
    ws: Workspace, teams: list[Team], rng: random.Random, libreoffice: bool, story: dict[str, Any]
) -> list[str]:
    by_id = {t.team_id: t for t in teams}
    on_time = ws.due - dt.timedelta(days=3)
    days = {"on_time": on_time, "early": on_time - dt.timedelta(days=5),
            "late": ws.due + dt.timedelta(days=3)}  # fmt: skip
    texts = story.get("sample", {})
    notes = []

    def put(team_id: str, form: str, name: str, when: dt.date, edit: str) -> Path:
        answers = sample_answers(ws.pack.forms[form], rng, texts=texts)
        if edit == PUBLIC_EDIT:
            _public_line(ws.pack.forms[form])(answers)
        elif edit:
            _edit(answers, story.get("edits", {}).get(edit, {}))
        issued = outbox_path(ws, by_id[team_id], form)
        path = fill_workbook(issued, ws.returns_dir / name, answers, ws.pack.forms[form])
        stamp = dt.datetime.combine(when, dt.time(12)).timestamp()
        os.utime(path, (stamp, stamp))
        return path

    for entry in story.get("returns", []):
        for team_id in entry["teams"]:
            forms = ws.forms_for(by_id[team_id].kind) if entry.get("forms") else [entry["form"]]
            for form in forms:
                name = entry.get("file") or f"{team_id} {form}.xlsx"
                put(team_id, form, name, days[entry.get("when", "on_time")], entry.get("edit", ""))
        if entry.get("note"):
            notes.append(entry["note"])
    debris = story.get("debris", {})
    if debris.get("copy"):
        shutil.copy(ws.returns_dir / debris["copy"][0], ws.returns_dir / debris["copy"][1])
    if debris.get("lock"):
        (ws.returns_dir / debris["lock"]).write_bytes(b"\x00" * 165)
    if debris.get("note"):
        notes.append(debris["note"])
    if story.get("missing_note"):
        notes.append(story["missing_note"])
    if libreoffice and story.get("libreoffice"):
        notes.append(_libreoffice_copy(ws, *story["libreoffice"]))
    return notes


def _public_line(form: Form) -> Callable[[dict[str, Any]], None]:
    """Put a phone number in the form's first long free-text answer (a query)."""
    spot = next(
        i for i in form.inputs if i.field.kind == "text" and (i.field.max_length or 0) >= 200
    )

    def edit(answers: dict[str, Any]) -> None:
        *parents, key = spot.field.path.split(".")
        node = answers
        for p in parents:
            node = node.setdefault(p, {})
        node[key] = PUBLIC_LINE

    return edit


def _edit(answers: dict[str, Any], change: dict[str, Any]) -> None:
    """One [edits] entry of the scenario: answers blanked, typed over or replaced."""
    for path in change.get("blank", []):
        node, key = _node(answers, path)
        if isinstance(node, dict):
            node.pop(key, None)
    for path, value in [*change.get("set", {}).items(), *change.get("replace", {}).items()]:
        node, key = _node(answers, path)
        if isinstance(node, dict):
            node[key] = value


def _node(answers: dict[str, Any], path: str) -> tuple[Any, str]:
    """The container of a dotted path's last part (a number picks a table row)."""
    *parents, key = path.split(".")
    node: Any = answers
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    return node, key


def _libreoffice_copy(ws: Workspace, team: str, form: str) -> str:
    """Re-save one return through LibreOffice, as a team using it would."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    source = ws.returns_dir / f"{team} {form}.xlsx"
    if not soffice or not source.exists():
        return "LibreOffice is not installed: the LibreOffice-saved return was skipped."
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp, "profile").as_uri()
        try:
            subprocess.run(
                [
                    soffice,
                    f"-env:UserInstallation={profile}",
                    "--headless",
                    "--convert-to",
                    "xlsx:Calc Office Open XML",
                    "--outdir",
                    tmp,
                    str(source),
                ],
                capture_output=True,
                timeout=120,
                check=True,
            )
        except (subprocess.SubprocessError, OSError):
            return "LibreOffice could not convert the sample return; it was skipped."
        stamp = source.stat().st_mtime + 60
        target = ws.returns_dir / f"{team} {form} (saved in LibreOffice).xlsx"
        shutil.move(Path(tmp, source.name), target)
        os.utime(target, (stamp, stamp))
    return f"{team} re-saved its {form} in LibreOffice: collected like any other."
