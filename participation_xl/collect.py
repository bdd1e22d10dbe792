"""Collect: read every return in the shared folder, check it, and record it safely.

The shared folder is only ever read. Each new file is hashed and copied into the archive
(content-addressed, so nothing is lost if the team overwrites or deletes it), parsed in
isolated worker processes, examined, and recorded in the register in transactions. A file
whose path, size and modification time are unchanged is not read again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BusyError, ConfigError
from .examine import Context, Examined, examine_files, issue, relabel
from .messages import render
from .register import Register
from .status import standing
from .workspace import Workspace

BATCH = 200  # files per transaction: a kill loses at most one batch of work, never data
MAX_FILE_BYTES = 200 * 1024 * 1024  # a return is ~50 KB; anything this big is not one
_IGNORED_NAMES = {"thumbs.db", "desktop.ini", ".ds_store"}
_NETWORK_FS = {
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "fuse.sshfs",
    "9p",
    "afs",
    "davfs",
    "fuse.rclone",
}


@dataclass
class Summary:
    """What a collect run did, and where the cycle stands afterwards."""

    seen: Counter[str] = field(default_factory=Counter)  # this run's outcomes
    reasons: list[tuple[str, str, str]] = field(default_factory=list)  # (path, outcome, reason)
    warnings: list[str] = field(default_factory=list)
    standing: dict[str, int] = field(default_factory=dict)  # valid/invalid/missing/late
    reports: list[Path] = field(default_factory=list)


def collect(
    ws: Workspace,
    folder: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    report: bool = True,
) -> Summary:
    """Read the returns folder, record every file's outcome, then (optionally) write reports."""
    source = Path(folder) if folder else ws.returns_dir
    if not source.is_dir():
        raise ConfigError(
            f"{source}: the returns folder does not exist. Check 'returns' in participation.toml."
        )
    summary = Summary(warnings=network_warnings(ws))
    with run_lock(ws), Register(register_path(ws)) as reg:
        ctx = Context.of(ws)
        settled = reg.unchanged()
        # Oldest first, so the first of two identical copies is the original.
        todo = sorted(
            (f for f in scan(source) if (f.rel, f.size, f.mtime_ns) not in settled),
            key=lambda f: (f.mtime_ns, f.rel),
        )
        for start in range(0, len(todo), BATCH):
            _batch(ws, reg, ctx, todo[start : start + BATCH], summary)
            if progress:
                progress(min(start + BATCH, len(todo)), len(todo))
        summary.standing = standing(ws, reg)
        if report:
            from .report import write_reports  # here: report imports this module

            summary.reports = write_reports(ws)
    return summary


def register_path(ws: Workspace) -> Path:
    return ws.state_dir / "register.sqlite"


@dataclass(frozen=True)
class Found:
    rel: str
    path: Path
    size: int
    mtime_ns: int
    ignore: str  # why the file is ignored, or ""


def scan(folder: Path) -> list[Found]:
    """Every file under the folder, recursively, in a stable order; never follows links out."""
    out: list[Found] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            try:
                st = path.lstat()
            except OSError:
                continue  # gone between listing and looking: it will be seen next run
            if not path.is_file() or path.is_symlink():
                continue
            rel = path.relative_to(folder).as_posix()
            out.append(Found(rel, path, st.st_size, st.st_mtime_ns, _ignore_reason(name)))
    return out


def _ignore_reason(name: str) -> str:
    lower = name.lower()
    if name.startswith("~$") or (name.startswith(".~lock.") and name.endswith("#")):
        return "An Office lock file, made while someone has the workbook open."
    if name.startswith(".") or lower in _IGNORED_NAMES:
        return "A hidden or system file."
    if lower.endswith((".tmp", ".part", ".crdownload", ".partial")) or name.startswith("~"):
        return "A temporary file, made while saving or copying."
    return ""


def _batch(
    ws: Workspace, reg: Register, ctx: Context, files: list[Found], summary: Summary
) -> None:
    now = _now()
    staged: list[tuple[Found, str, Path]] = []
    with reg.transaction():
        batch_shas: dict[str, str] = {}
        for f in files:
            if f.ignore:
                _record(reg, summary, f, None, "ignored", f.ignore, "", now)
                continue
            sha, archived, problem = _archive(ws, f)
            if problem:
                outcome = "pending" if problem == "changing" else "rejected"
                code = "read.changing" if problem == "changing" else "read.too_large"
                _record(reg, summary, f, sha, outcome, render(code), code, now)
                continue
            earlier = reg.first_file_with(sha) if sha not in batch_shas else None
            first = earlier.path if earlier else batch_shas.get(sha)
            if first:
                reason = render("file.duplicate", first=first)
                _record(reg, summary, f, sha, "duplicate", reason, "file.duplicate", now)
                continue
            batch_shas[sha] = f.rel
            staged.append((f, sha, archived))
        # One flush for the batch's archive copies before the register says they exist.
        os.sync()
        results = examine_files(ctx, [str(a) for _, _, a in staged])
        touched = set()
        for f, sha, archived in staged:
            ex = relabel(results[str(archived)], f.rel, ctx.team_ids)
            file_id = _record(reg, summary, f, sha, ex.outcome, ex.reason, ex.code, now)
            if ex.outcome == "accepted" and ex.identity and ex.document is not None:
                _submit(reg, ws, f, sha, file_id, ex, now)
                touched.add((ex.identity["cycle"], ex.identity["team_id"], ex.identity["form"]))
        for key in touched:
            reg.refresh_current(*key)


