"""The command-line contract a coordinator and scripts depend on, through the CLI:
rejected is not missing, -w after the command, typed dates, --return-to, and the small
things a coordinator trips on (names cut with an ellipsis, CSV columns, full paths,
validate outside a workspace, exit status 2 and never a traceback)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import random
import shutil
import sqlite3
import tomllib
from pathlib import Path

import click
import openpyxl
import pytest
from click.testing import CliRunner
from hostile_corpus import edited

from participation_xl import init_workspace
from participation_xl.cli import main
from participation_xl.generate import generate
from participation_xl.pack import META_SHEET
from participation_xl.register import Register
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.status import STATUSES
from participation_xl.workspace import load_workspace, register_path


def cli(*args: str, ws=None):
    """Run the CLI in-process; -w goes after the command's name, as a coordinator types it."""
    argv = list(args)
    if ws is not None:
        argv[1:1] = ["-w", str(ws.root)]
    return CliRunner().invoke(main, argv)


def ok(*args: str, ws=None):
    result = cli(*args, ws=ws)
    assert result.exit_code == 0, result.output
    return result


def _identity(path: Path) -> tuple[str, str]:
    """(team_id, form) of an issued workbook, from its identity (never its file name)."""
    wb = openpyxl.load_workbook(path, read_only=True)
    found = {row[0]: row[1] for row in wb[META_SHEET].iter_rows(values_only=True) if row[0]}
    wb.close()
    return str(found["team_id"]), str(found["form"])


@pytest.fixture
def cycle(workspace):
    """A workspace with the starter roster's workbooks issued: (ws, {(team, form): path})."""
    return workspace, {_identity(p): p for p in generate(workspace)}


def _fill(cycle, team, form, name, seed=1, edit=None) -> Path:
    ws, issued = cycle
    answers = sample_answers(ws.pack.forms[form], random.Random(seed))
    if edit:
        edit(answers)
    return fill_workbook(issued[(team, form)], ws.returns_dir / name, answers, ws.pack.forms[form])


def _tampered(cycle, name: str, source: Path | None = None) -> Path:
    """EH01's audit (as issued, or `source`) with its identity edited to say SW02: the
    signature no longer fits."""
    ws, issued = cycle

    def change(parts: dict[str, bytes]) -> None:
        for part, data in parts.items():  # the identity sheet and the document properties
            parts[part] = data.replace(b">EH01<", b">SW02<")

    target = ws.returns_dir / name
    target.write_bytes(edited((source or issued[("EH01", "audit")]).read_bytes(), change))
    return target


def _status(ws) -> dict:
    return json.loads(ok("status", "--json", ws=ws).output)


def _entry(doc: dict, team: str, form: str) -> dict:
    return next(t for t in doc["teams"] if (t["team_id"], t["form"]) == (team, form))


def _later(path: Path, seconds: int) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 10**9))


# --- rejected is not missing ------------------------------------------------------------


def test_a_teams_only_return_rejected_shows_as_rejected_everywhere(cycle):
    ws, _ = cycle
    _tampered(cycle, "SW02 audit.xlsx")
    ok("collect", ws=ws)

    doc = _status(ws)
    sw02 = _entry(doc, "SW02", "audit")
    assert sw02["status"] == "rejected"
    assert sw02["late"] is False
    assert sw02["file"] == "SW02 audit.xlsx"
    [problem] = sw02["issues"]
    assert problem["severity"] == "error" and problem["file"] == "SW02 audit.xlsx"
    [file] = doc["files"]
    assert file["outcome"] == "rejected" and problem["message"] == file["reason"]
    assert _entry(doc, "EH01", "audit")["status"] == "missing"  # it claims SW02, not EH01
    assert {t["status"] for t in doc["teams"]} <= set(STATUSES)

    table = ok("status", ws=ws).output
    sw02_line = next(line for line in table.splitlines() if line.startswith("SW02 "))
    assert " rejected " in sw02_line and "SW02 audit.xlsx" in sw02_line
    assert file["reason"] in table  # the reason, which says what to do

    book = openpyxl.load_workbook(ws.reports_dir / "register.xlsx")
    sheet = book["Returns"]
    (table_ref,) = sheet.tables.values()
    cells = [[c.value for c in row] for row in sheet[table_ref.ref]]
    rows = [dict(zip(cells[0], row, strict=True)) for row in cells[1:]]
    sw02_row = next(r for r in rows if (r["Team ID"], r["Form"]) == ("SW02", "audit"))
    assert sw02_row["Status"] == "Rejected"
    assert sw02_row["File"] == "SW02 audit.xlsx"
    assert sw02_row["Why rejected"] == file["reason"]
    eh01_row = next(r for r in rows if (r["Team ID"], r["Form"]) == ("EH01", "audit"))
    assert eh01_row["Status"] == "Missing" and eh01_row["Why rejected"] is None

    chasers = _chasers(ws)
    sw02_chase = next(r for r in chasers if (r["team_id"], r["form"]) == ("SW02", "audit"))
    assert sw02_chase["status"] == "rejected"
    assert "No return received" not in sw02_chase["what"]
    assert file["reason"] in sw02_chase["what"] and "SW02 audit.xlsx" in sw02_chase["what"]
    eh01_chase = next(r for r in chasers if (r["team_id"], r["form"]) == ("EH01", "audit"))
    assert eh01_chase["status"] == "missing"


