"""The register of signatories (in the built-in pack, to the Participation Promise),
across teams and cycles.

People sign up in a form's sign-up table ([report.sign_up] in the pack's pack.toml
names the form, the table and its columns), and the coordinator can add people who signed
outside the form in `signatories.csv` in the workspace. The register has one row per
person: the same name and organisation (ignoring case and spacing) is one signatory,
however many returns or cycles list them. Only valid returns count (the counting rule in
counting.py); a bad row in signatories.csv is reported, never fatal.

signatories.csv: a heading row, then one row per person, UTF-8 (Excel's "CSV UTF-8").
Columns `name`, `organisation` (both needed), `role`, `date_signed` (31/03/2027 or
2027-03-31); any other column is ignored.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .counting import COUNTED, outcome, value_at
from .issues import Issue, issue
from .messages import Code
from .pack import Signing
from .place import cell_name
from .register import Submission
from .roster import Team
from .status import Expected
from .workspace import parse_date

CSV_NAME = "signatories.csv"
CSV_COLUMNS = ("name", "role", "organisation", "date_signed")
NEEDED = ("name", "organisation")
FROM_CSV = "Added by the coordinator (signatories.csv)"


@dataclass(frozen=True)
class Signatory:
    """One person who signed the Participation Promise, as one source records them."""

    name: str
    role: str
    organisation: str
    date_signed: dt.date | str | None
    team: str  # whose return lists them, or FROM_CSV
    team_id: str
    cycle: str  # the cycle of that return; "" for signatories.csv
    seen: int = 1  # how many returns (and signatories.csv rows) list them

    @property
    def key(self) -> tuple[str, str]:
        return (_norm(self.name), _norm(self.organisation))


def _norm(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def _date(value: Any) -> dt.date | str | None:
    if value in (None, ""):
        return None
    try:
        day = dt.date.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return day if day.year >= 1900 else str(value)


def from_returns(
    cycles: Iterable[tuple[str, list[Submission]]],
    expected_of: Callable[[Submission], Expected],
    spec: Signing,
) -> list[Signatory]:
    """Every row of the sign-up table ([report.sign_up] in pack.toml) of every return
    that counts (the counting rule) in the given cycles. `expected_of(s)` is the submission
    as the rule sees it, with its team from the roster and its review."""
    out = []
    col = spec.columns
    for cycle, subs in cycles:
        for s in subs:
            if s.form != spec.form:
                continue
            e = expected_of(s)
            t: Team = e.team
            if outcome(e) != COUNTED:
                continue
            rows = value_at(s.document, spec.table)
            for item in rows if isinstance(rows, list) else []:
                if not isinstance(item, dict) or not item.get(col["name"]):
                    continue

                def given(role: str, row: dict[str, Any] = item) -> Any:
                    return row.get(col[role]) if role in col else None

                out.append(
                    Signatory(
                        name=str(given("name")),
                        role=str(given("role") or ""),
                        organisation=str(given("organisation") or ""),
                        date_signed=_date(given("date_signed")),
                        team=t.team_name or s.team_id,
                        team_id=s.team_id,
                        cycle=cycle,
                    )
                )
    return out


def read_csv(path: Path) -> tuple[list[Signatory], list[Issue]]:
    """The coordinator's signatories.csv (absent: none), and an issue per row not used."""
    if not path.is_file():
        return [], []
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        detail = err.strerror if isinstance(err, OSError) else "it is not UTF-8 text"
        return [], [issue(Code.SIGNATORIES_UNREADABLE, CSV_NAME, detail=detail)]
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return [], []
    heads = [" ".join(h.split()).lower().replace(" ", "_") for h in rows[0]]
    gone = [c for c in NEEDED if c not in heads]
    if gone:
        return [], [issue(Code.SIGNATORIES_MISSING_COLUMN, CSV_NAME, cell="A1", column=gone[0])]
    at = {c: heads.index(c) for c in CSV_COLUMNS if c in heads}
    found, problems = [], []
    for r, row in enumerate(rows[1:], start=2):
        values = {c: (row[k].strip() if k < len(row) else "") for c, k in at.items()}
        if not any(values.values()):
            continue  # a blank line
        problem = _row_problem(values, at, r)
        if problem:
            problems.append(problem)
            continue
        day = parse_date(values["date_signed"]) if values.get("date_signed") else None
        found.append(
            Signatory(
                values["name"],
                values.get("role", ""),
                values["organisation"],
                day,
                FROM_CSV,
                "",
                "",
            )
        )
    return found, problems


def _row_problem(values: dict[str, str], at: dict[str, int], row: int) -> Issue | None:
    def bad(code: Code, column: str, value: str = "") -> Issue:
        cell = cell_name(row, at[column] + 1)
        return issue(code, CSV_NAME, cell=cell, row=row, column=column, value=value)

    for column in NEEDED:
        if not values[column]:
            return bad(Code.SIGNATORIES_BLANK, column)
    if values.get("date_signed"):
        try:
            parse_date(values["date_signed"])
        except ValueError:
            return bad(Code.SIGNATORIES_NOT_A_DATE, "date_signed", values["date_signed"])
    return None


def register(entries: Iterable[Signatory]) -> list[Signatory]:
    """One row per person (name and organisation, ignoring case and spacing): the newest
    entry (latest cycle, then latest date signed), counting how many entries list them.
    Sorted by organisation, then name."""
    groups: dict[tuple[str, str], list[Signatory]] = {}
    for e in entries:
        groups.setdefault(e.key, []).append(e)
    out = []
    for group in groups.values():
        newest = max(group, key=_recency)
        latest = max(e.cycle for e in group)
        out.append(
            Signatory(
                " ".join(newest.name.split()),
                newest.role,
                " ".join(newest.organisation.split()),
                newest.date_signed,
                newest.team,
                newest.team_id,
                latest,
                len(group),
            )
        )
    return sorted(out, key=lambda s: (_norm(s.organisation), _norm(s.name)))


def _recency(e: Signatory) -> tuple[str, str]:
    day = e.date_signed.isoformat() if isinstance(e.date_signed, dt.date) else ""
    return (e.cycle, day)
