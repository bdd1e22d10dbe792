"""Issue 13, collect and register half: no folder, file name, setting or fault loses a
return, hangs collect, or blames the wrong party. One test per thing the issue reproduced."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import shutil
import signal
import socket
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

import participation_xl.archive as archive_module
import participation_xl.collect as collect_module
from participation_xl.cli import main
from participation_xl.collect import collect
from participation_xl.register import Register
from participation_xl.roster import EXAMPLES, write_starter_roster
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.status import status
from participation_xl.terminal import shown
from participation_xl.workspace import load_workspace, register_path


@pytest.fixture
def cycle(workspace):
    from participation_xl.generate import generate, issued_form

    return workspace, {issued_form(workspace, p): p for p in generate(workspace)}


def _fill(cycle, team="EH01", form="audit", name=None, seed=1) -> Path:
    ws, issued = cycle
    answers = sample_answers(ws.pack.forms[form], random.Random(seed))
    target = ws.returns_dir / (name or f"{team} {form}.xlsx")
    target.parent.mkdir(parents=True, exist_ok=True)
    return fill_workbook(issued[(team, form)], target, answers, ws.pack.forms[form])


def _status(ws):
    with Register(register_path(ws)) as reg:
        return status(ws, reg)


def _team(ws, team="EH01", form="audit"):
    return next(t for t in _status(ws)["teams"] if (t["team_id"], t["form"]) == (team, form))


def _files(ws) -> dict[str, dict]:
    return {f["path"]: f for f in _status(ws)["files"]}


def _codes(ws) -> dict[str, str]:
    db = sqlite3.connect(register_path(ws))
    try:
        return dict(db.execute("SELECT path, code FROM files ORDER BY id"))
    finally:
        db.close()


def _cli(ws, *args):
    return CliRunner().invoke(main, ["-w", str(ws.root), *args])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _set_time(path: Path, when: dt.datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def _collect_at(monkeypatch, when: dt.datetime) -> None:
    """Collect as if the clock said `when` (file times before it are in the past)."""
    monkeypatch.setattr(collect_module, "_now", lambda: when.isoformat(timespec="microseconds"))


# --- 2. a rejection caused by the workspace is never final ---------------------------------


def test_a_return_rejected_while_its_team_was_off_the_roster_is_accepted_when_it_is_back(cycle):
    ws, _ = cycle
    roster = ws.roster_path.read_bytes()
    write_starter_roster(ws.roster_path, [r for r in EXAMPLES if r[0] != "EH01"])
    _fill(cycle)
    with Register(register_path(ws)) as reg:  # never issued this cycle, as far as it knows
        reg.db.execute("DELETE FROM issued WHERE team_id = 'EH01'")
    collect(ws)
    assert _codes(ws)["EH01 audit.xlsx"] == "identify.unknown_team"
    ws.roster_path.write_bytes(roster)  # the team is put back

    summary = collect(ws)

    assert summary.again["accepted"] == 1
    assert _files(ws)["EH01 audit.xlsx"]["outcome"] == "accepted"
    assert _team(ws)["status"] == "valid"


def test_a_return_rejected_under_a_wrong_key_is_accepted_when_the_key_is_restored(cycle):
    ws, _ = cycle
    key = ws.state_dir / "secret.key"
    good = key.read_bytes()
    _fill(cycle)
    key.write_text(os.urandom(32).hex() + "\n")
    collect(load_workspace(ws.root))
    assert _codes(ws)["EH01 audit.xlsx"] == "identify.other_workspace"
    key.write_bytes(good)

    collect(load_workspace(ws.root))

    assert _team(ws)["status"] == "valid"


def test_an_unchanged_workspace_does_not_examine_rejected_files_again(cycle):
    ws, _ = cycle
    (ws.returns_dir / "junk.xlsx").write_bytes(b"\x00\x01 not a workbook at all")
    collect(ws)
    assert _files(ws)["junk.xlsx"]["outcome"] == "rejected"
    assert not collect(ws).again


def test_collect_recheck_examines_every_rejected_file_again(cycle):
    ws, _ = cycle
    (ws.returns_dir / "junk.xlsx").write_bytes(b"\x00\x01 not a workbook at all")
    collect(ws)
    result = _cli(ws, "collect", "--recheck", "--no-report")
    assert result.exit_code == 0, result.output
    assert "Examined 1 earlier rejected file(s) again" in result.output
    assert _files(ws)["junk.xlsx"]["outcome"] == "rejected"  # still junk: one record


def test_an_earlier_version_sent_again_becomes_the_current_return_again(cycle, monkeypatch):
    ws, _ = cycle
    now = dt.datetime.now(dt.UTC)
    first = _fill(cycle, name="v1.xlsx", seed=1)
    _set_time(first, now - dt.timedelta(days=3))
    second = _fill(cycle, name="v2.xlsx", seed=2)
    _set_time(second, now - dt.timedelta(days=2))
    collect(ws)
    assert _team(ws)["file"] == "v2.xlsx"
    # The team copies v1 back (Explorer keeps the old file time): it is sent again.
    shutil.copy2(first, ws.returns_dir / "v1 again.xlsx")

    collect(ws)

    assert _team(ws)["file"] == "v1 again.xlsx"
    assert _files(ws)["v1 again.xlsx"]["outcome"] == "accepted"
    with Register(register_path(ws)) as reg:
        current = reg.current_submission(ws.cycle, "EH01", "audit")
    assert current is not None and current.sha256 == _sha(first)
    assert "file.resent" in {i.code for i in current.issues}


def test_a_plain_copy_of_the_current_return_stays_a_duplicate(cycle):
    ws, _ = cycle
    first = _fill(cycle, name="v1.xlsx")
    collect(ws)
    shutil.copy2(first, ws.returns_dir / "copy.xlsx")
    collect(ws)
    assert _files(ws)["copy.xlsx"]["outcome"] == "duplicate"


# --- 3. the shared folder and the workspace never overlap ----------------------------------


@pytest.mark.parametrize(
    "folder", [".", "..", "reports", "reports/feedback", ".participation", "outbox"]
)
def test_a_returns_folder_overlapping_the_workspace_is_refused(workspace, folder):
    ws = workspace
    (ws.root / folder).mkdir(parents=True, exist_ok=True)
    result = _cli(ws, "collect", str(ws.root / folder))
    assert result.exit_code == 2, result.output
    assert "overlaps the workspace" in result.output
    assert "Traceback" not in result.output
    assert not (ws.state_dir / "archive").exists() or not any(
        (ws.state_dir / "archive").rglob("*.bin")
    )


def test_returns_set_to_the_workspace_in_participation_toml_is_refused(workspace):
    ws = workspace
    config = ws.root / "participation.toml"
    config.write_text(config.read_text().replace('returns = "returns"', 'returns = "."'))
    result = _cli(ws, "collect")
    assert result.exit_code == 2
    assert "overlaps the workspace" in result.output


def test_the_secret_key_is_never_archived_even_when_linked_into_the_share(workspace):
    ws = workspace
    key = ws.state_dir / "secret.key"
    os.link(key, ws.returns_dir / "key.xlsx")  # a hard link: the same file, another name
    collect(ws)
    assert _codes(ws)["key.xlsx"] == "file.secret_key"
    secret = key.read_bytes()
    assert not any(secret in p.read_bytes() for p in (ws.state_dir / "archive").rglob("*.*"))


# --- 4. a file time in the future is not trusted -------------------------------------------


def test_a_file_stamped_in_the_future_is_received_when_first_seen_and_queried(cycle):
    ws, _ = cycle
    future = _fill(cycle, name="future.xlsx", seed=1)
    _set_time(future, dt.datetime.now(dt.UTC) + dt.timedelta(days=365))
    collect(ws)
    with Register(register_path(ws)) as reg:
        sub = reg.current_submission(ws.cycle, "EH01", "audit")
    assert sub is not None
    received = dt.datetime.fromisoformat(sub.received_at)
    assert abs(received - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert "status.future_time" in {i.code for i in sub.issues}
    # A newer, fixed return is not hidden behind it.
    fixed = _fill(cycle, name="fixed.xlsx", seed=2)
    _set_time(fixed, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2))
    collect(ws)
    assert _team(ws)["file"] == "fixed.xlsx"


# --- 6. reading a file: no links, no blocking, regular files only, capped ------------------


def _swap_after_scan(monkeypatch, name: str, swap) -> None:
    real = collect_module.scan

    def scan_then_swap(folder):
        found = real(folder)
        swap(Path(folder) / name)
        return found

    monkeypatch.setattr(collect_module, "scan", scan_then_swap)


@pytest.fixture
def alarm():
    """Fail, rather than hang the suite, if collect blocks."""
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("collect blocked"))
    signal.alarm(120)
    yield
    signal.alarm(0)


def test_a_return_swapped_for_a_fifo_after_the_scan_neither_blocks_nor_is_read(
    cycle, monkeypatch, alarm
):
    ws, _ = cycle
    _fill(cycle, name="swap.xlsx")

    def to_fifo(path: Path) -> None:
        path.unlink()
        os.mkfifo(path)

    _swap_after_scan(monkeypatch, "swap.xlsx", to_fifo)
    collect(ws)
    assert _codes(ws)["swap.xlsx"] == "file.not_regular"


def test_a_return_swapped_for_a_link_to_dev_zero_after_the_scan_is_not_followed(
    cycle, monkeypatch, alarm
):
    ws, _ = cycle
    _fill(cycle, name="swap.xlsx")

    def to_link(path: Path) -> None:
        path.unlink()
        path.symlink_to("/dev/zero")

    _swap_after_scan(monkeypatch, "swap.xlsx", to_link)
    collect(ws)
    assert _codes(ws)["swap.xlsx"] == "file.symlink"
    assert not list((ws.state_dir / "archive").rglob("*.bin"))


def test_a_file_that_grows_past_the_cap_after_the_scan_is_not_read_past_it(workspace, monkeypatch):
    ws = workspace
    monkeypatch.setattr(archive_module, "MAX_FILE_BYTES", 4096)
    path = ws.returns_dir / "growing.xlsx"
    path.write_bytes(b"PK" + b"\0" * 100)

    def grow(p: Path) -> None:
        with p.open("ab") as fh:
            fh.write(b"\0" * 10_000)

    _swap_after_scan(monkeypatch, "growing.xlsx", grow)
    collect(ws)
    assert _codes(ws)["growing.xlsx"] == "read.too_large"
    assert not [p for p in (ws.state_dir / "archive").rglob("*") if p.is_file()]


# --- 7. odd names and deep folders never crash collect -------------------------------------


def test_names_that_are_not_utf8_are_recorded_escaped_and_do_not_crash_collect(cycle):
    ws, _ = cycle
    _fill(cycle)
    root = os.fsencode(ws.returns_dir)
    with open(os.path.join(root, b"caf\xe9.xlsx"), "wb") as fh:
        fh.write(b"junk")
    os.mkdir(os.path.join(root, b"\xff team"))
    with open(os.path.join(root, b"\xff team", b"audit.xlsx"), "wb") as fh:
        fh.write(b"junk")

    result = _cli(ws, "collect", "--no-report")

    assert result.exit_code == 0, result.output
    codes = _codes(ws)
    assert codes["caf\\xe9.xlsx"] == "file.bad_name"
    assert codes["\\xff team"] == "file.bad_name"  # recorded once, not looked into
    assert _team(ws)["status"] == "valid"  # the good return beside them


def test_folders_nested_1100_deep_do_not_raise_recursion_error(cycle):
    ws, _ = cycle
    _fill(cycle)
    levels = [os.path.join(ws.returns_dir, *["d"] * n) for n in range(1, 1101)]
    for level in levels:  # one by one: pathlib and os.makedirs recurse too
        os.mkdir(level)
    with open(os.path.join(levels[-1], "lost.xlsx"), "wb") as fh:
        fh.write(b"junk")
    try:
        result = _cli(ws, "collect", "--no-report")
    finally:  # and so would the clean-up of tmp_path
        os.unlink(os.path.join(levels[-1], "lost.xlsx"))
        for level in reversed(levels):
            os.rmdir(level)

    assert result.exit_code == 0, result.output
    too_deep = [p for p, c in _codes(ws).items() if c == "folder.too_deep"]
    assert len(too_deep) == 1 and too_deep[0].count("/") == collect_module.MAX_DEPTH + 1
    assert _team(ws)["status"] == "valid"


# --- 9. register recovery ------------------------------------------------------------------


def test_each_collect_keeps_a_backup_of_the_register_and_the_last_five(cycle):
    ws, _ = cycle
    for n in range(7):  # a new file each time: a run that records nothing needs no backup
        (ws.returns_dir / f"junk{n}.xlsx").write_bytes(b"\x00 not a workbook %d" % n)
        collect(ws)
    collect(ws)
    backups = sorted((ws.state_dir / "backups").glob("register-*.sqlite"))
    assert len(backups) == 5
    db = sqlite3.connect(backups[-1])
    assert db.execute("SELECT COUNT(*) FROM files").fetchone() == (7,)
    db.close()


@pytest.mark.parametrize("damage", [b"", b"this is not a database at all, just some text"])
@pytest.mark.parametrize("command", ["status", "collect", "report", "export"])
def test_a_damaged_register_is_refused_with_how_to_restore_it(cycle, damage, command):
    ws, _ = cycle
    _fill(cycle)
    collect(ws)
    for extra in ("-wal", "-shm"):
        Path(str(register_path(ws)) + extra).unlink(missing_ok=True)
    register_path(ws).write_bytes(damage)
    args = ["export", "--format", "csv"] if command == "export" else [command]

    result = _cli(ws, *args)

    assert result.exit_code == 2, result.output
    assert "the register is damaged" in result.output
    assert "backups" in result.output and "rebuild" in result.output
    assert "Traceback" not in result.output
    assert register_path(ws).read_bytes() == damage  # left as it was, for the coordinator


def test_rebuild_restores_returns_since_removed_from_the_share_with_paths_and_times(
    cycle, monkeypatch
):
    ws, _ = cycle
    due = dt.datetime.combine(ws.due, dt.time(12), dt.UTC)
    on_time = _fill(cycle, "EH01", "audit", "Early Help/EH01 audit.xlsx")
    _set_time(on_time, due - dt.timedelta(days=5))
    late = _fill(cycle, "SW02", "audit", "SW02 audit.xlsx")
    _set_time(late, due + dt.timedelta(days=2))
    (ws.returns_dir / "junk.xlsx").write_bytes(b"not a workbook")
    _collect_at(monkeypatch, due + dt.timedelta(days=3))
    collect(ws)
    before = _status(ws)
    shutil.rmtree(ws.returns_dir)  # the share was cleared
    ws.returns_dir.mkdir()
    register_path(ws).write_bytes(b"")  # and the register lost

    result = _cli(ws, "rebuild")

    assert result.exit_code == 0, result.output
    after = _status(ws)
    assert after["teams"] == before["teams"]
    assert sorted(after["files"], key=str) == sorted(before["files"], key=str)
    assert _team(ws, "SW02")["late"] is True
    assert _team(ws)["file"] == "Early Help/EH01 audit.xlsx"  # its path, not an archive name
    assert list(ws.state_dir.glob("register.before-rebuild-*.sqlite"))  # kept, not deleted


# --- 10. unreadable files and what cannot be read are recorded, with a reason --------------


def test_an_unreadable_file_is_rejected_for_its_permissions_not_pending_for_ever(
    cycle, monkeypatch
):
    ws, _ = cycle
    _fill(cycle, name="locked.xlsx")
    real_open = os.open

    def no_permission(path, flags, *args):
        if str(path).endswith("locked.xlsx"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(archive_module.os, "open", no_permission)
    collect(ws)
    collect(ws)  # looked at again, not recorded twice
    record = _files(ws)["locked.xlsx"]
    assert (record["outcome"], record["sha256"]) == ("rejected", None)
    assert _codes(ws)["locked.xlsx"] == "read.no_permission"
    assert len([c for c in _codes(ws).values() if c == "read.no_permission"]) == 1
    monkeypatch.setattr(archive_module.os, "open", real_open)  # permission granted
    collect(ws)
    assert _team(ws)["status"] == "valid"


def test_links_fifos_sockets_and_unreadable_folders_are_recorded_with_a_reason(cycle, monkeypatch):
    ws, _ = cycle
    returns = ws.returns_dir
    (returns / "link.xlsx").symlink_to("/etc/passwd")
    os.mkfifo(returns / "pipe.xlsx")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(returns / "sock.xlsx"))
    (returns / "closed").mkdir()
    real_scandir = os.scandir

    def scandir(path="."):
        if str(path).endswith("closed"):
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(collect_module.os, "scandir", scandir)
    try:
        collect(ws)
    finally:
        sock.close()
    codes = _codes(ws)
    assert codes["link.xlsx"] == "file.symlink"
    assert codes["pipe.xlsx"] == "file.not_regular"
    assert codes["sock.xlsx"] == "file.not_regular"
    assert codes["closed/"] == "folder.unreadable"
    assert all(_files(ws)[p]["reason"] for p in ("link.xlsx", "pipe.xlsx", "closed/"))


# --- 11. names a team controls are escaped on the terminal ---------------------------------


def test_control_characters_in_a_file_name_never_reach_the_terminal(cycle):
    ws, _ = cycle
    name = "evil\r\x1b[2Jname\n.xlsx"
    (ws.returns_dir / name).write_bytes(b"not a workbook")
    outputs = [_cli(ws, "collect", "--no-report").output, _cli(ws, "status").output]
    outputs.append(_cli(ws, "validate", str(ws.returns_dir / name)).output)
    for output in outputs:
        assert "\r" not in output and "\x1b" not in output
    assert "evil\\r\\x1b[2Jname\\n.xlsx" in outputs[0]
    assert "evil\\r\\x1b[2Jname\\n.xlsx" in outputs[2]


def test_shown_escapes_controls_bidi_overrides_and_bytes_that_are_not_utf8():
    assert shown("plain name.xlsx") == "plain name.xlsx"
    assert shown("a\rb\nc\x1bd\x7f") == "a\\rb\\nc\\x1bd\\x7f"
    assert shown("x\u202eslx.exe") == "x\\u202eslx.exe"
    assert shown(os.fsdecode(b"caf\xe9")) == "caf\\xe9"


# --- 12. lateness is judged in the council's time zone -------------------------------------


def test_a_file_saved_at_0030_bst_the_day_after_the_due_date_is_late(cycle, monkeypatch):
    ws, _ = cycle
    assert ws.due == dt.date(2027, 3, 31) and ws.timezone == "Europe/London"
    path = _fill(cycle)
    saved = dt.datetime(2027, 3, 31, 23, 30, tzinfo=dt.UTC)  # 00:30 BST on 1 April
    _set_time(path, saved)
    _collect_at(monkeypatch, saved + dt.timedelta(days=1))
    collect(ws)
    assert _team(ws)["late"] is True


def test_the_timezone_setting_decides_the_day(cycle, monkeypatch):
    ws, _ = cycle
    config = ws.root / "participation.toml"
    config.write_text(config.read_text().replace("Europe/London", "UTC"))
    ws = load_workspace(ws.root)
    path = _fill(cycle)
    saved = dt.datetime(2027, 3, 31, 23, 30, tzinfo=dt.UTC)
    _set_time(path, saved)
    _collect_at(monkeypatch, saved + dt.timedelta(days=1))
    collect(ws)
    assert _team(ws)["late"] is False


def test_an_unknown_timezone_is_a_configuration_error(workspace):
    config = workspace.root / "participation.toml"
    config.write_text(config.read_text().replace("Europe/London", "Europe/Atlantis"))
    result = _cli(workspace, "status")
    assert result.exit_code == 2
    assert "timezone" in result.output and "Europe/Atlantis" in result.output


# --- 13. junk is not archived in full ------------------------------------------------------


def test_three_sparse_150_mb_files_do_not_fill_the_archive(workspace):
    ws = workspace
    for n in range(3):
        with (ws.returns_dir / f"junk{n}.xlsx").open("wb") as fh:
            fh.truncate(150 * 1024 * 1024)
    collect(ws)
    assert set(_codes(ws).values()) == {"read.too_large"}
    archived = sum(p.stat().st_size for p in (ws.state_dir / "archive").rglob("*") if p.is_file())
    assert archived < 1024 * 1024


@pytest.mark.parametrize("change", ["roster", "pack", "key", "cycle", "timezone"])
def test_the_workspace_fingerprint_changes_with_each_part_a_verdict_depends_on(
    workspace, pack_copy, change
):
    from participation_xl.collect import fingerprint
    from participation_xl.examine import Context

    config = workspace.root / "participation.toml"
    config.write_text(config.read_text().replace('pack = ""', f'pack = "{pack_copy}"'))

    def now() -> str:
        ws = load_workspace(workspace.root)
        return fingerprint(ws, Context.of(ws))

    before = now()
    assert now() == before  # nothing changed: nothing is examined again
    if change == "roster":
        write_starter_roster(workspace.roster_path, EXAMPLES[1:])
    elif change == "pack":
        schema = pack_copy / "schemas" / "audit.schema.json"
        schema.write_text(schema.read_text() + "\n")
    elif change == "key":
        (workspace.state_dir / "secret.key").write_text(os.urandom(32).hex() + "\n")
    elif change == "cycle":
        config.write_text(config.read_text().replace('"2026-27"', '"2027-28"'))
        config.write_text(config.read_text().replace('"2027-03-31"', '"2028-03-31"'))
    else:
        config.write_text(config.read_text().replace("Europe/London", "UTC"))
    assert now() != before