def test_another_cycles_workbook_counts_as_rejected_for_the_team_it_names(cycle, tmp_path):
    ws, _ = cycle
    old = init_workspace(tmp_path / "last-year", ws.council, "2025-26", ws.due.replace(2026))
    shutil.copy(ws.state_dir / "secret.key", old.state_dir / "secret.key")
    last_year = {_identity(p): p for p in generate(old)}
    shutil.copy(last_year[("SW02", "audit")], ws.returns_dir / "SW02.xlsx")
    out = ok("collect", "--no-report", ws=ws).output
    assert "1 rejected" in out.splitlines()[-1]  # the standing, not only the files read
    sw02 = _entry(_status(ws), "SW02", "audit")
    assert sw02["status"] == "rejected" and "2025-26" in sw02["issues"][0]["message"]


def test_a_later_accepted_return_replaces_rejected(cycle):
    ws, _ = cycle
    _tampered(cycle, "first try.xlsx")
    ok("collect", "--no-report", ws=ws)
    assert _entry(_status(ws), "SW02", "audit")["status"] == "rejected"
    _fill(cycle, "SW02", "audit", "second try.xlsx", edit=lambda a: a["about"].pop("role"))
    ok("collect", "--no-report", ws=ws)
    sw02 = _entry(_status(ws), "SW02", "audit")
    assert sw02["status"] == "invalid" and sw02["file"] == "second try.xlsx"
    assert all(i["severity"] in ("error", "query") for i in sw02["issues"])


def test_standing_counts_rejected_apart_and_adds_up(cycle):
    from participation_xl.status import standing

    ws, _ = cycle
    _tampered(cycle, "tampered.xlsx")
    _fill(cycle, "EH01", "audit", "eh01.xlsx")
    ok("collect", "--no-report", ws=ws)
    with Register(register_path(ws)) as reg:
        counts = standing(ws, reg)
    assert (counts["valid"], counts["rejected"], counts["missing"]) == (1, 1, 2)
    assert sum(counts[s] for s in STATUSES) == counts["expected"] == 4


def test_files_keeps_a_file_overwritten_in_the_shared_folder(cycle):
    ws, _ = cycle
    path = _fill(cycle, "EH01", "audit", "EH01.xlsx", seed=1)
    ok("collect", "--no-report", ws=ws)
    first = _status(ws)["files"]
    _fill(cycle, "EH01", "audit", "EH01.xlsx", seed=2)  # the team saves over it
    _later(path, 60)
    ok("collect", "--no-report", ws=ws)
    files = [f for f in _status(ws)["files"] if f["path"] == "EH01.xlsx"]
    assert len(files) == 2 and files[0] == first[0]
    assert files[0]["sha256"] != files[1]["sha256"]
    assert all(set(f) == {"path", "sha256", "outcome", "reason"} for f in files)
    _later(path, 60)  # touched, not changed: the same file, not a third
    ok("collect", "--no-report", ws=ws)
    assert len([f for f in _status(ws)["files"] if f["path"] == "EH01.xlsx"]) == 2


