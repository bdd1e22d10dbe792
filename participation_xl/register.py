"""The register: an embedded SQLite database of every file seen and every submission.

Everything a report says comes from here. Writes happen in transactions, so a run that is
killed leaves the register as it was before that batch; the next run completes the job.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import RegisterError
from .issues import Issue
from .messages import Code, render
from .place import Place, parse

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,            -- relative to the returns folder
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT,
    outcome TEXT NOT NULL,         -- accepted | rejected | duplicate | ignored | pending
    reason TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL DEFAULT '',
    seen_at TEXT NOT NULL,
    cycle TEXT NOT NULL DEFAULT '',          -- the cycle being collected when it was seen
    claimed_team TEXT NOT NULL DEFAULT '',   -- a rejected file: the team its identity names
    claimed_form TEXT NOT NULL DEFAULT '',   -- ... and the form
    basis TEXT NOT NULL DEFAULT ''           -- fingerprint of the workspace it was judged by
);
CREATE INDEX IF NOT EXISTS files_path ON files(path, size, mtime_ns);
CREATE INDEX IF NOT EXISTS files_sha ON files(sha256);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files(id),
    sha256 TEXT NOT NULL,
    file_name TEXT NOT NULL,
    team_id TEXT NOT NULL,
    form TEXT NOT NULL,
    form_version TEXT NOT NULL,
    cycle TEXT NOT NULL,
    valid INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    queries INTEGER NOT NULL,
    document TEXT NOT NULL,        -- the normalised answers, as JSON
    issues TEXT NOT NULL,          -- '[]': the issues are rows of `issues` (older: JSON)
    received_at TEXT NOT NULL,     -- the file's modification time (ISO, UTC)
    recorded_at TEXT NOT NULL,
    current INTEGER NOT NULL DEFAULT 0,
    late INTEGER NOT NULL DEFAULT 0  -- received after the due date, as collect judged it
);
CREATE INDEX IF NOT EXISTS submissions_key ON submissions(cycle, team_id, form);
CREATE TABLE IF NOT EXISTS issues (
    id INTEGER PRIMARY KEY,
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    code TEXT NOT NULL,            -- the catalogue code
    sheet TEXT NOT NULL,           -- the place: sheet, 1-based row and column, table row
    row INTEGER NOT NULL,          -- (0: the whole sheet, or with no sheet the whole return)
    col INTEGER NOT NULL,
    table_row INTEGER NOT NULL,
    path TEXT NOT NULL,            -- the answer's path in the document ('' for the return)
    label TEXT NOT NULL,           -- the question in words
    issue_values TEXT NOT NULL,    -- what the message names, as a JSON object
    file TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT ''  -- only for issues moved from an older register
);
CREATE INDEX IF NOT EXISTS issues_submission ON issues(submission_id);
CREATE TABLE IF NOT EXISTS explanations (
    id INTEGER PRIMARY KEY,
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    cycle TEXT NOT NULL,
    team_id TEXT NOT NULL,
    form TEXT NOT NULL,
    code TEXT NOT NULL,            -- the query's catalogue code
    sheet TEXT NOT NULL,           -- the answer's sheet and cell ('' for the whole return)
    cell TEXT NOT NULL,
    field TEXT NOT NULL,           -- the question in words, as the query named it
    text TEXT NOT NULL,            -- the team's explanation
    received_at TEXT NOT NULL      -- the submission's file time: the latest explanation wins
);
CREATE INDEX IF NOT EXISTS explanations_key ON explanations(cycle, team_id, form);
CREATE TABLE IF NOT EXISTS issued (
    id INTEGER PRIMARY KEY,
    cycle TEXT NOT NULL,
    team_id TEXT NOT NULL,
    team_name TEXT NOT NULL,       -- as the roster had it then: the team may be removed since
    kind TEXT NOT NULL,
    form TEXT NOT NULL,
    form_version TEXT NOT NULL,
    pack_version TEXT NOT NULL,
    issued_at TEXT NOT NULL,       -- when generate wrote it (ISO, UTC)
    sha256 TEXT NOT NULL,          -- of the workbook as written
    path TEXT NOT NULL             -- where it was written, relative to the workspace
);
CREATE INDEX IF NOT EXISTS issued_key ON issued(cycle, team_id, form);
CREATE TABLE IF NOT EXISTS packs (
    id INTEGER PRIMARY KEY,
    pack_version TEXT NOT NULL,
    form TEXT NOT NULL,
    form_version TEXT NOT NULL,
    digest TEXT NOT NULL,          -- the form's schema and layout (Form.digest)
    folder TEXT NOT NULL,          -- the kept copy, relative to .participation
    kept_at TEXT NOT NULL
);
"""
# Columns added since the first release: (table, column, declaration). An older register
# gains them when it is opened; their defaults say "not known" for files seen before.
MIGRATIONS = (
    ("files", "cycle", "TEXT NOT NULL DEFAULT ''"),
    ("files", "claimed_team", "TEXT NOT NULL DEFAULT ''"),
    ("files", "claimed_form", "TEXT NOT NULL DEFAULT ''"),
    ("files", "basis", "TEXT NOT NULL DEFAULT ''"),
    ("submissions", "late", "INTEGER NOT NULL DEFAULT 0"),
)
# An older register read without migrating it: a missing column worked out from what it
# has, not its default. Lateness was then a status.late issue in the JSON issues.
_OLDER = {
    "late": "EXISTS (SELECT 1 FROM json_each(issues) "
    "WHERE json_extract(value, '$.code') = 'status.late')",
}
# Outcomes that may change with nothing about the file changing (its permissions, a
# folder's): looked at again on every collect, and recorded again only if they differ.
RETRY_CODES = (Code.READ_NO_PERMISSION, Code.FOLDER_UNREADABLE)
INDEXES = "CREATE INDEX IF NOT EXISTS files_claim ON files(cycle, claimed_team, claimed_form);"


