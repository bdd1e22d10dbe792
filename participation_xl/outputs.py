"""Writing outputs safely: atomically, and with user text always kept as text."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

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
    and return that path instead, so the caller can say where the output went.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are for people to open
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.replace(tmp, path)
        except PermissionError:
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            path = path.with_name(f"{path.stem} ({stamp}){path.suffix}")
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
