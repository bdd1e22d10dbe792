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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .generate import generate, outbox_path
from .messages import render
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
    notes = _returns(ws, read_roster(ws.roster_path), random.Random(2026), libreoffice)
    say("4. collect and report")
    summary = collect_and_report(ws)
    if _explain(ws, QUERIED):  # the team explains its query on the feedback workbook
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
            render("os.failed", path=f"{folder}: ", detail=err.strerror or str(err)), "os.failed"
        ) from err
    if names:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        raise ConfigError(
            render("workspace.not_empty", path=folder.resolve(), names=shown), "workspace.not_empty"
        )


QUERIED = ("CL01", "audit")  # the team that gives a public phone number, then explains it
PUBLIC_LINE = "Young people can text the forum's public line on 07700 900123 to join."


def _explain(ws: Workspace, team_form: tuple[str, str]) -> bool:
    """The team returns its feedback workbook with the query explained, a day later."""
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


def _returns(ws: Workspace, teams: list[Team], rng: random.Random, libreoffice: bool) -> list[str]:
    by_id = {t.team_id: t for t in teams}
    on_time = ws.due - dt.timedelta(days=3)
    notes = []

    def put(
        team_id: str,
        form: str,
        name: str,
        when: dt.date,
        edit: Callable[[dict[str, Any]], None] | None = None,
    ) -> Path:
        answers = sample_answers(ws.pack.forms[form], rng)
        if edit:
            edit(answers)
        issued = outbox_path(ws, by_id[team_id], form)
        path = fill_workbook(issued, ws.returns_dir / name, answers, ws.pack.forms[form])
        stamp = dt.datetime.combine(when, dt.time(12)).timestamp()
        os.utime(path, (stamp, stamp))
        return path

    for team_id in ("EH01", "EH02", "SW01", "SEND1", "PART1", "CL01", "FS01"):
        for form in ws.forms_for(by_id[team_id].kind):
            put(team_id, form, f"{team_id} {form}.xlsx", on_time)
    notes.append("Valid returns from seven teams.")
    put(*QUERIED, f"{' '.join(QUERIED)}.xlsx", on_time, _public_line(ws.pack.forms[QUERIED[1]]))
    notes.append(
        f"{QUERIED[0]} gave a public phone number in its {QUERIED[1]}: a query; it explained "
        "it on its feedback workbook and returned that: the query is explained."
    )
    put("SW02", "audit", "Care Leavers audit FINAL.xlsx", on_time, _incomplete)
    notes.append("SW02 left required answers blank: invalid, with a feedback workbook.")
    put("ADV1", "audit", "advocacy audit.xlsx", on_time)
    put("ADV1", "six-standards", "ADV1 six standards.xlsx", on_time, _wrong_types)
    notes.append("ADV1 typed text into a number, an impossible date and a pasted rating: invalid.")
    put("MH01", "audit", "MH01 audit.xlsx", ws.due + dt.timedelta(days=3))
    put("MH01", "six-standards", "MH01 six-standards.xlsx", ws.due + dt.timedelta(days=3))
    notes.append("MH01 returned after the due date: late.")
    put("YC01", "audit", "young carers audit.xlsx", on_time)
    put(
        "YC01",
        "six-standards",
        "YC01 six-standards.xlsx",
        on_time - dt.timedelta(days=5),
        _not_met_without_action,
    )
    put("YC01", "six-standards", "YC01 six-standards v2.xlsx", on_time)
    notes.append(
        "YC01 sent a Six Standards review with gaps, then a corrected one: the newer is current."
    )
    shutil.copy(ws.returns_dir / "EH01 audit.xlsx", ws.returns_dir / "EH01 audit (1).xlsx")
    (ws.returns_dir / "~$EH02 audit.xlsx").write_bytes(b"\x00" * 165)
    notes.append("Debris: a duplicate copy and an Office lock file, recorded and set aside.")
    notes.append("YS01 never returned its audit: missing, on the chase list.")
    if libreoffice:
        notes.append(_libreoffice_copy(ws, "SW01", "audit"))
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


def _incomplete(answers: dict[str, Any]) -> None:
    answers["about"].pop("role")
    answers["impact"].pop("tell_children")
    answers["you_said_we_did"][0].pop("we_did")


def _wrong_types(answers: dict[str, Any]) -> None:
    answers["budget"]["participation_budget"] = "about two thousand"
    answers["contract"]["contract_start"] = "31/02/2026"
    answers["standards"]["budget"]["rating"] = "Mostly"


def _not_met_without_action(answers: dict[str, Any]) -> None:
    answers["standards"]["budget"] = {"rating": "Not met"}


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
    return f"{team} re-saved its audit in LibreOffice: collected like any other."
