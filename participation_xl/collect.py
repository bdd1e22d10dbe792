"""Collect: read every return in the shared folder, check it, and record it safely.

The shared folder is only ever read. Each new file is hashed and copied into the archive
(content-addressed, so nothing is lost if the team overwrites or deletes it), parsed in
isolated worker processes, examined, and recorded in the register in transactions. A file
whose path, size and modification time are unchanged is not read again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import explain
from .archive import Archive, Copied
from .crossyear import Previous
from .examine import Context, Examined, examine_stream, relabel
from .issues import Issue, issue
from .messages import Code, render
from .recovery import backup_register, backups
from .register import FileRecord, Register
from .status import standing
from .workspace import Workspace, register_path, returns_folder, run_lock

BATCH = 200  # files per transaction: a kill loses at most one batch of work, never data
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
    again: Counter[str] = field(default_factory=Counter)  # outcomes of files examined again
    reasons: list[tuple[str, str, str]] = field(default_factory=list)  # (path, outcome, reason)
    warnings: list[str] = field(default_factory=list)
    standing: dict[str, int] = field(default_factory=dict)  # status.standing()


def collect(
    ws: Workspace,
    folder: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    recheck: bool = False,
) -> Summary:
    """Read the returns folder and record every file's outcome, under the run lock. The
    reports are a step of their own: pipeline.collect_and_report runs both in one hold
    of the lock, as the `collect` command does.

    Files rejected for a reason that lies in the workspace are examined again, from the
    archive, when the workspace changes (roster, pack, key, cycle or settings): with
    `recheck`, every rejected file is, whatever changed."""
    source = returns_folder(ws, folder)
    with run_lock(ws):
        return collect_locked(ws, source, progress, recheck)


def collect_locked(
    ws: Workspace,
    source: Path,
    progress: Callable[[int, int], None] | None = None,
    recheck: bool = False,
) -> Summary:
    """`collect` from a checked returns folder, for a caller that holds the run lock."""
    summary = Summary(warnings=network_warnings(ws))
    with Register(register_path(ws)) as reg:
        ctx = Context.of(ws)
        basis = fingerprint(ws, ctx)
        settled, retrying = reg.unchanged(), reg.retrying()
        # Oldest first, so the first of two identical copies is the original.
        todo = sorted(
            (f for f in scan(source) if (f.rel, f.size, f.mtime_ns) not in settled),
            key=lambda f: (f.mtime_ns, f.rel),
        )
        del settled
        again = reg.to_examine_again(basis, every=recheck)
        _Run(ws, reg, ctx, summary, progress, basis, retrying).go(todo, again)
        summary.standing = standing(ws, reg)
        if summary.seen or summary.again or not backups(ws.state_dir):
            backup_register(reg, ws.state_dir)  # a run that changed nothing needs none
    return summary


def fingerprint(ws: Workspace, ctx: Context) -> str:
    """A digest of every part of the workspace a verdict on a return depends on: the
    roster's teams, the pack's files, the key, the cycle and the settings. A file rejected
    under another fingerprint is examined again."""
    digest = hashlib.sha256()
    for part in (
        ws.cycle,
        ws.due.isoformat(),
        ws.timezone,
        "\n".join(sorted(ctx.team_ids or ())),
        hashlib.sha256(ctx.secret or b"").hexdigest(),
    ):
        digest.update(part.encode("utf-8", "backslashreplace") + b"\0")
    pack = Path(ctx.pack.dir)
    for folder in (ctx.pack.schemas_dir, pack / "workbook_templates", pack):
        for name in sorted(os.listdir(folder)) if folder.is_dir() else ():
            if name.endswith((".json", ".toml")) and os.path.isfile(folder / name):
                digest.update(f"{folder.name}/{name}".encode() + b"\0")
                digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Found:
    """A file in the returns folder (small: a big collation holds tens of thousands)."""

    rel: str  # the path as recorded: valid UTF-8 (a name that is not is shown escaped)
    folder: str
    size: int
    mtime_ns: int
    ignore: Code | None  # the catalogue code of why the file is not read, if it is not


MAX_DEPTH = 64  # folders deeper than this are recorded, not looked into


def scan(folder: Path) -> list[Found]:
    """Every file under the folder, in a stable order; never follows links. Iterative
    (no depth limit from Python's stack); anything not read is listed with its reason:
    links, pipes and devices, names that are not UTF-8, folders that cannot be opened or
    lie deeper than MAX_DEPTH. Hidden folders (.git, .Trash) are passed over."""
    out: list[Found] = []
    top = str(folder)
    stack: list[tuple[str, int]] = [("", 0)]  # (folder relative to top, depth)
    while stack:
        rel_dir, depth = stack.pop()
        try:
            with os.scandir(os.path.join(top, rel_dir) if rel_dir else top) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            if not rel_dir:
                raise  # the returns folder itself: the CLI says what to do
            out.append(_folder(top, rel_dir, Code.FOLDER_UNREADABLE))
            continue
        subfolders: list[str] = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # gone between listing and looking: it will be seen next run
            if not _is_text(rel):
                out.append(
                    Found(safe_name(rel), top, st.st_size, st.st_mtime_ns, Code.FILE_BAD_NAME)
                )
            elif stat.S_ISDIR(st.st_mode):
                if entry.name.startswith("."):
                    continue
                if depth + 1 > MAX_DEPTH:
                    out.append(_folder(top, rel, Code.FOLDER_TOO_DEEP))
                else:
                    subfolders.append(rel)
            else:
                why = _ignore_reason(entry.name)
                if not why and stat.S_ISLNK(st.st_mode):
                    why = Code.FILE_SYMLINK  # could lead anywhere: out of the folder, /dev/zero
                elif not why and not stat.S_ISREG(st.st_mode):
                    why = Code.FILE_NOT_REGULAR
                out.append(Found(rel, top, st.st_size, st.st_mtime_ns, why))
        stack.extend((sub, depth + 1) for sub in reversed(subfolders))
    return out


def _folder(top: str, rel: str, code: Code) -> Found:
    """A folder recorded instead of its files (its path ends in '/')."""
    try:
        mtime = os.lstat(os.path.join(top, rel)).st_mtime_ns
    except OSError:
        mtime = 0
    return Found(rel + "/", top, 0, mtime, code)


def _is_text(name: str) -> bool:
    """False for a name that is not valid UTF-8 (Python holds its bytes as surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def safe_name(name: str) -> str:
    """A name that is not valid UTF-8, with each bad byte written as \\xNN: storable, and
    still telling the coordinator which file it is."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _ignore_reason(name: str) -> Code | None:
    lower = name.lower()
    if name.startswith("~$") or (name.startswith(".~lock.") and name.endswith("#")):
        return Code.FILE_OFFICE_LOCK
    if name.startswith(".") or lower in _IGNORED_NAMES:
        return Code.FILE_HIDDEN
    if lower.endswith((".tmp", ".part", ".crdownload", ".partial")) or name.startswith("~"):
        return Code.FILE_TEMPORARY
    return None


# What a file that was not taken is recorded as: a problem code from the archive -> outcome.
_PROBLEM_OUTCOMES = {
    Code.READ_CHANGING: "pending",
    Code.READ_TOO_LARGE: "rejected",
    Code.READ_NO_PERMISSION: "rejected",
}


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
        basis: str = "",
        retrying: dict[tuple[str, int, int], str] | None = None,
    ) -> None:
        self.ws, self.reg, self.ctx, self.summary, self.progress = ws, reg, ctx, summary, progress
        self.basis, self.retrying = basis, retrying or {}
        self.now = _now()
        self.archive = Archive(ws.state_dir)
        # archived path -> (file, sha, the record examined again, or None for a new file)
        self.in_flight: dict[str, tuple[Found, str, FileRecord | None]] = {}
        self.first_of: dict[str, str] = {}  # sha -> path, for files still in flight
        self.touched: set[tuple[str, str, str]] = set()
        self.done = self.total = 0
        self.previous = Previous(reg, ctx.pack)  # for the cross-year queries

    def go(self, todo: list[Found], again: list[FileRecord] | None = None) -> None:
        again = again or []
        self.total = len(todo) + len(again)
        with self.reg.transaction():
            stream = itertools.chain(self._again(again), self._archived(todo))
            for archived, ex in examine_stream(self.ctx, stream):
                f, sha, earlier = self.in_flight.pop(archived)
                if earlier is not None:
                    self._reexamined(earlier, f, sha, ex)
                    continue
                if self.first_of.get(sha) == f.rel:
                    del self.first_of[sha]
                self._recorded(f, sha, ex)
            self._commit(final=True)

    def _again(self, records: list[FileRecord]) -> Iterator[str]:
        """Files rejected before, read again from their archived copies."""
        for record in records:
            assert record.sha256 is not None
            path = self.archive.find(record.sha256)
            if path is None or path in self.in_flight:
                continue  # no copy (never archived), or the same bytes already going
            f = Found(record.path, "", record.size, record.mtime_ns, None)
            self.in_flight[path] = (f, record.sha256, record)
            yield path

    def _reexamined(self, record: FileRecord, f: Found, sha: str, ex: Examined) -> None:
        ex = relabel(ex, f.rel, self.ctx.team_ids or frozenset())
        claimed = ex.claimed if ex.claimed and ex.outcome == "rejected" else ("", "")
        self.reg.update_file(record.id, ex.outcome, ex.reason, ex.code, claimed, self.basis)
        self.summary.again[ex.outcome] += 1
        if ex.reason:
            self.summary.reasons.append((f.rel, ex.outcome, ex.reason))
        if ex.outcome == "accepted" and ex.identity and ex.document is not None:
            first_seen = record.seen_at
            self._across_years(ex, f.rel)
            _submit(self.reg, self.ws, f, sha, record.id, ex, self.now, first_seen)
            self.touched.add((ex.identity["cycle"], ex.identity["team_id"], ex.identity["form"]))
        self._count()

    def _archived(self, todo: list[Found]) -> Iterator[str]:
        """Archive each file in turn; record at once those that need no reading."""
        for f in todo:
            if f.ignore:
                self._record(f, None, "ignored", render(f.ignore, limit=MAX_DEPTH), f.ignore)
                continue
            copied = self._copy(f)
            if copied.problem:
                code = copied.problem
                outcome = _PROBLEM_OUTCOMES.get(code, "ignored")
                self._record(f, None, outcome, render(code, limit=MAX_DEPTH), code)
                continue
            sha, archived = copied.sha256, copied.path
            self._sighting(f, sha)
            earlier = self.first_of.get(sha)
            record = None
            if earlier is None:
                record = self.reg.first_file_with(sha)
                earlier = record.path if record else None
            if earlier:
                if record is None or not self._resent(f, sha, record):
                    reason = render(Code.FILE_DUPLICATE, first=earlier)
                    self._record(f, sha, "duplicate", reason, Code.FILE_DUPLICATE)
                continue
            self.first_of[sha] = f.rel
            self.in_flight[archived] = (f, sha, None)
            yield archived

    def _copy(self, f: Found) -> Copied:
        return self.archive.add(os.path.join(f.folder, f.rel), f.size, f.mtime_ns, f.rel)

    def _sighting(self, f: Found, sha: str) -> None:
        """Keep the file's path and times beside its archived copy, for `rebuild`."""
        seen = {"path": f.rel, "size": f.size, "mtime_ns": f.mtime_ns}
        then = {"seen_at": self.now, "cycle": self.ws.cycle, "due": self.ws.due.isoformat()}
        self.archive.note(sha, {**seen, **then})

    def _resent(self, f: Found, sha: str, record: FileRecord) -> bool:
        """An earlier version sent again (the same bytes as an accepted return that is no
        longer the team's current one) becomes the current return again, received at
        its file time if that is later than the current return's, else when first seen."""
        if record.outcome != "accepted":
            return False
        earlier = self.reg.submission_of_file(record.id)
        if earlier is None:
            return False
        key = (earlier.cycle, earlier.team_id, earlier.form)
        current = self.reg.current_submission(*key)
        if current is None or current.sha256 == sha:
            return False  # it is the current return already (a touch, or a copy)
        if key in self.touched:  # settle what this run recorded first, then compare
            self.reg.refresh_current(*key)
            self.touched.discard(key)
            current = self.reg.current_submission(*key)
            if current is None or current.sha256 == sha:
                return False
        reason = render(Code.FILE_RESENT, first=record.path)
        file_id = self._record(f, sha, "accepted", reason, Code.FILE_RESENT)
        ex = Examined(
            "accepted",
            identity={
                "team_id": earlier.team_id,
                "form": earlier.form,
                "form_version": earlier.form_version,
                "cycle": earlier.cycle,
            },
            document=earlier.document,
            issues=[i.in_file(f.rel) for i in earlier.issues if i.code not in _FRESH_CODES],
        )
        ex.issues.append(issue(Code.FILE_RESENT, f.rel, first=record.path))
        received = _received(f)
        if received <= dt.datetime.fromisoformat(current.received_at):
            f = Found(f.rel, f.folder, f.size, _ns(self.now), None)  # received when first seen
        _submit(self.reg, self.ws, f, sha, file_id, ex, self.now)
        self.touched.add(key)
        return True

    def _recorded(self, f: Found, sha: str, ex: Examined) -> None:
        ex = relabel(ex, f.rel, self.ctx.team_ids or frozenset())
        file_id = self._record(f, sha, ex.outcome, ex.reason, ex.code, ex.claimed)
        if ex.outcome == "accepted" and ex.identity and ex.document is not None:
            self._across_years(ex, f.rel)
            _submit(self.reg, self.ws, f, sha, file_id, ex, self.now)
            self.touched.add((ex.identity["cycle"], ex.identity["team_id"], ex.identity["form"]))

    def _across_years(self, ex: Examined, file: str) -> None:
        """Add the cross-year queries (pack data) a return raises against the same team's
        return of the previous cycle, read in this process with one query per run."""
        assert ex.identity is not None and ex.document is not None
        ex.issues.extend(self.previous.issues(ex.identity, ex.document, ex.issues, file))

    def _record(
        self,
        f: Found,
        sha: str | None,
        outcome: str,
        reason: str,
        code: str,
        claimed: tuple[str, str] | None = None,
    ) -> int:
        if self.retrying.get((f.rel, f.size, f.mtime_ns)) == code:
            self._count()  # tried again, and still the same: recorded already
            return 0
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
            self.basis,
        )
        self._count()
        return file_id

    def _count(self) -> None:
        self.done += 1
        if self.done % BATCH == 0:
            self._commit()

    def _commit(self, final: bool = False) -> None:
        for key in self.touched:
            self.reg.refresh_current(*key)
        self.touched.clear()
        self.archive.flush()
        # The archive copies reach the disk before the register says they exist.
        os.sync()
        if not final:
            self.reg.checkpoint()
        if self.progress:
            self.progress(self.done, self.total)


# Issues about a receipt, not the answers: worked out afresh when a version is sent again.
_FRESH_CODES = {Code.STATUS_LATE, Code.STATUS_FUTURE_TIME, Code.FILE_RESENT}
FUTURE_SLACK = dt.timedelta(minutes=10)  # clocks on a share may differ by a little


def _received(f: Found) -> dt.datetime:
    """The file's own time (UTC, to the second)."""
    return dt.datetime.fromtimestamp(f.mtime_ns / 1e9, dt.UTC).replace(microsecond=0)


def _ns(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).timestamp() * 1e9)