def test_a_file_pending_then_whole_is_one_file(cycle):
    ws, _ = cycle
    path = _fill(cycle, "EH01", "audit", "syncing.xlsx")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # still syncing
    ok("collect", "--no-report", ws=ws)
    assert [f["outcome"] for f in _status(ws)["files"]] == ["pending"]
    path.write_bytes(data)
    _later(path, 5)
    ok("collect", "--no-report", ws=ws)
    assert [f["outcome"] for f in _status(ws)["files"]] == ["accepted"]


def test_late_is_a_key_of_every_team_and_form(cycle, monkeypatch):
    ws, _ = cycle
    path = _fill(cycle, "EH01", "audit", "EH01.xlsx")
    when = dt.datetime.combine(ws.due + dt.timedelta(days=2), dt.time(12), dt.UTC)
    os.utime(path, (when.timestamp(), when.timestamp()))
    # Collected a day later: a file time still ahead of the clock would not be trusted.
    later = (when + dt.timedelta(days=1)).isoformat()
    monkeypatch.setattr("participation_xl.collect._now", lambda: later)
    ok("collect", "--no-report", ws=ws)
    doc = _status(ws)
    assert all(isinstance(t["late"], bool) for t in doc["teams"])
    assert _entry(doc, "EH01", "audit")["late"] is True
    assert _entry(doc, "SW02", "audit")["late"] is False


def test_an_older_register_gains_the_new_columns(workspace):
    path = register_path(workspace)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE files (id INTEGER PRIMARY KEY, path TEXT NOT NULL, size INTEGER NOT NULL,"
        " mtime_ns INTEGER NOT NULL, sha256 TEXT, outcome TEXT NOT NULL, reason TEXT NOT NULL"
        " DEFAULT '', code TEXT NOT NULL DEFAULT '', seen_at TEXT NOT NULL);"
        "INSERT INTO files (path, size, mtime_ns, sha256, outcome, reason, seen_at)"
        " VALUES ('old.xlsx', 1, 1, 'ab', 'rejected', 'Old reason.', '2026-05-01');"
    )
    db.commit()
    db.close()
    doc = _status(workspace)
    assert doc["files"] == [
        {"path": "old.xlsx", "sha256": "ab", "outcome": "rejected", "reason": "Old reason."}
    ]
    with Register(path) as reg:
        columns = {r[1] for r in reg.db.execute("PRAGMA table_info(files)")}
    assert {"cycle", "claimed_team", "claimed_form"} <= columns


# --- -w DIR before or after the command -------------------------------------------------


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield (*prefix, name), cmd
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, (*prefix, name))


@pytest.mark.parametrize("path,cmd", list(_all_commands(main)), ids=lambda x: str(x))
def test_every_command_takes_w_after_its_name(path, cmd):
    assert any(p.name == "workspace" and "-w" in p.opts for p in cmd.params), path


def test_w_after_the_command_names_the_workspace(cycle, tmp_path, monkeypatch):
    ws, _ = cycle
    monkeypatch.chdir(tmp_path)  # not a workspace: only -w can name it
    _fill(cycle, "EH01", "audit", "EH01.xlsx")
    for args in (["generate"], ["collect", "--no-report"], ["report"], ["pack", "check"]):
        ok(*args, ws=ws)
    assert _entry(_status(ws), "EH01", "audit")["status"] == "valid"
    assert ok("export", "--format", "jsonl", ws=ws).output.count("\n") == 1
    before = CliRunner().invoke(main, ["-w", str(ws.root), "status", "--json"]).output
    assert json.loads(before) == _status(ws)
    checked = json.loads(ok("validate", "--json", str(ws.returns_dir / "EH01.xlsx"), ws=ws).output)
    assert [i["code"] for i in checked[0]["issues"] if i["code"] == "identify.unverified"] == []
    made = ok("init", "--council", "C", "--cycle", "2026-27", "--due", "31/03/2027", "-w", "new")
    assert (tmp_path / "new" / "participation.toml").is_file(), made.output


