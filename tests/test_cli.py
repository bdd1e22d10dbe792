"""The command line, driven through CliRunner: init, generate, and every roster error."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from participation_xl.cli import main
from participation_xl.workspace import load_workspace

HEADER = "team_id,team_name,service_area,kind,provider,contact_name,contact_email"
GOOD = "T1,Early Help,Early Help,internal,,Sam,sam@example.org"


def run(*args: str, cwd: Path | None = None):
    runner = CliRunner()
    if cwd:
        args = ("-w", str(cwd), *args)
    return runner.invoke(main, list(args))


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    result = run(
        "init",
        str(tmp_path / "ws"),
        "--council",
        "Test Council",
        "--cycle",
        "2026-27",
        "--due",
        "2027-03-31",
    )
    assert result.exit_code == 0, result.output
    return tmp_path / "ws"


def test_init_makes_a_workspace_with_secret_and_starter_roster(ws):
    assert (ws / "participation.toml").is_file()
    assert (ws / "teams.xlsx").is_file()
    secret = ws / ".participation" / "secret.key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(bytes.fromhex(secret.read_text().strip())) == 32
    loaded = load_workspace(ws)
    assert (loaded.council, loaded.cycle, str(loaded.due)) == (
        "Test Council",
        "2026-27",
        "2027-03-31",
    )


def test_init_refuses_to_overwrite_a_workspace(ws):
    before = (ws / ".participation" / "secret.key").read_bytes()
    result = run("init", str(ws), "--council", "Other", "--cycle", "2026-27", "--due", "2027-03-31")
    assert result.exit_code == 2
    assert "already there" in result.output and "participation.toml" in result.output
    assert (ws / ".participation" / "secret.key").read_bytes() == before


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--cycle", "2026-28", "--due", "2027-03-31"], "two consecutive years"),
        (["--cycle", "2026-27", "--due", "31/02/2027"], "31/02/2027"),
        (["--cycle", "2026-27", "--due", "next week"], "31/03/2027"),
        (["--cycle", "2026-27", "--due", "2027/03/31"], "2027/03/31"),
        (["--cycle", "2026-27", "--due", "31/03/2026"], "01/04/2026"),  # before the cycle
        (["--cycle", "2026-27", "--due", "2026-03-31"], "01/04/2026"),
    ],
)
def test_init_rejects_bad_values_with_exit_2(tmp_path, args, needle):
    result = run("init", str(tmp_path / "w"), "--council", "C", *args)
    assert result.exit_code == 2
    assert needle in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "w" / "participation.toml").exists()


@pytest.mark.parametrize("typed", ["31/03/2027", "31-03-2027", "31.03.2027", "2027-03-31"])
def test_init_takes_the_due_date_day_first_or_iso(tmp_path, typed):
    result = run(
        "init", str(tmp_path / "w"), "--council", "C", "--cycle", "2026-27", "--due", typed
    )
    assert result.exit_code == 0, result.output
    assert load_workspace(tmp_path / "w").due == dt.date(2027, 3, 31)


def test_init_takes_the_first_day_of_the_cycle_as_due(tmp_path):
    args = ("--council", "C", "--cycle", "2026-27", "--due", "1/4/2026")
    assert run("init", str(tmp_path / "w"), *args).exit_code == 0


def test_init_then_generate_writes_the_starter_rosters_workbooks(ws):
    result = run("generate", cwd=ws)
    assert result.exit_code == 0, result.output
    assert "Wrote 4 workbook(s) for 3 team(s)" in result.output
    assert len(list((ws / "outbox").glob("*/*.xlsx"))) == 4


def test_generate_one_team(ws):
    result = run("generate", "--team", "ADV1", cwd=ws)
    assert result.exit_code == 0, result.output
    from participation_xl.generate import issued_form

    issued = [issued_form(load_workspace(ws), p) for p in (ws / "outbox").glob("*/*.xlsx")]
    assert sorted(issued) == [("ADV1", "audit"), ("ADV1", "six-standards")]


def test_generate_unknown_team_is_exit_2(ws):
    result = run("generate", "--team", "NOPE", cwd=ws)
    assert result.exit_code == 2
    assert "NOPE" in result.output


def test_commands_outside_a_workspace_say_how_to_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["generate"])
    assert result.exit_code == 2
    assert "participation-xl init" in result.output


def _roster(ws: Path, *lines: str) -> Path:
    path = ws / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "lines,needles",
    [
        (
            (HEADER, GOOD, "T1,Other,Area,internal,,Al,al@example.org"),
            ["Row 3, column team_id: 'T1' is used by row 2 too"],
        ),
        (
            (HEADER, "T2,Team,Area,external,,Al,al@example.org"),
            ["Row 2, column kind: 'external' is not one of the options", "internal, commissioned"],
        ),
        ((HEADER, "T3,Team,Area,internal,,Al,not-an-email"), ["Row 2, column contact_email:"]),
        (
            (
                "team_id,team_name,kind,provider,contact_name,contact_email",
                "T4,Team,internal,,Al,a@b.org",
            ),
            ["Column 'service_area' is missing"],
        ),
        ((HEADER, "T5,Team,Area,commissioned,,Al,al@example.org"), ["Row 2, column provider:"]),
        ((HEADER,), ["no teams"]),
    ],
)
def test_roster_errors_name_row_and_column_and_generate_nothing(ws, lines, needles):
    roster = _roster(ws, *lines)
    result = run("generate", "--roster", str(roster), cwd=ws)
    assert result.exit_code == 2, result.output
    for needle in needles:
        assert needle in result.output
    assert "nothing was generated" in result.output
    assert not list((ws / "outbox").glob("*/*.xlsx"))


def test_every_roster_problem_is_listed_at_once(ws):
    roster = _roster(ws, HEADER, "T1,A,B,bad,,C,d@e.org", "T1,A,B,internal,,C,nope")
    result = run("generate", "--roster", str(roster), cwd=ws)
    assert result.output.count("  - ") == 3


def test_a_roster_that_is_not_a_spreadsheet_is_reported(ws):
    path = ws / "teams.xlsx"
    path.write_bytes(b"this is not a zip")
    result = run("generate", cwd=ws)
    assert result.exit_code == 2
    assert "cannot be read" in result.output


def test_bad_config_is_exit_2_with_what_to_fix(ws):
    cfg = ws / "participation.toml"
    cfg.write_text(cfg.read_text().replace('due = "2027-03-31"', 'due = "soon"'))
    result = run("generate", cwd=ws)
    assert result.exit_code == 2
    assert "due" in result.output and "Fix the file" in result.output


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield (*prefix, name), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))


@pytest.mark.parametrize(
    "path,cmd", list(_commands(main)), ids=lambda x: " ".join(x) if isinstance(x, tuple) else ""
)
def test_every_command_and_option_has_help(path, cmd):
    assert cmd.help, path
    for param in cmd.params:
        if isinstance(param, click.Option):
            assert param.help, (path, param.name)
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "participation_xl", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ},
    )
    assert result.returncode == 0
    assert "generate" in result.stdout


def test_openpyxl_uses_defusedxml_and_start_up_insists_on_it():
    import openpyxl.xml

    from participation_xl import require_defusedxml

    assert openpyxl.xml.DEFUSEDXML is True
    require_defusedxml(True)
    with pytest.raises(ImportError, match="defusedxml"):
        require_defusedxml(False)
