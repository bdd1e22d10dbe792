"""Writing outputs safely: atomically, and with user text always kept as text."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import errno
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError
from .messages import Code, render

# XlsxWriter turns strings that start with "=" into formulas and URL-like strings into
# links by default. User text must stay inert text in every workbook we write.
SAFE_WORKBOOK_OPTIONS = {
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "in_memory": True,
}


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write to a temporary file beside `path`, then os.replace: readers see old or new, whole.

    If the target is locked (open in Excel on a share), write beside it under a dated name
    and return that path instead, so the caller can say where the output went. Inside
    `all_or_nothing()`, the file is only staged: it replaces `path` when the set commits.
    """
    path = Path(path)
    stage = _STAGE.get()
    if stage is not None:
        return stage.write(path, data)
    tmp = _temp_beside(path, data)
    try:
        return _replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_output(path: Path) -> None:
    """Remove an output of ours that is no longer wanted (with the set, when staged)."""
    stage = _STAGE.get()
    if stage is not None:
        stage.removals.append(path)
    else:
        path.unlink(missing_ok=True)


def _temp_beside(path: Path, data: bytes) -> str:
    """`data` in a new temporary file in `path`'s folder (so os.replace is atomic), synced.
    Its name starts with "." and ends ".tmp": a killed run's leftovers are swept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are for people to open
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _replace(tmp: str, path: Path) -> Path:
    try:
        os.replace(tmp, path)
    except PermissionError:
        if path.is_dir():
            raise
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = path.with_name(f"{path.stem} ({stamp}){path.suffix}")
        os.replace(tmp, path)
    return path


class Staged:
    """A set of outputs written to temporary files first, then put in place together.

    Every file is written (the slow part, where a full disk or a read-only folder shows)
    before any old one is touched. Then each is replaced, keeping the old one aside under
    a temporary name; if any step fails, what was replaced is put back. So the reports are
    all new or all as they were: never a new register beside old chasers."""

    def __init__(self) -> None:
        self.writes: dict[Path, str] = {}  # target -> staged temporary file
        self.removals: list[Path] = []
        self.written: dict[Path, Path] = {}  # target -> where it went (a dated name if locked)

    def write(self, path: Path, data: bytes) -> Path:
        if path.is_dir():  # found now, not halfway through replacing the set
            raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
        tmp = _temp_beside(path, data)
        old = self.writes.pop(path, None)
        if old:
            Path(old).unlink(missing_ok=True)
        self.writes[path] = tmp
        return path

    def discard(self) -> None:
        for tmp in self.writes.values():
            Path(tmp).unlink(missing_ok=True)
        self.writes.clear()

    def commit(self) -> None:
        undo: list[tuple[Path, str | None, Path]] = []  # (target, its old copy, written to)
        try:
            for target, tmp in list(self.writes.items()):
                old = _set_aside(target, keep=True)
                undo.append((target, old, target))
                written = _replace(tmp, target)
                undo[-1] = (target, old, written)
                self.written[target] = written
                del self.writes[target]
            for target in self.removals:
                if target.is_file():
                    undo.append((target, _set_aside(target, keep=False), target))
        except BaseException:
            self.discard()
            _undo(undo)
            self.written.clear()
            raise
        for _target, old, _written in undo:
            if old:
                Path(old).unlink(missing_ok=True)


def _set_aside(target: Path, keep: bool) -> str | None:
    """A temporary name for `target`'s current content, or None if there is none: a hard
    link when the file stays until replaced (`keep`), else a rename."""
    if not target.is_file():
        return None
    aside = f"{target.parent}/.{target.name}.{os.getpid()}.{next(_COUNTER)}.old.tmp"
    if keep:
        try:
            os.link(target, aside)
        except OSError:
            shutil.copy2(target, aside)  # a file system without hard links
    else:
        os.replace(target, aside)
    return aside


def _undo(undo: list[tuple[Path, str | None, Path]]) -> None:
    """Put back what a failed commit changed, newest first; best effort, never raising."""
    for target, old, written in reversed(undo):
        with contextlib.suppress(OSError):
            if old and target.exists() and target.samefile(old):
                Path(old).unlink()  # never replaced: rename() between two links does nothing
                if written != target:
                    written.unlink(missing_ok=True)
            elif old:
                os.replace(old, target)
                if written != target:
                    written.unlink(missing_ok=True)
            elif written.is_file():
                written.unlink()


_STAGE: contextvars.ContextVar[Staged | None] = contextvars.ContextVar("stage", default=None)
_COUNTER = itertools.count()


@contextlib.contextmanager
def all_or_nothing() -> Iterator[Staged]:
    """Outputs written inside the block (atomic_write_bytes, remove_output) take effect
    together when it ends without an error, or not at all."""
    stage = Staged()
    token = _STAGE.set(stage)
    try:
        yield stage
    except BaseException:
        stage.discard()
        raise
    finally:
        _STAGE.reset(token)
    stage.commit()


def as_written(path: Path) -> Path:
    """Where an output's new bytes are now: inside `all_or_nothing`, the staged temporary
    file (the target is replaced only when the set is done), else the path itself. For
    outputs built from other outputs (a draft email attaching a feedback workbook)."""
    stage = _STAGE.get()
    staged = stage.writes.get(path) if stage else None
    return Path(staged) if staged else path


def output_error(err: OSError, folder: Path) -> OutputError:
    """An OS error met while writing outputs into `folder`, as a message naming the file
    in the way and what to do (every output was left as it was)."""
    path = Path(err.filename) if err.filename else folder
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if isinstance(err, (FileExistsError, NotADirectoryError)) and blocker is not None:
        code, path = Code.OUTPUT_IS_A_FILE, blocker
    elif isinstance(err, IsADirectoryError):
        code = Code.OUTPUT_IS_A_FOLDER
    else:
        code = Code.OUTPUT_FAILED
    detail = err.strerror or str(err) or type(err).__name__
    return OutputError(render(code, path=path, detail=detail), code)
