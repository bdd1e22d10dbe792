"""Register backups: one after every collect, the newest KEEP kept.

Backups are made with SQLite's online backup API (a consistent copy even while another
process reads the register) into `.participation/backups/`. When the register is damaged,
the message names the newest backup; `rebuild` (rebuild.py) is the other way back.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from pathlib import Path

KEEP = 5
BACKUPS = "backups"


def backup_register(reg: object, state_dir: Path) -> Path:
    """Copy the open register to backups/register-<UTC time>.sqlite; keep the newest KEEP."""
    folder = state_dir / BACKUPS
    folder.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-%f")
    target = folder / f"register-{stamp}.sqlite"
    tmp = folder / f".register-{stamp}.sqlite.tmp"  # swept if a kill leaves it
    db: sqlite3.Connection = reg.db  # type: ignore[attr-defined]
    copy = sqlite3.connect(tmp)
    try:
        db.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        copy.close()
    os.replace(tmp, target)
    for old in backups(state_dir)[KEEP:]:
        old.unlink(missing_ok=True)
    return target


def backups(state_dir: Path) -> list[Path]:
    """The register's backups, newest first."""
    folder = state_dir / BACKUPS
    if not folder.is_dir():
        return []
    return sorted(folder.glob("register-*.sqlite"), reverse=True)


def newest_backup(state_dir: Path) -> Path | None:
    found = backups(state_dir)
    return found[0] if found else None