@dataclass(frozen=True)
class FileRecord:
    id: int
    path: str
    size: int
    mtime_ns: int
    sha256: str | None
    outcome: str
    reason: str
    code: str
    seen_at: str
    cycle: str = ""
    claimed_team: str = ""
    claimed_form: str = ""
    basis: str = ""


@dataclass(frozen=True)
class IssuedRecord:
    """One workbook `generate` wrote (a row of `issued`)."""

    id: int
    cycle: str
    team_id: str
    team_name: str
    kind: str
    form: str
    form_version: str
    pack_version: str
    issued_at: str
    sha256: str
    path: str


@dataclass(frozen=True)
class Submission:
    id: int
    file_id: int
    sha256: str
    file_name: str
    team_id: str
    form: str
    form_version: str
    cycle: str
    valid: bool
    errors: int
    queries: int
    document: dict[str, Any]
    issues: list[Issue]
    received_at: str
    recorded_at: str
    current: bool
    late: bool = False  # received after the due date, as collect judged it


class Register:
    """The workspace register (one SQLite file), opened for the duration of a command."""

    # Only an older register read without migrating it: its issues are JSON text in
    # `submissions.issues`, not rows of `issues`.
    issues_as_json = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        check_sound(self.path)
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            self.db.row_factory = sqlite3.Row
            # WAL keeps readers (report, status) working while collect writes; FULL sync so
            # a power cut or kill never loses a committed batch.
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(SCHEMA)
            self._migrate()
        except sqlite3.DatabaseError as err:
            self.db.close()
            if isinstance(err, sqlite3.OperationalError) and "locked" in str(err):
                raise
            raise damaged(self.path, str(err)) from err

    def _migrate(self) -> None:
        """Add any column an older register lacks (one transaction, so two processes
        opening the same old register cannot both add it, and a kill leaves it whole)."""
        if all(column in self._columns(table) for table, column, _ in MIGRATIONS):
            self.db.executescript(INDEXES)
            return
        with self.transaction():
            issues_as_json = "late" not in self._columns("submissions")
            for table, column, declaration in MIGRATIONS:
                if column not in self._columns(table):
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            if issues_as_json:
                self._move_issues()
            self.db.execute(INDEXES)

    def _move_issues(self) -> None:
        """A register from before issues were rows: each submission's JSON issues become
        rows of `issues` (their words kept, as the values behind them were not), and
        its lateness, then a status.late issue among them, becomes its `late` column."""
        rows = self.db.execute("SELECT id, issues FROM submissions WHERE issues != '[]'")
        for sid, text in rows.fetchall():
            issues = _from_json(text)
            self._add_issues(sid, issues, kept_words=True)
            late = any(i.code == Code.STATUS_LATE for i in issues)
            self.db.execute(
                "UPDATE submissions SET late = ?, issues = '[]' WHERE id = ?", (int(late), sid)
            )

    def _columns(self, table: str) -> set[str]:
        return {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}

    def close(self) -> None:
        self.db.close()

    @classmethod
    def read_only(cls, path: str | Path) -> Register:
        """The register for a command that only reads it (status, export): nothing is
        written, so it works for a user who may read the workspace but not write it.

        No register yet: an empty one in memory (nothing collected). A WAL register in a
        folder this user cannot write (no -shm file can be made) is read as immutable:
        what the last collect committed and checkpointed."""
        self = cls.__new__(cls)
        self.path = Path(path)
        if not self.path.exists():
            self.db = sqlite3.connect(":memory:", isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.executescript(SCHEMA + INDEXES)
            return self
        check_sound(self.path)
        uri = self.path.resolve().as_uri()
        try:
            self.db = _open_read_only(f"{uri}?mode=ro")
        except sqlite3.OperationalError:
            self.db = _open_read_only(f"{uri}?mode=ro&immutable=1")
        self._read_older()
        return self

    def _read_older(self) -> None:
        """An older register, read without adding what it lacks (a write): an empty
        temporary table stands in for a table it does not have yet, and a temporary view
        of the same name for a table without the newer columns, each at its default ("not
        known"). Temporary objects live outside the file. A file with no table at all (0
        bytes, say) is no register: it is named, never read as "nothing collected"."""
        tables = {
            r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not tables:
            raise damaged(self.path, "it holds no table: it is empty or not a register")
        self.issues_as_json = "issues" not in tables
        for statement in SCHEMA.split(";"):
            name = (
                statement.split("EXISTS", 1)[1].split("(")[0].strip()
                if "TABLE" in statement
                else ""
            )
            if name and name not in tables:
                self.db.execute(statement.replace("CREATE TABLE", "CREATE TEMP TABLE"))
        for table in dict.fromkeys(t for t, _, _ in MIGRATIONS):
            have = self._columns(table)
            missing = [(c, d) for t, c, d in MIGRATIONS if t == table and c not in have]
            if missing and table in tables:
                extra = ", ".join(f"{_OLDER.get(c) or _default(d)} AS {c}" for c, d in missing)
                # Names and defaults are this module's own constants, never input.
                sql = f"CREATE TEMP VIEW {table} AS SELECT *, {extra} FROM main.{table}"  # noqa: S608
                self.db.execute(sql)

    def __enter__(self) -> Register:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def checkpoint(self) -> None:
        """Inside a transaction: commit what is done so far and carry on in a new one."""
        self.db.execute("COMMIT")
        self.db.execute("BEGIN IMMEDIATE")

    # --- files -------------------------------------------------------------------------

    def unchanged(self) -> set[tuple[str, int, int]]:
        """(path, size, mtime) of every file already settled: those are not read again."""
        rows = self.db.execute(
            "SELECT path, size, mtime_ns FROM files WHERE outcome != 'pending' "
            "AND code NOT IN (?, ?)",
            RETRY_CODES,
        )
        return {(r[0], r[1], r[2]) for r in rows}

    def retrying(self) -> dict[tuple[str, int, int], str]:
        """(path, size, mtime) -> code of files and folders looked at again every run."""
        rows = self.db.execute(
            "SELECT path, size, mtime_ns, code FROM files WHERE code IN (?, ?) ORDER BY id",
            RETRY_CODES,
        )
        return {(r[0], r[1], r[2]): r[3] for r in rows}

    def to_examine_again(self, basis: str, every: bool = False) -> list[FileRecord]:
        """Files rejected under another workspace fingerprint (or, with `every`, all
        rejected files): the first record of each distinct content, oldest first."""
        rows = self.db.execute(
            "SELECT * FROM files WHERE id IN (SELECT MIN(id) FROM files "
            "WHERE outcome = 'rejected' AND sha256 IS NOT NULL AND (? OR basis != ?) "
            "GROUP BY sha256) ORDER BY mtime_ns, path",
            (int(every), basis),
        )
        return [FileRecord(**r) for r in rows]

    def update_file(
        self,
        file_id: int,
        outcome: str,
        reason: str,
        code: str,
        claimed: tuple[str, str],
        basis: str,
    ) -> None:
        """A file examined again: its new verdict replaces the old one."""
        self.db.execute(
            "UPDATE files SET outcome = ?, reason = ?, code = ?, claimed_team = ?, "
            "claimed_form = ?, basis = ? WHERE id = ?",
            (outcome, reason, code, *claimed, basis, file_id),
        )

    def add_file(
        self,
        path: str,
        size: int,
        mtime_ns: int,
        sha256: str | None,
        outcome: str,
        reason: str,
        code: str,
        seen_at: str,
        cycle: str = "",
        claimed_team: str = "",
        claimed_form: str = "",
        basis: str = "",
    ) -> int:
        cur = self.db.execute(
            "INSERT INTO files (path, size, mtime_ns, sha256, outcome, reason, code, seen_at, "
            "cycle, claimed_team, claimed_form, basis) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                path,
                size,
                mtime_ns,
                sha256,
                outcome,
                reason,
                code,
                seen_at,
                cycle,
                claimed_team,
                claimed_form,
                basis,
            ),
        )
        return int(cur.lastrowid or 0)

    def first_file_with(self, sha256: str) -> FileRecord | None:
        """The earliest settled file with these bytes: later copies are duplicates of it."""
        row = self.db.execute(
            "SELECT * FROM files WHERE sha256 = ? AND outcome IN ('accepted', 'rejected') "
            "ORDER BY id LIMIT 1",
            (sha256,),
        ).fetchone()
        return FileRecord(**row) if row else None

    def files(self) -> list[FileRecord]:
        """Every file ever seen, in path order, then in the order seen: a file overwritten
        in the shared folder keeps its record beside the new one's. One record per path and
        content (the first settled one: the same bytes seen again at the same path, say
        after a touch, are the same file); a pending record only until the path is seen
        again, since it was a file still being written."""
        rows = self.db.execute(
            "SELECT * FROM files AS f WHERE id IN (SELECT MIN(id) FROM files "
            "WHERE outcome != 'pending' GROUP BY path, sha256) "
            "OR (outcome = 'pending' AND NOT EXISTS "
            "(SELECT 1 FROM files AS g WHERE g.path = f.path AND g.id > f.id)) "
            "ORDER BY path, id"
        )
        return [FileRecord(**r) for r in rows]

    def rejected_claims(self, cycle: str) -> dict[tuple[str, str], FileRecord]:
        """(team, form) -> the latest file rejected this cycle that claims to be that
        team's return of that form (from its identity, signed or not)."""
        rows = self.db.execute(
            "SELECT * FROM files WHERE id IN (SELECT MAX(id) FROM files "
            "WHERE cycle = ? AND outcome = 'rejected' AND claimed_team != '' "
            "GROUP BY claimed_team, claimed_form)",
            (cycle,),
        )
        return {(r["claimed_team"], r["claimed_form"]): FileRecord(**r) for r in rows}

    # --- submissions ---------------------------------------------------------------------

    def add_submission(
        self,
        file_id: int,
        sha256: str,
        file_name: str,
        identity: dict[str, str],
        valid: bool,
        document: dict[str, Any],
        issues: list[Issue],
        received_at: str,
        recorded_at: str,
        late: bool = False,
    ) -> int:
        """Record an accepted return with its issues (rows of `issues`, in the caller's
        transaction) and whether it came after the due date, as collect judged it then."""
        errors = sum(1 for i in issues if i.is_error)
        cur = self.db.execute(
            "INSERT INTO submissions (file_id, sha256, file_name, team_id, form, form_version, "
            "cycle, valid, errors, queries, document, issues, received_at, recorded_at, late) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, ?, ?)",
            (
                file_id,
                sha256,
                file_name,
                identity["team_id"],
                identity["form"],
                identity["form_version"],
                identity["cycle"],
                int(valid),
                errors,
                len(issues) - errors,
                json.dumps(document, ensure_ascii=False),
                received_at,
                recorded_at,
                int(late),
            ),
        )
        submission = int(cur.lastrowid or 0)
        self._add_issues(submission, issues)
        return submission

    def _add_issues(self, submission: int, issues: list[Issue], kept_words: bool = False) -> None:
        self.db.executemany(
            "INSERT INTO issues (submission_id, code, sheet, row, col, table_row, path, label, "
            "issue_values, file, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    submission,
                    str(i.code),
                    i.place.sheet,
                    i.place.row,
                    i.place.col,
                    i.place.table_row,
                    i.path,
                    i.label,
                    json.dumps(i.values, ensure_ascii=False, default=str) if i.values else "{}",
                    i.file,
                    i.text if kept_words else "",
                )
                for i in issues
            ],
        )

    def issues_of(self, where: str, args: tuple[Any, ...] = ()) -> dict[int, list[Issue]]:
        """Submission id -> its issues, in the order found, for the submissions `where`
        (an SQL condition on `submissions`) picks: one query for all of them."""
        out: dict[int, list[Issue]] = {}
        if self.issues_as_json:
            sql = f"SELECT id, issues FROM submissions WHERE {where}"  # noqa: S608
            for sid, text in self.db.execute(sql, args):
                out[sid] = _from_json(text)
            return out
        # `where` is this module's own SQL, its values bound as `args`, never input.
        picked = f"SELECT id FROM submissions WHERE {where}"  # noqa: S608
        sql = f"SELECT {_ISSUE_COLUMNS} FROM issues WHERE submission_id IN ({picked})"  # noqa: S608
        for r in self.db.execute(sql + " ORDER BY submission_id, id", args):
            values = json.loads(r[8]) if r[8] != "{}" else {}
            place = Place(r[2], r[3], r[4], r[5])
            found = Issue(Code(r[1]), place, r[6], r[7], values, r[9], r[10])
            out.setdefault(r[0], []).append(found)
        return out

    def add_explanations(
        self,
        submission_id: int,
        identity: dict[str, str],
        received_at: str,
        rows: list[tuple[str, str, str, str, str]],
    ) -> None:
        """The team's explanations of a submission's queries: (code, sheet, cell, field,
        text) each. Kept beside every earlier one; the latest by file time is in force."""
        self.db.executemany(
            "INSERT INTO explanations (submission_id, cycle, team_id, form, code, sheet, cell, "
            "field, text, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    submission_id,
                    identity["cycle"],
                    identity["team_id"],
                    identity["form"],
                    *row,
                    received_at,
                )
                for row in rows
            ],
        )

    def explanations(self, cycle: str) -> dict[tuple[str, str], dict[tuple[str, str, str], str]]:
        """(team, form) -> (code, sheet, cell) -> the explanation in force: the one from
        the latest submission (by file time, then as recorded) that explained that query."""
        rows = self.db.execute(
            "SELECT team_id, form, code, sheet, cell, text FROM explanations WHERE cycle = ? "
            "ORDER BY received_at, submission_id, id",
            (cycle,),
        )
        out: dict[tuple[str, str], dict[tuple[str, str, str], str]] = {}
        for r in rows:  # later rows overwrite earlier ones
            out.setdefault((r[0], r[1]), {})[(r[2], r[3], r[4])] = r[5]
        return out

    def refresh_current(self, cycle: str, team_id: str, form: str) -> None:
        """The latest submission is current: by file time, then by when it was recorded."""
        self.db.execute(
            "UPDATE submissions SET current = 0 WHERE cycle = ? AND team_id = ? AND form = ?",
            (cycle, team_id, form),
        )
        self.db.execute(
            "UPDATE submissions SET current = 1 WHERE id = (SELECT id FROM submissions "
            "WHERE cycle = ? AND team_id = ? AND form = ? "
            "ORDER BY received_at DESC, recorded_at DESC, id DESC LIMIT 1)",
            (cycle, team_id, form),
        )

    def submission_of_file(self, file_id: int) -> Submission | None:
        row = self.db.execute(
            "SELECT * FROM submissions WHERE file_id = ? ORDER BY id DESC LIMIT 1", (file_id,)
        ).fetchone()
        return self._one(row)

    def current_submission(self, cycle: str, team_id: str, form: str) -> Submission | None:
        row = self.db.execute(
            "SELECT * FROM submissions WHERE cycle = ? AND team_id = ? AND form = ? "
            "AND current = 1",
            (cycle, team_id, form),
        ).fetchone()
        return self._one(row)

    def _one(self, row: sqlite3.Row | None) -> Submission | None:
        if row is None:
            return None
        return _submission(row, self.issues_of("id = ?", (row["id"],)).get(row["id"], []))

    def submissions(
        self, cycle: str | None = None, current_only: bool = True, documents: bool = True
    ) -> list[Submission]:
        """Submissions in team and form order; without `documents`, answers are left out
        (status needs only outcomes and issues, and must not hold every answer in memory)."""
        where = "1=1"
        args: tuple[Any, ...] = ()
        if cycle:
            where += " AND cycle = ?"
            args = (cycle,)
        if current_only:
            where += " AND current = 1"
        sql = f"SELECT {'*' if documents else _NO_DOCUMENT} FROM submissions WHERE {where}"  # noqa: S608
        rows = self.db.execute(sql + " ORDER BY team_id, form, id", args).fetchall()
        issues = self.issues_of(where, args)
        return [_submission(r, issues.get(r["id"], [])) for r in rows]

    def current_outcomes(self, cycle: str) -> dict[tuple[str, str], tuple[bool, bool]]:
        """(team, form) -> (valid, late) of each current submission, straight from SQL."""
        rows = self.db.execute(
            "SELECT team_id, form, valid, late FROM submissions WHERE cycle = ? AND current = 1",
            (cycle,),
        )
        return {(r[0], r[1]): (bool(r[2]), bool(r[3])) for r in rows}

    def history_counts(self, cycle: str) -> dict[tuple[str, str], int]:
        """How many earlier (not current) submissions each team and form has."""
        rows = self.db.execute(
            "SELECT team_id, form, COUNT(*) FROM submissions WHERE cycle = ? AND current = 0 "
            "GROUP BY team_id, form",
            (cycle,),
        )
        return {(r[0], r[1]): r[2] for r in rows}

    # --- what was issued, and the pack versions it was issued from -----------------------

    def add_issued(self, rows: Sequence[tuple[str, ...]]) -> None:
        """Workbooks generate wrote: (cycle, team_id, team_name, kind, form, form_version,
        pack_version, issued_at, sha256, path) each, in the caller's transaction."""
        self.db.executemany(
            "INSERT INTO issued (cycle, team_id, team_name, kind, form, form_version, "
            "pack_version, issued_at, sha256, path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def issued(self, cycle: str, latest: bool = True) -> list[IssuedRecord]:
        """The workbooks issued this cycle (with `latest`, only the last one of each team
        and form: what the team holds now), in team and form order."""
        where = "cycle = ?"
        if latest:
            where += (
                " AND id IN (SELECT MAX(id) FROM issued WHERE cycle = ? GROUP BY team_id, form)"
            )
        args = (cycle, cycle) if latest else (cycle,)
        sql = f"SELECT * FROM issued WHERE {where} ORDER BY team_id, form, id"  # noqa: S608
        return [IssuedRecord(**r) for r in self.db.execute(sql, args)]

    def keep_pack(
        self, pack_version: str, forms: list[tuple[str, str, str]], folder: str, at: str
    ) -> None:
        """A kept copy of the pack: (form, form_version, digest) of each of its forms."""
        self.db.executemany(
            "INSERT INTO packs (pack_version, form, form_version, digest, folder, kept_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(pack_version, *f, folder, at) for f in forms],
        )

    def kept_packs(self) -> list[tuple[str, str, str, str, str]]:
        """(pack_version, form, form_version, digest, folder) of every kept form, oldest
        first (a later copy of the same form and version stands over an earlier one)."""
        rows = self.db.execute(
            "SELECT pack_version, form, form_version, digest, folder FROM packs ORDER BY id"
        )
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def cycles(self) -> list[str]:
        return [
            r[0] for r in self.db.execute("SELECT DISTINCT cycle FROM submissions ORDER BY cycle")
        ]


def _default(declaration: str) -> str:
    """The DEFAULT of a column declaration, as SQL ("TEXT NOT NULL DEFAULT ''" -> '')."""
    _, _, value = declaration.partition(" DEFAULT ")
    return value or "NULL"


def _open_read_only(uri: str) -> sqlite3.Connection:
    db = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None)
    try:
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # opens it for real
    except sqlite3.DatabaseError:
        db.close()
        raise
    db.row_factory = sqlite3.Row
    return db


