"""Rebuild the register from the archive (`participation-xl rebuild`).

Beside each archived copy, collect keeps the sightings of those bytes (archive.py): the
path in the shared folder, size, file time, when collect first saw it, and the cycle and
due date then. Rebuilding replays them run by run, in the order they happened, through
collect's own pipeline, so each file gets the verdict, received date and lateness that
collect would give it, with its original path, not its archive name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

from .archive import Archive, Copied
from .collect import Found, Summary, _Run, fingerprint
from .examine import Context
from .issued import carry_issued
from .messages import Code, render
from .recovery import backup_register
from .register import Register
from .review import ensure_table
from .review_book import forget as forget_book
from .workspace import Workspace, parse_date, register_path, run_lock


@dataclasses.dataclass
class Rebuilt:
    files: int  # sightings replayed
    runs: int  # collect runs they came from
    set_aside: Path | None  # the register that was there before, kept beside
    warnings: list[str] = dataclasses.field(default_factory=list)


def rebuild(ws: Workspace) -> Rebuilt:
    """Rebuild the register from the archive: every file with its original path, size,
    time and the moment collect first saw it, examined against this workspace, run by run
    in the order they happened. The old register (damaged or not) is set aside, not
    deleted. The review decisions are not in the archive: they are copied from the old
    register onto the rebuilt return with the same file (a warning names any that cannot
    be placed), and review-book.json, keyed by the old return numbers, is dropped."""
    archive = Archive(ws.state_dir)
    runs: dict[tuple[str, str, str], list[tuple[dict[str, Any], str]]] = defaultdict(list)
    kept: set[tuple[str, str, int, int]] = set()
    for seen in archive.sightings():
        sha = seen["sha256"]
        key = (sha, seen.get("path"), seen.get("size"), seen.get("mtime_ns"))
        if not _usable(seen) or key in kept or archive.find(sha) is None:
            continue  # damaged, already seen (a killed run's repeat), or its copy is gone
        kept.add(key)  # type: ignore[arg-type]
        run = (seen["seen_at"], seen.get("cycle") or ws.cycle, seen.get("due", ""))
        runs[run].append((seen, sha))
    with run_lock(ws):
        path = register_path(ws)
        aside = _set_aside(path)
        with Register(path) as reg:
            if aside:  # what was issued is in no archive: carried over before the replay
                carry_issued(reg, aside)
        ctx = Context.of(ws)
        basis = fingerprint(ws, ctx)
        total = 0
        with Register(path) as reg:
            for (seen_at, cycle, due), items in sorted(runs.items()):
                run_ws = _as_then(ws, cycle, due)
                run_ctx = dataclasses.replace(ctx, cycle=cycle)
                replay = _Replay(run_ws, reg, run_ctx, Summary(), None, basis)
                replay.now = seen_at
                found = replay.load(items, archive)
                replay.go(sorted(found, key=lambda f: (f.mtime_ns, f.rel)))
                total += len(found)
            warnings = _carry_reviews(reg, aside) if aside else []
            forget_book(ws)
            backup_register(reg, ws.state_dir)
    return Rebuilt(total, len(runs), aside, warnings)


def _carry_reviews(reg: Register, aside: Path) -> list[str]:
    """Copy the old register's review decisions, oldest first, each onto the rebuilt
    submission with the same file, team, form and cycle. Returns a warning for each one
    that has no such submission now, or one warning when the old register is unreadable."""
    try:
        old = sqlite3.connect(f"{aside.as_uri()}?mode=ro", uri=True)
        try:
            rows = old.execute(
                "SELECT cycle, team_id, form, sha256, action, note, decided_by, decided_at, "
                "source FROM reviews ORDER BY id"
            ).fetchall()
        finally:
            old.close()
    except sqlite3.Error as err:
        if "no such table" in str(err):
            return []  # a register from before reviews: nothing to carry
        return [render(Code.REVIEW_REBUILD_UNREAD, aside=aside, detail=err)]
    ensure_table(reg)
    warnings = []
    with reg.transaction():
        for cycle, team, form, sha, action, note, by, at, source in rows:
            new = reg.db.execute(
                "SELECT id FROM submissions WHERE cycle = ? AND team_id = ? AND form = ? "
                "AND sha256 = ? ORDER BY current DESC, id DESC LIMIT 1",
                (cycle, team, form, sha),
            ).fetchone()
            if new is None:
                warnings.append(
                    render(
                        Code.REVIEW_REBUILD_UNPLACED,
                        action=action,
                        by=by,
                        at=at,
                        team=team,
                        form=form,
                        cycle=cycle,
                        aside=aside,
                    )
                )
                continue
            reg.db.execute(
                "INSERT INTO reviews (cycle, team_id, form, submission_id, sha256, action, "
                "note, decided_by, decided_at, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (cycle, team, form, new[0], sha, action, note, by, at, source),
            )
    return warnings


def _usable(seen: object) -> bool:
    return (
        isinstance(seen, dict)
        and isinstance(seen.get("path"), str)
        and isinstance(seen.get("size"), int)
        and isinstance(seen.get("mtime_ns"), int)
        and isinstance(seen.get("seen_at"), str)
    )


def _as_then(ws: Workspace, cycle: str, due: str) -> Workspace:
    """The workspace as it was for a run in another cycle (its due date, when kept)."""
    if cycle == ws.cycle:
        return ws
    changed = dataclasses.replace(ws, cycle=cycle)
    with contextlib.suppress(ValueError):
        changed.due = parse_date(due)
    return changed


def _set_aside(path: Path) -> Path | None:
    """Move the old register (and its WAL files) aside, under a dated name."""
    if not path.exists():
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"register.before-rebuild-{stamp}.sqlite")
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            os.replace(extra, aside.with_name(aside.name + suffix))
    os.replace(path, aside)
    return aside


class _Replay(_Run):
    """A collect run replayed from the archive: nothing is copied, the sightings say
    where each file was and when."""

    def load(self, items: list[tuple[dict[str, Any], str]], archive: Archive) -> list[Found]:
        self.copies: dict[tuple[str, int, int], Copied] = {}
        found = []
        for seen, sha in items:
            f = Found(seen["path"], "", seen["size"], seen["mtime_ns"], None)
            self.copies[(f.rel, f.size, f.mtime_ns)] = Copied(sha, archive.find(sha) or "")
            found.append(f)
        return found

    def _copy(self, f: Found) -> Copied:
        return self.copies[(f.rel, f.size, f.mtime_ns)]