def _submit(
    reg: Register,
    ws: Workspace,
    f: Found,
    sha: str,
    file_id: int,
    ex: Examined,
    now: str,
    first_seen: str | None = None,
) -> None:
    """Record an accepted return. It was received at its file time, unless that is in the
    future (a wrong clock, or a file stamped to stay current): then when collect first saw
    it, with a query. Late means received after the due date in the council's time zone."""
    received = _received(f)
    seen = dt.datetime.fromisoformat(first_seen or now).replace(microsecond=0)
    issues = list(ex.issues)
    if received > seen + FUTURE_SLACK:
        local = received.astimezone(ws.tz)
        issues.append(
            issue(
                Code.STATUS_FUTURE_TIME,
                f.rel,
                stamp=f"{local:%d/%m/%Y %H:%M}",
                received=f"{seen.astimezone(ws.tz):%d/%m/%Y %H:%M}",
            )
        )
        received = seen
    day = received.astimezone(ws.tz).date()
    late = day > ws.due  # decided once, here: the register keeps it as it was judged
    if late:  # and asked about, as a query the team may explain
        issues.append(
            issue(Code.STATUS_LATE, f.rel, received=f"{day:%d/%m/%Y}", due=f"{ws.due:%d/%m/%Y}")
        )
    assert ex.identity is not None and ex.document is not None
    submission = reg.add_submission(
        file_id,
        sha,
        f.rel,
        ex.identity,
        ex.valid,
        ex.document,
        issues,
        received.isoformat(),
        now,
        late=late,
    )
    if ex.explanations:  # a returned feedback workbook: keep each explained query's text
        _explained(reg, submission, ex, issues, received.isoformat())


def _explained(
    reg: Register, submission: int, ex: Examined, issues: list[Issue], received: str
) -> None:
    """Record the explanations that answer a query this submission raises."""
    assert ex.identity is not None
    fields = {explain.key_of(i): i.label for i in issues}
    rows = [
        (k.code, k.sheet, k.cell, fields.get(k, ""), text)
        for k, text in explain.answered(ex.explanations, issues).items()
    ]
    if rows:
        reg.add_explanations(submission, ex.identity, received, rows)


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
    basis: str = "",
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
        basis=basis,
    )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


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
