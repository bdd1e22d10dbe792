"""A new cycle: next year's audit in the same workspace, register, roster, pack and key.

`new_cycle` changes participation.toml's cycle and due date (nothing else) and moves the
finished cycle's outbox/ and reports/ under cycles/<old cycle>/, so the live folders hold
only this cycle's workbooks and reports (old feedback never sits beside new) and no file
is lost. The register, the archive and the key stay where they are: every cycle's
returns stay in the one register, which the trend and the signatories read across years.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .messages import Code
from .register import Register
from .workspace import (
    CONFIG_NAME,
    CYCLES_DIR,
    Workspace,
    check_cycle,
    cycle_start,
    load_workspace,
    register_path,
    run_lock,
)

MOVED = ("outbox", "reports")  # the per-cycle folders; returns/ is the teams' shared folder


@dataclass(frozen=True)
class NewCycle:
    """What `new-cycle` did: the cycle left, the one started, and where the old files went."""

    previous: str
    cycle: str
    due: dt.date
    kept_in: Path  # cycles/<previous>/, holding its outbox/ and reports/
    moved: list[Path]


def cycle_end(cycle: str) -> dt.date:
    """The last day of a cycle: 31 March of its second year."""
    return dt.date(cycle_start(cycle).year + 1, 3, 31)


def next_cycle(cycle: str) -> str:
    year = cycle_start(cycle).year + 1
    return f"{year}-{(year + 1) % 100:02d}"


def kept_folder(root: Path, cycle: str) -> Path:
    """Where a finished cycle's outbox/ and reports/ are kept."""
    return root / CYCLES_DIR / cycle


def new_cycle(ws: Workspace, cycle: str, due: dt.date) -> NewCycle:
    """Start `cycle` (due `due`) in this workspace; refuse, changing nothing, a cycle that is
    not after the current one, a due date outside it, or a cycle already started here."""
    check_cycle(cycle)
    _check_after(ws.cycle, cycle)
    _check_due_inside(cycle, due)
    with run_lock(ws):
        _check_not_started(ws, cycle)
        config = ws.root / CONFIG_NAME
        text = _changed_config(config, cycle, due)
        kept = kept_folder(ws.root, ws.cycle)
        moved = _move_aside(ws, kept)
        try:
            _write_text(config, text)
        except BaseException:
            _move_back(moved)
            raise
    load_workspace(ws.root)  # the new settings read back as valid
    return NewCycle(ws.cycle, cycle, due, kept, [new for _old, new in moved])


def _check_after(current: str, cycle: str) -> None:
    if cycle_start(cycle) <= cycle_start(current):
        raise ConfigError.of(
            Code.CYCLE_NOT_AFTER, cycle=cycle, current=current, example=next_cycle(current)
        )


def _check_due_inside(cycle: str, due: dt.date) -> None:
    start, end = cycle_start(cycle), cycle_end(cycle)
    if not start <= due <= end:
        raise ConfigError.of(
            Code.CYCLE_DUE_OUTSIDE,
            due=f"{due:%d/%m/%Y}",
            cycle=cycle,
            start=f"{start:%d/%m/%Y}",
            end=f"{end:%d/%m/%Y}",
            example=f"{end:%d/%m/%Y}",
        )


def _check_not_started(ws: Workspace, cycle: str) -> None:
    """A cycle is started once returns of it are recorded or its files were set aside."""
    with Register.read_only(register_path(ws)) as reg:
        recorded = cycle in reg.cycles()
    where = ""
    if recorded:
        where = "the register holds returns of it"
    elif (kept := kept_folder(ws.root, cycle)).exists():
        where = f"its files are kept in {kept}"
    elif kept_folder(ws.root, ws.cycle).exists():
        where = f"{kept_folder(ws.root, ws.cycle)} already exists"
    if where:
        raise ConfigError.of(Code.CYCLE_STARTED, cycle=cycle, where=where)


def _changed_config(path: Path, cycle: str, due: dt.date) -> str:
    """participation.toml with its cycle and due lines changed, every other line (and the
    coordinator's comments) as it was; checked by reading it back."""
    try:
        text = path.read_text(encoding="utf-8")
        before = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError.of(Code.CONFIG_UNREADABLE, path=path, detail=err) from err
    for key, value in (("cycle", cycle), ("due", due.isoformat())):
        text, n = re.subn(rf"(?m)^{key}\s*=.*$", f'{key} = "{value}"', text, count=1)
        if not n:
            raise ConfigError.of(Code.CYCLE_CONFIG_LINE, path=path, key=key)
    after = tomllib.loads(text)
    if after != {**before, "cycle": cycle, "due": due.isoformat()}:
        raise ConfigError.of(Code.CYCLE_CONFIG_LINE, path=path, key="cycle")
    return text


def _move_aside(ws: Workspace, kept: Path) -> list[tuple[Path, Path]]:
    """Move outbox/ and reports/ whole under `kept` (a rename: nothing copied, nothing
    lost), then make them again, empty, for the new cycle."""
    kept.mkdir(parents=True, exist_ok=True)
    moved: list[tuple[Path, Path]] = []
    try:
        for name in MOVED:
            live = ws.root / name
            if live.is_dir():
                live.rename(kept / name)
                moved.append((live, kept / name))
            live.mkdir(exist_ok=True)
    except OSError:
        _move_back(moved)
        raise
    return moved


def _move_back(moved: list[tuple[Path, Path]]) -> None:
    for live, old in reversed(moved):
        with_nothing = live.is_dir() and not any(live.iterdir())
        if with_nothing:
            live.rmdir()
        if not live.exists():
            old.rename(live)


def _write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".participation-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
