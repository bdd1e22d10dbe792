"""A workspace: participation.toml, the roster, the outbox, the returns and the register.

A workspace is a folder, like a git checkout. Its settings are validated against
schemas/config.schema.json when loaded, so a mistake is reported before any work starts.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import secrets
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import BusyError, ConfigError
from .messages import Code, render
from .pack import Pack, builtin_schema, explainer, load_pack
from .roster import write_starter_roster

CONFIG_NAME = "participation.toml"
STATE_DIR = ".participation"
SECRET_NAME = "secret.key"  # noqa: S105 (a file name, not a secret)
REGISTER_NAME = "register.sqlite"
LOCK_NAME = "run.lock"
CYCLES_DIR = "cycles"  # cycles/<cycle>/outbox and /reports: a finished cycle's files (cycle.py)
DEFAULT_TIMEZONE = "Europe/London"
KEY_BYTES = 32  # HMAC-SHA256 wants a key as long as its output: 32 random bytes
# Random bytes: 32 of them hold 8 or fewer distinct values with odds far below 1e-20, so
# a key like that was typed or truncated by a person (all zeros, "aaaa..."), not drawn.
KEY_DISTINCT_MIN = 9


@dataclass
class Workspace:
    """A loaded, validated workspace."""

    root: Path
    council: str
    cycle: str
    due: dt.date
    roster_path: Path
    returns_dir: Path
    sheet_password: str
    return_to: str = ""
    pack_dir: Path | None = None
    forms_override: dict[str, list[str]] = field(default_factory=dict)
    timezone: str = DEFAULT_TIMEZONE  # the council's: it says which day a file arrived on
    coordinator: str = ""  # who records review decisions; blank: the login name
    require_approval: bool = False  # [review]: a return counts only once approved

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @cached_property
    def secret(self) -> bytes:
        return read_secret(self.state_dir / SECRET_NAME)

    @cached_property
    def pack(self) -> Pack:
        return load_pack(self.pack_dir)

    def forms_for(self, kind: str) -> list[str]:
        """The form ids a team of this kind receives (config overrides the pack)."""
        forms = self.forms_override.get(kind, self.pack.forms_for_kind.get(kind, []))
        unknown = [f for f in forms if f not in self.pack.forms]
        if unknown:
            raise ConfigError.of(
                Code.CONFIG_FORMS_UNKNOWN,
                path=self.root / CONFIG_NAME,
                kind=kind,
                unknown=", ".join(unknown),
                forms=", ".join(self.pack.forms),
            )
        return forms

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # checked when the workspace was loaded

    @property
    def return_instructions(self) -> str:
        return self.return_to or f"the shared folder '{self.returns_dir.name}'"


def read_secret(path: Path) -> bytes:
    """The workspace key: at least 32 random bytes, stored as hex. Anything else (empty,
    short, not hex, unreadable, plainly not random) is missing or damaged, because a short
    key signs workbooks that anyone could forge, and a wrong one rejects every return."""
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        problem = "there is no key file"
    except OSError as err:
        problem = f"it cannot be read: {err.strerror or err}"
    except ValueError:
        problem = "it is not the hex text the key is kept as"
    else:
        if len(key) < KEY_BYTES:
            problem = f"it is {len(key)} byte(s); a key is at least {KEY_BYTES} random bytes"
        elif len(set(key)) < KEY_DISTINCT_MIN:
            problem = "its bytes repeat, so it was not made at random"
        else:
            return key
    raise ConfigError.of(Code.KEY_DAMAGED, path=path, problem=problem)


def find_root(start: str | Path | None = None) -> Path:
    """The workspace folder: `start` itself, or the nearest parent with participation.toml."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    raise ConfigError.of(Code.CONFIG_NOT_FOUND, path=here, config=CONFIG_NAME)


def load_workspace(start: str | Path | None = None) -> Workspace:
    """Find, read and validate a workspace's participation.toml."""
    root = find_root(start)
    path = root / CONFIG_NAME
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError.of(Code.CONFIG_UNREADABLE, path=path, detail=err) from err
    _check_config(path, data)
    pack = data.get("pack") or None
    return Workspace(
        root=root,
        council=data["council"],
        cycle=data["cycle"],
        due=_config_due(path, data),
        roster_path=root / data["roster"],
        returns_dir=root / data["returns"],
        sheet_password=data["sheet_password"],
        return_to=data.get("return_to", ""),
        pack_dir=(root / pack) if pack else None,
        forms_override=data.get("forms", {}),
        timezone=_config_timezone(path, data),
        coordinator=" ".join(data.get("coordinator", "").split()),
        require_approval=data.get("review", {}).get("require_approval", False),
    )


def _config_timezone(path: Path, data: dict[str, Any]) -> str:
    name = data.get("timezone") or DEFAULT_TIMEZONE
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError.of(
            Code.CONFIG_TIMEZONE, path=path, name=name, default=DEFAULT_TIMEZONE
        ) from err
    return name