def test_w_after_the_command_wins_over_w_before_it(cycle, tmp_path):
    ws, _ = cycle
    result = CliRunner().invoke(main, ["-w", str(tmp_path), "status", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output


# --- init --return-to and the due date ----------------------------------------------------

RETURN_TO = (
    "the Participation returns folder on the Children's Services SharePoint, "
    "or email participation@council.gov.uk"
)


def test_init_return_to_is_kept_in_participation_toml(tmp_path):
    root = tmp_path / "w"
    ok("init", str(root), "--council", "C", "--cycle", "2026-27", "--due", "31/03/2027",
       "--return-to", RETURN_TO)  # fmt: skip
    with (root / "participation.toml").open("rb") as fh:
        assert tomllib.load(fh)["return_to"] == RETURN_TO
    loaded = load_workspace(root)
    assert loaded.return_to == RETURN_TO and loaded.return_instructions == RETURN_TO


def test_init_without_return_to_names_the_returns_folder(tmp_path):
    root = tmp_path / "w"
    ok("init", str(root), "--council", "C", "--cycle", "2026-27", "--due", "2027-03-31")
    assert "returns" in load_workspace(root).return_instructions


def test_an_over_long_return_to_is_refused_and_nothing_is_made(tmp_path):
    root = tmp_path / "w"
    result = cli("init", str(root), "--council", "C", "--cycle", "2026-27", "--due",
                 "31/03/2027", "--return-to", "x" * 301)  # fmt: skip
    assert result.exit_code == 2 and "--return-to" in result.output
    assert not root.exists()


@pytest.mark.parametrize("typed", ["31/03/2027", "2027-03-31"])
def test_a_due_date_typed_in_participation_toml_day_first_or_iso(workspace, typed):
    cfg = workspace.root / "participation.toml"
    cfg.write_text(cfg.read_text().replace('due = "2027-03-31"', f'due = "{typed}"'))
    assert load_workspace(workspace.root).due == workspace.due
    ok("status", ws=workspace)


def test_a_due_date_before_the_cycle_in_participation_toml_is_exit_2(workspace):
    cfg = workspace.root / "participation.toml"
    cfg.write_text(cfg.read_text().replace('due = "2027-03-31"', 'due = "31/03/2026"'))
    result = cli("status", ws=workspace)
    assert result.exit_code == 2 and "01/04/2026" in result.output


# --- the small things ---------------------------------------------------------------------

LONG_NAME = "The Very Long Named Multi-Agency Safeguarding and Early Help Partnership Team"


def _roster_with_long_name(ws) -> None:
    wb = openpyxl.load_workbook(ws.roster_path)
    sheet = wb["Teams"]
    headers = [c.value for c in sheet[1]]
    sheet.cell(2, headers.index("team_name") + 1).value = LONG_NAME
    wb.save(ws.roster_path)


def test_status_cuts_long_names_with_an_ellipsis(workspace):
    _roster_with_long_name(workspace)
    table = ok("status", ws=workspace).output
    line = next(line for line in table.splitlines() if line.startswith("EH01 "))
    assert LONG_NAME not in line
    shown = line.split("  ")[1]
    assert shown.endswith("…") and len(shown) <= 30 and LONG_NAME.startswith(shown[:-1])
    assert _entry(_status(workspace), "EH01", "audit")["team_name"] == LONG_NAME  # JSON: whole


def test_csv_export_has_team_name_service_area_and_kind(cycle):
    ws, _ = cycle
    _fill(cycle, "ADV1", "six-standards", "ADV1.xlsx")
    ok("collect", "--no-report", ws=ws)
    rows = list(csv.DictReader(io.StringIO(ok("export", "--format", "csv", ws=ws).output)))
    [row] = rows
    roster = {t["team_id"]: t for t in _roster_rows(ws)}["ADV1"]
    assert list(row)[:4] == ["team_id", "team_name", "service_area", "kind"]
    assert (row["team_name"], row["service_area"], row["kind"]) == (
        roster["team_name"],
        roster["service_area"],
        "commissioned",
    )


def _roster_rows(ws) -> list[dict]:
    sheet = openpyxl.load_workbook(ws.roster_path)["Teams"]
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    return [dict(zip(cells[0], row, strict=False)) for row in cells[1:] if row[0]]


def _chasers(ws) -> list[dict]:
    text = (ws.reports_dir / "chasers.csv").read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_chasers_give_the_full_path_of_each_attachment(cycle):
    ws, _ = cycle
    _fill(cycle, "EH01", "audit", "EH01.xlsx", edit=lambda a: a["about"].pop("role"))
    ok("collect", ws=ws)
    [row] = [r for r in _chasers(ws) if r["attach"]]
    attach = Path(row["attach"])
    assert attach.is_absolute() and attach.is_file()
    assert attach.parent == ws.reports_dir / "feedback"


def test_validate_outside_a_workspace_checks_all_but_the_signature(cycle, tmp_path, monkeypatch):
    ws, _ = cycle
    good = _fill(cycle, "EH01", "audit", "good.xlsx")
    bad = _fill(cycle, "SW02", "audit", "bad.xlsx", edit=lambda a: a["about"].pop("role"))
    tampered = _tampered(cycle, "tampered.xlsx", source=good)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    result = CliRunner().invoke(main, ["validate", "--json", str(good), str(tampered)])
    assert result.exit_code == 0, result.output  # a query never makes a file invalid
    for entry in json.loads(result.stdout):
        assert entry["valid"] is True and entry["outcome"] == "accepted"
        assert [i["severity"] for i in entry["issues"] if i["code"] == "identify.unverified"] == [
            "query"
        ]
        assert not any(i["severity"] == "error" for i in entry["issues"])

    invalid = CliRunner().invoke(main, ["validate", "--json", str(bad)])
    assert invalid.exit_code == 1
    [entry] = json.loads(invalid.stdout)
    assert any(i["severity"] == "error" and i["cell"] for i in entry["issues"])

    text = CliRunner().invoke(main, ["validate", str(good)])
    assert text.exit_code == 0 and "signature" in text.output

    # Inside the workspace the signature is checked: the tampered file is rejected.
    inside = CliRunner().invoke(main, ["validate", "--json", "-w", str(ws.root), str(tampered)])
    assert inside.exit_code == 1
    assert json.loads(inside.stdout)[0]["outcome"] == "rejected"


def test_validate_with_w_naming_no_workspace_is_exit_2(cycle, tmp_path):
    _, issued = cycle
    result = cli("validate", str(issued[("EH01", "audit")]), "-w", str(tmp_path))
    assert result.exit_code == 2 and "Traceback" not in result.output


# --- every problem: exit status 2 with a message, never a traceback ---------------------


def _no_traceback(result) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output and result.output.strip()


def test_a_damaged_register_is_exit_2(workspace):
    register_path(workspace).parent.mkdir(parents=True, exist_ok=True)
    register_path(workspace).write_bytes(b"this is not a database at all" * 100)
    for args in (["status"], ["status", "--json"], ["export", "--format", "csv"]):
        _no_traceback(cli(*args, ws=workspace))


def test_an_export_to_a_folder_that_does_not_exist_is_exit_2(workspace, tmp_path):
    _no_traceback(
        cli("export", "--format", "csv", "-o", str(tmp_path / "no" / "x.csv"), ws=workspace)
    )


def test_an_unexpected_error_is_a_message_not_a_traceback(workspace, monkeypatch):
    import participation_xl.api as api_module

    def broken(*_args, **_kwargs):
        raise KeyError("surprise")

    monkeypatch.delenv("PXL_DEBUG", raising=False)
    monkeypatch.setattr(api_module, "status_of", broken)
    result = cli("status", ws=workspace)
    _no_traceback(result)
    assert "KeyError" in result.output


# --- the warnings policy ------------------------------------------------------------------


def test_warnings_fail_the_tests_and_third_party_filters_are_narrow():
    """pyproject.toml: "error" first; any other entry ignores one message of one category
    raised in one named third-party module, never a whole category or everything."""
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    with pyproject.open("rb") as fh:
        filters = tomllib.load(fh)["tool"]["pytest"]["ini_options"]["filterwarnings"]
    assert filters[0] == "error"
    for entry in filters[1:]:
        action, message, category, module, *_ = [*entry.split(":"), "", "", "", ""]
        assert action == "ignore", entry
        assert message.strip() and category.strip() and module.strip(), entry
        assert not module.startswith("participation_xl"), entry  # our own: fix it instead


def test_the_demo_runs_in_the_first_days_of_a_cycle(tmp_path):
    # Ten days before 3 April is before the cycle starts: the due date must not be.
    import datetime as dt

    from participation_xl.demo import run_demo

    result = run_demo(tmp_path / "demo", today=dt.date(2027, 4, 3), libreoffice=False)
    assert result is not None
    assert (tmp_path / "demo" / "reports" / "compliance.xlsx").is_file()