def _submit(
    reg: Register, ws: Workspace, f: Found, sha: str, file_id: int, ex: Examined, now: str
) -> None:
    received = dt.datetime.fromtimestamp(f.mtime_ns / 1e9, dt.UTC).replace(microsecond=0)
    issues = list(ex.issues)
    if received.date() > ws.due:
        issues.append(
            issue("status.late", f.rel, received=f"{received:%d/%m/%Y}", due=f"{ws.due:%d/%m/%Y}")
        )
    assert ex.identity is not None and ex.document is not None
    reg.add_submission(
        file_id, sha, f.rel, ex.identity, ex.valid, ex.document, issues, received.isoformat(), now
    )


def _record(
    reg: Register,
    summary: Summary,
    f: Found,
    sha: str | None,
    outcome: str,
    reason: str,
    code: str,
    now: str,
) -> int:
    summary.seen[outcome] += 1
    if reason:
        summary.reasons.append((f.rel, outcome, reason))
    return reg.add_file(f.rel, f.size, f.mtime_ns, sha, outcome, reason, code, now)


def _archive(ws: Workspace, f: Found) -> tuple[str, Path, str]:
    """Hash the file while copying it into the archive: (sha256, archived path, problem)."""
    archive = ws.state_dir / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    if f.size > MAX_FILE_BYTES:
        return "", Path(), "too_large"
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=archive, prefix=".incoming.")
    try:
        with os.fdopen(fd, "wb") as out, f.path.open("rb") as src:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        st = f.path.stat()
        if (st.st_size, st.st_mtime_ns) != (f.size, f.mtime_ns):
            return digest.hexdigest(), Path(), "changing"  # still being written: next run
        sha = digest.hexdigest()
        target = archive / sha[:2] / f"{sha}{_suffix(f.path)}"
        target.parent.mkdir(exist_ok=True)
        if not target.exists():
            os.replace(tmp, target)
        return sha, target, ""
    except OSError:
        return digest.hexdigest(), Path(), "changing"
    finally:
        Path(tmp).unlink(missing_ok=True)


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    return suffix if suffix in {".xlsx", ".xlsm", ".xls", ".ods", ".csv"} else ".bin"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


@contextlib.contextmanager
def run_lock(ws: Workspace, wait: float = 30.0) -> Iterator[None]:
    """One collect or report at a time per workspace: wait a while, then say who holds it."""
    ws.state_dir.mkdir(parents=True, exist_ok=True)
    path = ws.state_dir / "run.lock"
    with path.open("a+") as fh:
        deadline = time.monotonic() + wait
        while True:
            try:
                # flock, not lockf: it also excludes a second run in this same process.
                # Reader workers die with their parent, so a kill never leaves it held.
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as err:
                if time.monotonic() > deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "another process"
                    raise BusyError(
                        f"Another collect or report is running on this workspace ({holder}). "
                        "Try again when it has finished."
                    ) from err
                time.sleep(0.2)
        _sweep(ws)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}, started {dt.datetime.now():%d/%m/%Y %H:%M:%S}\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _sweep(ws: Workspace) -> None:
    """Remove temporary files that a killed run left: only ever our own, under the lock."""
    leftovers = [*(ws.state_dir / "archive").glob(".incoming.*"), *ws.reports_dir.rglob(".*.tmp")]
    for path in leftovers:
        path.unlink(missing_ok=True)


def network_warnings(ws: Workspace) -> list[str]:
    """Warn when the register would sit on a network share, where SQLite locking is unsafe."""
    fstype = _fs_type(ws.state_dir if ws.state_dir.exists() else ws.root)
    if fstype in _NETWORK_FS:
        return [
            f"The workspace is on a network share ({fstype}). Keep it on a local disk and "
            "only the returns folder on the share; see SECURITY.md."
        ]
    return []


def _fs_type(path: Path) -> str:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return ""
    best, kind = "", ""
    target = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) > 2 and target.startswith(parts[1]) and len(parts[1]) > len(best):
            best, kind = parts[1], parts[2]
    return kind