def _check_config(path: Path, data: dict[str, Any]) -> None:
    validator = explainer(builtin_schema("config"))
    problems = [
        f"{'.'.join(map(str, e.path)) or 'the file'}: {e.message}"
        for e in validator.iter_errors(data)
    ]
    if problems:
        raise ConfigError.of(Code.CONFIG_INVALID, path=path, problems="; ".join(problems))
    check_cycle(data["cycle"])


def _config_due(path: Path, data: dict[str, Any]) -> dt.date:
    try:
        due = parse_date(data["due"])
        check_due(data["cycle"], due)
    except (ValueError, ConfigError) as err:
        raise ConfigError.of(Code.CONFIG_DUE, path=path, detail=err) from err
    return due


def check_cycle(cycle: str) -> None:
    """A cycle is two consecutive years, like 2026-27."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", cycle)
    if not m or (int(m.group(1)) + 1) % 100 != int(m.group(2)):
        raise ConfigError.of(Code.CONFIG_CYCLE, cycle=cycle)


def cycle_start(cycle: str) -> dt.date:
    """The first day of a cycle: 2026-27 is the English local-authority financial year
    that starts on 1 April 2026 (and ends on 31 March 2027)."""
    check_cycle(cycle)
    return dt.date(int(cycle[:4]), 4, 1)


def check_due(cycle: str, due: dt.date) -> None:
    """A due date must fall on or after the day its cycle starts."""
    start = cycle_start(cycle)
    if due < start:
        raise ConfigError.of(
            Code.CONFIG_DUE_BEFORE_CYCLE,
            due=f"{due:%d/%m/%Y}",
            cycle=cycle,
            start=f"{start:%d/%m/%Y}",
            example=f"{dt.date(start.year + 1, 3, 31):%d/%m/%Y}",
        )


_DAY_FIRST = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def parse_date(text: str) -> dt.date:
    """A date as a person types it: day first (31/03/2027, 31-03-2027, 31.03.2027) or ISO
    (2027-03-31). Anything else, or a day that does not exist, is a ValueError."""
    value = str(text).strip()
    day_first, iso = _DAY_FIRST.fullmatch(value), _ISO.fullmatch(value)
    if day_first:
        return _day(value, int(day_first[3]), int(day_first[2]), int(day_first[1]))
    if iso:
        return _day(value, int(iso[1]), int(iso[2]), int(iso[3]))
    raise ValueError(render(Code.DATE_NOT_A_DATE, value=value))


def _day(text: str, year: int, month: int, day: int) -> dt.date:
    """The date, or a ValueError that says which part does not exist (29 February 2027)."""
    try:
        return dt.date(year, month, day)
    except ValueError:
        pass
    if not 1 <= month <= 12 or year < 1:
        part = f"month {month} (months are 1 to 12)" if year >= 1 else "year 0"
        raise ValueError(render(Code.DATE_NO_SUCH_PART, value=text, part=part)) from None
    last = calendar.monthrange(year, month)[1]
    name = f"{calendar.month_name[month]} {year}"
    why = (
        f" ({year} is not a leap year)"
        if month == 2 and day == 29
        else f" ({calendar.month_name[month]} has {last} days)"
    )
    example = f"{min(max(day, 1), last):02d}/{month:02d}/{year}"
    raise ValueError(
        render(Code.DATE_NO_SUCH_DAY, value=text, day=f"{day} {name}", why=why, example=example)
    ) from None


def init_workspace(
    directory: str | Path,
    council: str,
    cycle: str,
    due: dt.date,
    return_to: str = "",
    coordinator: str = "",
) -> Workspace:
    """Make a new workspace with a secret key and a starter roster; never overwrite one.

    `return_to` says, in the coordinator's own words, where teams return their workbooks
    (shown on every workbook's Instructions sheet); `coordinator` is the name recorded with
    review decisions and signed under email drafts (blank: the login name)."""
    root = Path(directory).resolve()
    check_free(root, "init")
    check_cycle(cycle)
    check_due(cycle, due)
    if not council.strip():
        raise ConfigError.of(Code.CONFIG_COUNCIL_REQUIRED)
    return_to = " ".join(return_to.split())  # one line: it is a sentence on the workbook
    limit = builtin_schema("config")["properties"]["return_to"]["maxLength"]
    if len(return_to) > limit:
        raise ConfigError.of(Code.CONFIG_RETURN_TO_TOO_LONG, length=len(return_to), limit=limit)
    root.mkdir(parents=True, exist_ok=True)
    state = root / STATE_DIR
    state.mkdir(exist_ok=True)
    _write_secret(state / SECRET_NAME)
    for sub in ("outbox", "returns", "reports"):
        (root / sub).mkdir(exist_ok=True)
    values = {
        "council": council.strip(),
        "cycle": cycle,
        "due": due.isoformat(),
        "roster": "teams.xlsx",
        "returns": "returns",
        "return_to": return_to,
        "coordinator": " ".join(coordinator.split()),
        "pack": "",
        "sheet_password": secrets.token_urlsafe(9),
    }
    with (root / CONFIG_NAME).open("x", encoding="utf-8") as fh:  # "x": never over a file
        fh.write(_config_text(values))
    write_starter_roster(root / STARTER_ROSTER)
    return load_workspace(root)


STARTER_ROSTER = "teams.xlsx"
WORKSPACE_FOLDERS = ("outbox", "returns", "reports", STATE_DIR)


def check_free(root: Path, command: str) -> None:
    """Refuse, before anything is written, a folder where `command` (init, demo) would
    write over something: a coordinator's roster, settings or key is never replaced."""
    if _present(root) and not root.is_dir():
        raise ConfigError.of(Code.WORKSPACE_EXISTS, paths=root, command=command)
    key = root / STATE_DIR / SECRET_NAME
    if _present(key) and not _present(root / CONFIG_NAME):
        raise ConfigError.of(Code.WORKSPACE_ORPHAN_KEY, path=key)
    taken = [root / name for name in (CONFIG_NAME, STARTER_ROSTER, STATE_DIR + "/" + SECRET_NAME)]
    taken = [p for p in taken if _present(p)]
    taken += [
        root / name
        for name in WORKSPACE_FOLDERS
        if _present(root / name) and not (root / name).is_dir()
    ]
    if taken:
        paths = ", ".join(str(p) for p in taken)
        raise ConfigError.of(Code.WORKSPACE_EXISTS, paths=paths, command=command)


def _present(path: Path) -> bool:
    """Anything at `path`, even a link to nothing (which os.replace would replace)."""
    return path.is_symlink() or path.exists()


def _write_secret(path: Path) -> None:
    # O_EXCL: never replace an existing key, which would orphan every issued workbook.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(32) + "\n")


def _config_text(v: dict[str, str]) -> str:
    q = json.dumps  # a JSON string is a valid TOML basic string
    return f"""# participation-xl workspace settings. Edit with care; see the README.
council = {q(v["council"])}
cycle = {q(v["cycle"])}
# The due date, day first (31/03/2027) or 2027-03-31. Returns received after it are late.
due = {q(v["due"])}
# The council's time zone: it decides the day a return was received on, so whether it is late.
timezone = "Europe/London"
# The roster: one row per team (teams.xlsx or a .csv with the same columns).
roster = {q(v["roster"])}
# The shared folder teams return workbooks to. collect only ever reads it.
returns = {q(v["returns"])}
# Where teams return workbooks, in your own words, for the Instructions sheet; for example
# "the Participation returns folder on SharePoint, or email participation@example.gov.uk".
# Blank: the name of the returns folder.
return_to = {q(v["return_to"])}
# Your name, recorded with every review decision (blank: your login name).
coordinator = {q(v["coordinator"])}
# A template pack folder (with workbook_templates/ and schemas/); blank for the built-in pack.
pack = {q(v["pack"])}
# Stops accidental edits to locked cells. It is not security: the signed identity is.
sheet_password = {q(v["sheet_password"])}

# Which forms go to which kind of team: the pack's own [forms] (in its pack.toml) unless
# you name them here, for example:
# [forms]
# internal = ["form id", ...]
# commissioned = ["form id", ...]

# The coordinator's review (participation-xl review, or reports/review.xlsx).
[review]
# true: a return counts in the compliance figures only once you have approved it.
require_approval = false
"""


def returns_folder(ws: Workspace, folder: str | Path | None = None) -> Path:
    """The shared folder to collect from, checked not to overlap the workspace's own files.

    Returns that are the workspace (".", ".."), or sit among its outputs or state, would
    read back its own blank and feedback workbooks as teams' returns, and copy the secret
    key into the archive. A returns folder inside the workspace, apart from those, is fine
    (the default is ./returns)."""
    source = Path(folder) if folder else ws.returns_dir
    if not source.is_dir():
        raise ConfigError.of(Code.CONFIG_RETURNS_MISSING, path=source)
    real, root = source.resolve(), ws.root.resolve()
    own = [root / STATE_DIR, ws.outbox.resolve(), ws.reports_dir.resolve(), root / CYCLES_DIR]
    if real == root or real in root.parents or any(_within(real, p) for p in own):
        raise ConfigError.of(Code.CONFIG_RETURNS_OVERLAP, path=source, root=root)
    return source


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def register_path(ws: Workspace) -> Path:
    """The register: one SQLite file in the workspace's state folder."""
    return ws.state_dir / REGISTER_NAME


# --- the run lock -------------------------------------------------------------------------


@contextlib.contextmanager
def run_lock(ws: Workspace, wait: float = 30.0) -> Iterator[None]:
    """One collect or report at a time per workspace: wait a while, then say who holds it."""
    ws.state_dir.mkdir(parents=True, exist_ok=True)
    path = ws.state_dir / LOCK_NAME
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
                    raise BusyError.of(Code.BUSY_RUNNING, holder=holder) from err
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
    leftovers = [
        *(ws.state_dir / "archive").glob(".incoming.*"),
        *(ws.state_dir / "backups").glob(".register-*.tmp"),
        *ws.reports_dir.rglob(".*.tmp"),
    ]
    for path in leftovers:
        path.unlink(missing_ok=True)
