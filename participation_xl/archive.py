"""The archive: a content-addressed copy of every file collect read, and where it came from.

Each distinct file is kept once, as `.participation/archive/<ab>/<sha256><suffix>`. Beside
the copies, `archive/sightings/<run>.jsonl` logs every sighting, one line a file: the
SHA-256, the path in the shared folder, size and modification time, when collect first saw
it, and the cycle and due date then. The register can be rebuilt from these alone
(`participation-xl rebuild`). One log per run, appended once per batch, costs a few
microseconds a file, where a JSON file per copy cost about 2 ms (measured).

Files are opened without following links and without blocking (a FIFO or a link to
/dev/zero swapped in after the scan can neither hang collect nor feed it without end),
only regular files are taken, and no more than MAX_FILE_BYTES is ever read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import itertools
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .messages import Code

# A return is ~50 KB; a workbook with pictures a few MB. Anything over this is not a return:
# it is rejected without being copied, so junk cannot fill the archive (see README).
MAX_FILE_BYTES = 32 * 1024 * 1024
SIGHTINGS = "sightings"  # the logs of where each archived file was seen, and when
SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".csv", ".bin")
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Copied:
    """What adding a file to the archive gave: its SHA-256 and archived copy, or the
    catalogue code of why it was not taken (and then sha256 is "")."""

    sha256: str = ""
    path: str = ""
    problem: Code | None = None


class Archive:
    """The archive of one workspace, for one run (it remembers the folders it made)."""

    def __init__(self, state_dir: Path) -> None:
        self.root = str(state_dir / "archive")
        os.makedirs(self.root, exist_ok=True)
        self.made: set[str] = set()  # the 256 sub-folders, made once each
        self.incoming = os.path.join(self.root, f".incoming.{os.getpid()}.")
        self.count = itertools.count()
        self.pending: list[dict[str, Any]] = []  # sightings not yet written
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-%f")
        self.log_name = f"{stamp}-{os.getpid()}.jsonl"
        self.never: set[tuple[int, int]] = set()  # (device, inode) of files never to copy
        key = state_dir / "secret.key"
        with contextlib.suppress(OSError):
            st = key.stat()
            self.never.add((st.st_dev, st.st_ino))

    def add(self, source: str, size: int, mtime_ns: int, name: str) -> Copied:
        """Hash the file while copying it in, if it is still the file the scan saw."""
        try:
            fd = os.open(source, _OPEN_FLAGS)
        except OSError as err:
            return Copied(problem=_open_problem(err))
        tmp = f"{self.incoming}{next(self.count)}"
        kept = False
        try:
            with os.fdopen(fd, "rb", buffering=0) as src:
                st = os.fstat(src.fileno())
                if not stat.S_ISREG(st.st_mode):
                    return Copied(problem=Code.FILE_NOT_REGULAR)
                if (st.st_dev, st.st_ino) in self.never:
                    return Copied(problem=Code.FILE_SECRET_KEY)
                if st.st_size > MAX_FILE_BYTES:
                    return Copied(problem=Code.READ_TOO_LARGE)
                if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
                    return Copied(problem=Code.READ_CHANGING)  # still being written: next run
                digest, total = hashlib.sha256(), 0
                with open(tmp, "xb") as out:
                    # The cap holds whatever the scan said: a file that grows is stopped.
                    while chunk := src.read(min(1 << 20, MAX_FILE_BYTES + 1 - total)):
                        total += len(chunk)
                        if total > MAX_FILE_BYTES:
                            return Copied(problem=Code.READ_TOO_LARGE)
                        digest.update(chunk)
                        out.write(chunk)
                after = os.fstat(src.fileno())
            if (after.st_size, after.st_mtime_ns, total) != (size, mtime_ns, size):
                return Copied(problem=Code.READ_CHANGING)
            sha = digest.hexdigest()
            target = self.path_for(sha, suffix_of(name), make=True)
            if not os.path.exists(target):
                os.replace(tmp, target)
                kept = True
            return Copied(sha, target)
        except OSError as err:
            return Copied(problem=_open_problem(err))
        finally:
            if not kept:  # a copy not needed (already kept, or not taken): leave no trace
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)

    def path_for(self, sha: str, suffix: str, make: bool = False) -> str:
        folder = os.path.join(self.root, sha[:2])
        if make and folder not in self.made:
            os.makedirs(folder, exist_ok=True)
            self.made.add(folder)
        return os.path.join(folder, sha + suffix)

    def find(self, sha: str) -> str | None:
        """The archived copy of these bytes, whatever suffix it was kept under."""
        for suffix in SUFFIXES:
            path = self.path_for(sha, suffix)
            if os.path.exists(path):
                return path
        return None

    def note(self, sha: str, sighting: dict[str, Any]) -> None:
        """Keep a sighting of these bytes, for `flush` to write with the batch."""
        self.pending.append({"sha256": sha, **sighting})

    def flush(self) -> None:
        """Append this batch's sightings to the run's log, before the register commits
        them (the caller syncs). One file a run, one line a file: a run killed mid-line
        leaves a torn last line, which is skipped; its files are seen again next run."""
        if not self.pending:
            return
        folder = os.path.join(self.root, SIGHTINGS)
        os.makedirs(folder, exist_ok=True)
        lines = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in self.pending)
        with open(os.path.join(folder, self.log_name), "a", encoding="utf-8") as fh:
            fh.write(lines)
        self.pending.clear()

    def sightings(self) -> Iterator[dict[str, Any]]:
        """Every sighting ever logged, oldest log first (a damaged line is skipped)."""
        folder = Path(self.root) / SIGHTINGS
        for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else ():
            with path.open(encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        data = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(data, dict) and isinstance(data.get("sha256"), str):
                        yield data


def _open_problem(err: OSError) -> Code:
    if err.errno == errno.ELOOP:
        return Code.FILE_SYMLINK  # swapped for a link after the scan: never followed
    if err.errno in (errno.EACCES, errno.EPERM):
        return Code.READ_NO_PERMISSION
    if err.errno in (errno.ENXIO, errno.ENODEV, errno.EISDIR):
        return Code.FILE_NOT_REGULAR
    return Code.READ_CHANGING  # gone, or moved, since the scan: looked at again next run


def suffix_of(name: str) -> str:
    suffix = os.path.splitext(name)[1].lower()
    return suffix if suffix in SUFFIXES[:-1] else ".bin"
