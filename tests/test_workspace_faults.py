"""No setting, key, folder or fault loses a coordinator's file or ends in a traceback.

Issue 13, the workspace half: items 1 (init and demo never write over anything), 5 (the
key), 8 (tracebacks become messages; reports all together or not at all; read-only
status and export), 10 (messages that blame the right party) and 13c (ids in capitals).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import random
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from participation_xl.cli import main
from participation_xl.collect import collect
from participation_xl.errors import ConfigError, OutputError
from participation_xl.generate import generate, issued_form
from participation_xl.pipeline import collect_and_report
from participation_xl.report import write_reports
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.workspace import init_workspace, load_workspace, register_path

INIT = ["--council", "Test Council", "--cycle", "2026-27", "--due", "2027-03-31"]


def run(*args: str, ws: Path | None = None):
    if ws is not None:
        args = ("-w", str(ws), *args)
    return CliRunner().invoke(main, list(args))


def _tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` with its SHA-256: what 'nothing was written' compares."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _no_traceback(result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


# --- 1. init and demo never write over anything -------------------------------------------


@pytest.mark.parametrize(
    "existing",
    ["teams.xlsx", "participation.toml", ".participation/secret.key", "reports", "outbox"],
)
def test_init_refuses_a_folder_holding_a_file_it_would_write(tmp_path, existing):
    root = tmp_path / "ws"
    if existing == ".participation/secret.key":
        (root / ".participation").mkdir(parents=True)
        (root / existing).write_text("ab" * 32)
        (root / "participation.toml").write_text("# the coordinator's own\n")
    else:
        root.mkdir()
        (root / existing).write_text("the coordinator's own\n")  # a file where init writes
    before = _tree(root)
    result = run("init", str(root), *INIT)
    assert result.exit_code == 2, result.output
    _no_traceback(result)
    assert existing in result.output and "Nothing was written" in result.output
    assert _tree(root) == before
    # No folder was made either (outbox, returns, reports, .participation).
    assert {p.name for p in root.iterdir()} <= {Path(existing).parts[0], "participation.toml"}


def test_init_refuses_every_file_it_would_write_at_once(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "teams.xlsx").write_bytes(b"my roster")
    (root / "participation.toml").write_text("# mine\n")
    result = run("init", str(root), *INIT)
    assert result.exit_code == 2
    assert "teams.xlsx" in result.output and "participation.toml" in result.output
    assert (root / "teams.xlsx").read_bytes() == b"my roster"


def test_init_into_a_folder_with_a_key_but_no_settings_says_so(tmp_path):
    root = tmp_path / "ws"
    (root / ".participation").mkdir(parents=True)
    key = root / ".participation" / "secret.key"
    key.write_text(os.urandom(32).hex())
    before = _tree(root)
    with pytest.raises(ConfigError) as caught:
        init_workspace(root, "C", "2026-27", dt.date(2027, 3, 31))
    assert caught.value.code == "workspace.orphan_key"
    result = run("init", str(root), *INIT)
    assert result.exit_code == 2
    _no_traceback(result)
    assert "participation.toml" in result.output and "backup" in result.output
    assert _tree(root) == before


def test_init_refuses_a_link_named_like_its_roster_even_to_nothing(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "teams.xlsx").symlink_to(tmp_path / "on-the-share" / "teams.xlsx")  # not there yet
    result = run("init", str(root), *INIT)
    assert result.exit_code == 2
    assert (root / "teams.xlsx").is_symlink() and not (root / "participation.toml").exists()


def test_init_keeps_a_teams_csv_and_still_works(tmp_path):
    # A roster kept as teams.csv is not written over: init only ever adds teams.xlsx.
    root = tmp_path / "ws"
    root.mkdir()
    (root / "teams.csv").write_text("mine\n")
    assert run("init", str(root), *INIT).exit_code == 0
    assert (root / "teams.csv").read_text() == "mine\n"


@pytest.mark.parametrize("existing", ["teams.xlsx", "notes.txt", "returns/EH01 audit.xlsx"])
def test_demo_refuses_a_folder_that_is_not_empty(tmp_path, existing):
    root = tmp_path / "demo"
    (root / existing).parent.mkdir(parents=True, exist_ok=True)
    (root / existing).write_bytes(b"the coordinator's own")
    before = _tree(root)
    result = run("demo", str(root))
    assert result.exit_code == 2, result.output
    _no_traceback(result)
    assert Path(existing).parts[0] in result.output and "Nothing was written" in result.output
    assert _tree(root) == before


def test_demo_with_w_refuses_an_existing_workspace(tmp_path):
    root = tmp_path / "ws"
    assert run("init", str(root), *INIT).exit_code == 0
    before = _tree(root)
    result = run("demo", ws=root)
    assert result.exit_code == 2
    assert _tree(root) == before


# --- 5. the key is at least 32 random bytes ---------------------------------------------


def _key_path(ws: Path) -> Path:
    return ws / ".participation" / "secret.key"


BAD_KEYS = {
    "empty": lambda p: p.write_text(""),
    "one_byte": lambda p: p.write_text("ab\n"),
    "short": lambda p: p.write_text(os.urandom(16).hex()),
    "not_hex": lambda p: p.write_text("not a key at all, but long enough " * 3),
    "repeated": lambda p: p.write_text("00" * 32),
    "missing": lambda p: p.unlink(),
    "unreadable": lambda p: (p.unlink(), p.mkdir()),  # a folder: cannot be read, even by root
}


@pytest.fixture
def issued_ws(tmp_path) -> Path:
    root = tmp_path / "ws"
    assert run("init", str(root), *INIT).exit_code == 0
    assert run("generate", ws=root).exit_code == 0
    return root


@pytest.mark.parametrize("damage", sorted(BAD_KEYS))
def test_a_key_that_is_not_32_random_bytes_is_missing_or_damaged(tmp_path, damage):
    ws = init_workspace(tmp_path / "ws", "C", "2026-27", dt.date(2027, 3, 31))
    BAD_KEYS[damage](_key_path(ws.root))
    with pytest.raises(ConfigError) as caught:
        _ = load_workspace(ws.root).secret
    assert caught.value.code == "key.damaged"
    assert str(_key_path(ws.root)) in str(caught.value)


@pytest.mark.parametrize("command", [["generate"], ["collect"], ["report"], ["validate", "X"]])
@pytest.mark.parametrize("damage", ["empty", "one_byte", "short", "unreadable"])
def test_every_command_that_needs_the_key_refuses_a_damaged_one(issued_ws, command, damage):
    BAD_KEYS[damage](_key_path(issued_ws))
    if command[0] == "validate":
        command = ["validate", str(next((issued_ws / "outbox").rglob("*.xlsx")))]
    result = run(*command, ws=issued_ws)
    assert result.exit_code == 2, result.output
    _no_traceback(result)
    assert "missing or damaged" in result.output and "backup" in result.output


def test_a_good_key_of_more_than_32_bytes_is_taken(tmp_path):
    ws = init_workspace(tmp_path / "ws", "C", "2026-27", dt.date(2027, 3, 31))
    key = os.urandom(48)
    _key_path(ws.root).write_text(key.hex() + "\n")
    assert load_workspace(ws.root).secret == key


# --- 8. a damaged register: a message naming it, on every command --------------------------


@pytest.fixture
def collected(tmp_path) -> Path:
    """A workspace with two returns collected and the reports written."""
    ws = init_workspace(tmp_path / "ws", "C", "2026-27", dt.date(2027, 3, 31))
    issued = {issued_form(ws, p): p for p in generate(ws)}
    for n, (team, form) in enumerate(sorted(issued)[:2]):
        answers = sample_answers(ws.pack.forms[form], random.Random(n))
        out = ws.returns_dir / f"{team} {form}.xlsx"
        fill_workbook(issued[(team, form)], out, answers, ws.pack.forms[form])
    collect_and_report(ws)
    return ws.root


@pytest.mark.parametrize(
    "command",
    [["status"], ["status", "--json"], ["collect"], ["report"], ["export", "--format", "csv"]],
)
def test_a_corrupt_register_is_a_message_naming_it(collected, command):
    reg = collected / ".participation" / "register.sqlite"
    for extra in ("-wal", "-shm"):
        Path(f"{reg}{extra}").unlink(missing_ok=True)
    reg.write_bytes(b"this is not a database, it was damaged by a bad disk " * 200)
    result = run(*command, ws=collected)
    assert result.exit_code == 2, result.output
    _no_traceback(result)
    assert "register.sqlite" in result.output
    assert "backup" in result.output


# --- 8. outputs in the way: message, exit 2, summary still printed, reports all or nothing ---


def _reports(root: Path) -> dict[str, str]:
    return _tree(root / "reports")


def _make_new_return(root: Path) -> None:
    ws = load_workspace(root)
    issued = {issued_form(ws, p): p for p in (root / "outbox").rglob("*.xlsx")}
    team, form = sorted(issued)[-1]
    answers = sample_answers(ws.pack.forms[form], random.Random(99))
    fill_workbook(
        issued[(team, form)], ws.returns_dir / "late one.xlsx", answers, ws.pack.forms[form]
    )


OBSTACLES = {
    "reports_is_a_file": ("reports", "output.is_a_file"),
    "feedback_is_a_file": ("reports/feedback", "output.is_a_file"),
    "register_xlsx_is_a_folder": ("reports/register.xlsx", "output.is_a_folder"),
    "chasers_csv_is_a_folder": ("reports/chasers.csv", "output.is_a_folder"),
}


def _put_obstacle(root: Path, case: str) -> Path:
    rel, _code = OBSTACLES[case]
    target = root / rel
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)
    if case.endswith("folder"):
        target.mkdir()
        (target / "keep.txt").write_text("mine")
    else:
        target.write_text("mine")
    return target


@pytest.mark.parametrize("case", sorted(OBSTACLES))
def test_collect_with_reports_in_the_way_records_prints_and_exits_2(collected, case):
    target = _put_obstacle(collected, case)
    before = _tree(collected / "reports") if (collected / "reports").is_dir() else {}
    _make_new_return(collected)
    result = run("collect", ws=collected)
    assert result.exit_code == 2, result.output
    _no_traceback(result)
    assert "Read 1 new file(s): 1 accepted" in result.output  # the summary, still printed
    assert str(target) in result.output and "participation-xl report" in result.output
    after = _tree(collected / "reports") if (collected / "reports").is_dir() else {}
    assert after == before  # no report changed, and no temporary file left behind
    # The register did record the return: status shows it.
    status = run("status", "--json", ws=collected)
    assert status.exit_code == 0 and "late one.xlsx" in status.output


@pytest.mark.parametrize("case", sorted(OBSTACLES))
def test_report_with_an_output_in_the_way_is_a_message(collected, case):
    _put_obstacle(collected, case)
    with pytest.raises(OutputError) as caught:
        write_reports(load_workspace(collected))
    assert caught.value.code == OBSTACLES[case][1]
    result = run("report", ws=collected)
    assert result.exit_code == 2
    _no_traceback(result)


def test_reports_are_replaced_all_together_or_not_at_all(collected, monkeypatch):
    """The last report fails to go in place: every report is as it was, nothing left over."""
    from participation_xl import outputs

    before = _reports(collected)
    _make_new_return(collected)
    collect(load_workspace(collected))
    real = outputs._replace

    def fail_on_chasers(tmp: str, path: Path) -> Path:
        if path.name == "chasers.csv":
            raise OSError(28, "No space left on device", str(path))
        return real(tmp, path)

    monkeypatch.setattr(outputs, "_replace", fail_on_chasers)
    with pytest.raises(OutputError) as caught:
        write_reports(load_workspace(collected))
    assert caught.value.code == "output.failed" and "chasers.csv" in str(caught.value)
    assert _reports(collected) == before
    monkeypatch.setattr(outputs, "_replace", real)
    write_reports(load_workspace(collected))
    after = _reports(collected)
    assert after.keys() >= {"register.xlsx", "compliance.xlsx", "chasers.csv"}
    assert after["register.xlsx"] != before["register.xlsx"]


def test_a_read_only_reports_folder_is_a_message(collected, monkeypatch):
    """No write permission in reports/ (simulated: the tests may run as root)."""
    from participation_xl import outputs

    before = _reports(collected)
    real = outputs.tempfile.mkstemp

    def read_only(*args, **kwargs):
        if Path(kwargs["dir"]).resolve().is_relative_to((collected / "reports").resolve()):
            raise PermissionError(13, "Permission denied", str(kwargs["dir"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(outputs.tempfile, "mkstemp", read_only)
    _make_new_return(collected)
    result = run("collect", ws=collected)
    assert result.exit_code == 2, result.output
    assert "Read 1 new file(s)" in result.output and "Permission denied" in result.output
    assert _reports(collected) == before


# --- 8. status and export for a user who may read the workspace but not write it ----------


@contextlib.contextmanager
def _without_write_access(root: Path) -> Iterator[None]:
    """Run as someone who may read the workspace but not write it: as root (whom file
    modes do not stop) by becoming `nobody` for a while; otherwise by making it read-only."""
    if os.geteuid() == 0:
        os.setegid(65534)
        os.seteuid(65534)
        try:
            yield
        finally:
            os.seteuid(0)
            os.setegid(0)
        return
    folders = [root, root / ".participation"]
    for f in folders:
        f.chmod(0o555)
    try:
        yield
    finally:
        for f in folders:
            f.chmod(0o755)


@pytest.fixture
def shared_readable() -> Iterator[Path]:
    """A folder others may read (tmp_path's parents are private to the test's user)."""
    base = Path(tempfile.mkdtemp(prefix="pxl-readonly-"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize(
    "command", [["status"], ["status", "--json"], ["export", "--format", "jsonl"]]
)
def test_status_and_export_work_without_write_access(shared_readable, command):
    ws = init_workspace(shared_readable / "ws", "C", "2026-27", dt.date(2027, 3, 31))
    issued = {issued_form(ws, p): p for p in generate(ws)}
    team, form = sorted(issued)[0]
    answers = sample_answers(ws.pack.forms[form], random.Random(1))
    fill_workbook(issued[(team, form)], ws.returns_dir / "r.xlsx", answers, ws.pack.forms[form])
    collect(ws)
    for path in ws.root.rglob("*"):  # readable by all, as a shared workspace would be
        path.chmod(0o755 if path.is_dir() else 0o644)
    before = _tree(ws.root)
    with _without_write_access(ws.root):
        result = run(*command, ws=ws.root)
    assert result.exit_code == 0, result.output
    assert team in result.output
    assert _tree(ws.root) == before  # nothing written: not even a journal


def test_status_before_any_collect_writes_nothing(tmp_path):
    ws = init_workspace(tmp_path / "ws", "C", "2026-27", dt.date(2027, 3, 31))
    result = run("status", ws=ws.root)
    assert result.exit_code == 0, result.output
    assert "missing" in result.output
    assert not register_path(ws).exists()


def test_an_unreadable_register_is_a_message_saying_who_can_help(collected):
    reg = collected / ".participation" / "register.sqlite"
    for extra in ("-wal", "-shm"):
        Path(f"{reg}{extra}").unlink(missing_ok=True)
    reg.unlink()
    reg.mkdir()  # a folder where the register should be: it cannot be opened at all
    result = run("status", ws=collected)
    assert result.exit_code == 2, result.output
    _no_traceback(result)
    assert "register.sqlite" in result.output


def test_a_generic_sqlite_error_still_names_the_register(collected, monkeypatch):
    from participation_xl import api

    def broken(*_args, **_kwargs):
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(api, "status_of", broken)
    result = run("status", "--json", ws=collected)
    assert result.exit_code == 2
    assert str(collected / ".participation" / "register.sqlite") in result.output


def test_an_os_error_names_the_file_and_what_to_do(collected, monkeypatch):
    from participation_xl import api

    def broken(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied", "/some/where/teams.xlsx")

    monkeypatch.setattr(api, "generate_workbooks", broken)
    result = run("generate", ws=collected)
    assert result.exit_code == 2
    assert "/some/where/teams.xlsx: Permission denied" in result.output
    assert "try again" in result.output


def test_an_empty_register_file_is_named_not_read_as_nothing_collected(collected):
    reg = collected / ".participation" / "register.sqlite"
    for extra in ("-wal", "-shm"):
        Path(f"{reg}{extra}").unlink(missing_ok=True)
    reg.write_bytes(b"")
    result = run("status", ws=collected)
    assert result.exit_code == 2, result.output
    assert "register.sqlite" in result.output and "backup" in result.output
