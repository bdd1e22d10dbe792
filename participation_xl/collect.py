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
import itertools
import os
import stat
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BusyError, ConfigError
from .examine import Context, Examined, examine_stream, issue, relabel
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
    standing: dict[str, int] = field(default_factory=dict)  # status.standing()
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
        del settled
        _Run(ws, reg, ctx, summary, progress).go(todo)
        summary.standing = standing(ws, reg)
        if report:
            from .report import write_reports  # here: report imports this module

            summary.reports = write_reports(ws, warnings=summary.warnings)
    return summary


def register_path(ws: Workspace) -> Path:
    return ws.state_dir / "register.sqlite"


@dataclass(frozen=True, slots=True)
class Found:
    """A file in the returns folder (small: a big collation holds tens of thousands)."""

    rel: str
    folder: str
    size: int
    mtime_ns: int
    ignore: str  # why the file is ignored, or ""


def scan(folder: Path) -> list[Found]:
    """Every file under the folder, recursively, in a stable order; never follows links out."""
    out: list[Found] = []
    top = str(folder)
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel_root = os.path.relpath(root, top)
        for name in sorted(files):
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue  # gone between listing and looking: it will be seen next run
            if not stat.S_ISREG(st.st_mode):
                continue  # links (which could lead out of the folder), devices, pipes
            rel = name if rel_root == "." else f"{rel_root}/{name}".replace(os.sep, "/")
            out.append(Found(rel, top, st.st_size, st.st_mtime_ns, _ignore_reason(name)))
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


class _Run:
    """One pass over the files to do, as a pipeline: this process hashes and archives
    each file and hands it to the reader workers, then records their results, so
    archiving, reading and recording overlap. Every BATCH files the archive is flushed
    and the register committed: a kill loses at most one batch of work, never data."""

    def __init__(
        self,
        ws: Workspace,
        reg: Register,
        ctx: Context,
        summary: Summary,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.ws, self.reg, self.ctx, self.summary, self.progress = ws, reg, ctx, summary, progress
        self.now = _now()
        self.archive = _Archive(ws)
        self.in_flight: dict[str, tuple[Found, str]] = {}  # archived path -> (file, sha)
        self.first_of: dict[str, str] = {}  # sha -> path, for files still in flight
        self.touched: set[tuple[str, str, str]] = set()
        self.done = self.total = 0

    def go(self, todo: list[Found]) -> None:
        self.total = len(todo)
        with self.reg.transaction():
            for archived, ex in examine_stream(self.ctx, self._archived(todo)):
                f, sha = self.in_flight.pop(archived)
                if self.first_of.get(sha) == f.rel:
                    del self.first_of[sha]
                self._recorded(f, sha, ex)
            self._commit(final=True)

    def _archived(self, todo: list[Found]) -> Iterator[str]:
        """Archive each file in turn; record at once those that need no reading."""
        for f in todo:
            if f.ignore:
                self._record(f, None, "ignored", f.ignore, "")
                continue
            sha, archived, problem = self.archive.add(f)
            if problem:
                code = "read.changing" if problem == "changing" else "read.too_large"
                outcome = "pending" if problem == "changing" else "rejected"
                self._record(f, sha, outcome, render(code), code)
                continue
            earlier = self.first_of.get(sha)
            if earlier is None:
                record = self.reg.first_file_with(sha)
                earlier = record.path if record else None
            if earlier:
                reason = render("file.duplicate", first=earlier)
                self._record(f, sha, "duplicate", reason, "file.duplicate")
                continue
            self.first_of[sha] = f.rel
            self.in_flight[archived] = (f, sha)
            yield archived

    def _recorded(self, f: Found, sha: str, ex: Examined) -> None:
        ex = relabel(ex, f.rel, self.ctx.team_ids or frozenset())
        file_id = self._record(f, sha, ex.outcome, ex.reason, ex.code, ex.claimed)
        if ex.outcome == "accepted" and ex.identity and ex.document is not None:
            _submit(self.reg, self.ws, f, sha, file_id, ex, self.now)
            self.touched.add((ex.identity["cycle"], ex.identity["team_id"], ex.identity["form"]))

    def _record(
        self,
        f: Found,
        sha: str | None,
        outcome: str,
        reason: str,
        code: str,
        claimed: tuple[str, str] | None = None,
    ) -> int:
        file_id = _record(
            self.reg,
            self.summary,
            f,
            sha,
            outcome,
            reason,
            code,
            self.now,
            self.ws.cycle,
            claimed,
        )
        self.done += 1
        if self.done % BATCH == 0:
            self._commit()
        return file_id

    def _commit(self, final: bool = False) -> None:
        for key in self.touched:
            self.reg.refresh_current(*key)
        self.touched.clear()
        # The archive copies reach the disk before the register says they exist.
        os.sync()
        if not final:
            self.reg.checkpoint()
        if self.progress:
            self.progress(self.done, self.total)


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
    cycle: str = "",
    claimed: tuple[str, str] | None = None,
) -> int:
    """Record one file's outcome, in the cycle being collected; a rejected file keeps the
    team and form it claims to be, so that team shows as rejected, not missing."""
    summary.seen[outcome] += 1
    if reason:
        summary.reasons.append((f.rel, outcome, reason))
    team, form = claimed if claimed and outcome == "rejected" else ("", "")
    return reg.add_file(
        f.rel,
        f.size,
        f.mtime_ns,
        sha,
        outcome,
        reason,
        code,
        now,
        cycle=cycle,
        claimed_team=team,
        claimed_form=form,
    )


class _Archive:
    """The content-addressed archive: a copy of every file read, named by its SHA-256."""

    def __init__(self, ws: Workspace) -> None:
        self.root = str(ws.state_dir / "archive")
        os.makedirs(self.root, exist_ok=True)
        self.made: set[str] = set()  # the 256 sub-folders, made once each
        self.incoming = os.path.join(self.root, f".incoming.{os.getpid()}.")
        self.count = itertools.count()

    def add(self, f: Found) -> tuple[str, str, str]:
        """Hash the file while copying it in: (sha256, archived path, problem)."""
        if f.size > MAX_FILE_BYTES:
            return "", "", "too_large"
        digest = hashlib.sha256()
        tmp = f"{self.incoming}{next(self.count)}"
        source = os.path.join(f.folder, f.rel)
        kept = False
        try:
            with open(tmp, "xb") as out, open(source, "rb") as src:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
            st = os.stat(source)
            if (st.st_size, st.st_mtime_ns) != (f.size, f.mtime_ns):
                return digest.hexdigest(), "", "changing"  # still being written: next run
            sha = digest.hexdigest()
            folder = os.path.join(self.root, sha[:2])
            if folder not in self.made:
                os.makedirs(folder, exist_ok=True)
                self.made.add(folder)
            target = os.path.join(folder, sha + _suffix(f.rel))
            if not os.path.exists(target):
                os.replace(tmp, target)
                kept = True
            return sha, target, ""
        except OSError:
            return digest.hexdigest(), "", "changing"
        finally:
            if not kept:  # a copy not needed (already kept, or changing): leave no trace
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)


def _suffix(name: str) -> str:
    suffix = os.path.splitext(name)[1].lower()
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