_ISSUE_COLUMNS = (
    "submission_id, code, sheet, row, col, table_row, path, label, issue_values, file, message"
)
_NO_DOCUMENT = (
    "id, file_id, sha256, file_name, team_id, form, form_version, cycle, valid, errors, "
    "queries, '{}' AS document, '[]' AS issues, received_at, recorded_at, current, late"
)


def _submission(row: sqlite3.Row, issues: list[Issue]) -> Submission:
    data = dict(row)
    data["valid"] = bool(data["valid"])
    data["current"] = bool(data["current"])
    data["late"] = bool(data["late"])
    data["document"] = json.loads(data["document"])
    data["issues"] = issues
    return Submission(**data)


def _from_json(text: str) -> list[Issue]:
    """The issues of a register from before they were rows (JSON, in the shape status
    --json gives), with their words as recorded: the values behind them were not kept."""
    out = []
    for i in json.loads(text):
        found = parse(str(i.get("cell") or ""))
        row, col = (found[1], found[2]) if found else (0, 0)
        place = Place(str(i.get("sheet") or ""), row, col)
        label, file, message = str(i.get("field") or ""), str(i.get("file") or ""), i["message"]
        out.append(Issue(Code(i["code"]), place, "", label, {}, file, str(message)))
    return out


def check_sound(path: Path) -> None:
    """Refuse a register that is plainly damaged before SQLite quietly starts afresh on it:
    a 0-byte file (SQLite takes it for an empty database, and every return would seem
    missing), or one that does not begin as a database."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return  # no register yet: a new workspace
    wal = path.with_name(path.name + "-wal")
    if size == 0 and not (wal.exists() and wal.stat().st_size > 0):
        raise damaged(path, "the file is empty (0 bytes)")
    if size:
        with path.open("rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                raise damaged(path, "the file is not an SQLite database")


def damaged(path: Path, detail: str) -> RegisterError:
    """The error for a damaged register, saying how to get it back."""
    from .recovery import newest_backup  # recovery opens registers too

    backup = newest_backup(path.parent)
    how = (
        render(Code.REGISTER_RESTORE, backup=backup, register=path)
        if backup
        else render(Code.REGISTER_NO_BACKUP)
    )
    message = render(Code.REGISTER_DAMAGED, register=path, detail=detail) + " " + how
    return RegisterError(message, Code.REGISTER_DAMAGED)
