"""The roster: which teams receive workbooks this cycle (teams.xlsx or teams.csv).

The columns and rules come from schemas/roster.schema.json. Every problem is reported with
its row and column, and a roster with any problem generates nothing.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import openpyxl
import xlsxwriter

from .errors import RosterError
from .messages import Code, render
from .outputs import SAFE_WORKBOOK_OPTIONS, atomic_write_bytes
from .pack import builtin_schema, compile_check, explainer
from .validate import schema_problems


@dataclass(frozen=True, slots=True)
class Team:
    team_id: str
    team_name: str
    service_area: str
    kind: str
    provider: str
    contact_name: str
    contact_email: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Team:
        return cls(**{k: str(row.get(k, "") or "") for k in cls.__dataclass_fields__})


EXAMPLES = [
    (
        "EH01",
        "Early Help North",
        "Early Help",
        "internal",
        "",
        "Sam Patel",
        "sam.patel@example.org",
    ),
    (
        "SW02",
        "Children in Care Team",
        "Social Work",
        "internal",
        "",
        "Alex Jones",
        "alex.jones@example.org",
    ),
    (
        "ADV1",
        "Independent Advocacy",
        "Advocacy",
        "commissioned",
        "Off the Record",
        "Jo Smith",
        "jo.smith@example.org",
    ),
]


def roster_schema() -> dict[str, Any]:
    return builtin_schema("roster")


def columns() -> list[str]:
    return list(roster_schema()["properties"])


def read_roster(path: str | Path) -> list[Team]:
    """Read and validate a roster; raise RosterError listing every problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise RosterError(
            str(path), [render(Code.ROSTER_UNREADABLE, detail=str(err) or type(err).__name__)]
        ) from err
    return list(_read_roster(path, data))


@functools.lru_cache(maxsize=4)
def _read_roster(path: Path, data: bytes) -> tuple[Team, ...]:
    # One run reads the roster more than once (collect, then status): the same bytes are
    # not parsed and checked again. Teams are frozen, so sharing them is safe. Row by row,
    # so a roster of tens of thousands of teams never sits in memory as rows and teams.
    teams: list[Team] = []
    problems: list[str] = []
    first_seen: dict[str, int] = {}  # team_id -> the row it is first on
    folded: dict[str, tuple[int, str]] = {}  # its casefold -> (that row, the id as written)
    for number, values in _read_rows(path, data):
        problems += _problems(number, values, first_seen, folded)
        teams.append(Team.from_row(values))
    if problems:
        raise RosterError(str(path), problems)
    return tuple(teams)


def _read_rows(path: Path, data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """(spreadsheet row number, {column: value}) for every non-blank row under the header."""
    found = False
    try:
        table = _csv_table(data) if path.suffix.lower() == ".csv" else _xlsx_table(data)
        first = next(table, None)
        if first is None:
            raise RosterError(str(path), [render(Code.ROSTER_EMPTY)])
        header = [str(h or "").strip().lower() for h in first]
        known = columns()
        missing = [c for c in known if c not in header and c != "provider"]
        if missing:
            raise RosterError(
                str(path), [render(Code.ROSTER_MISSING_COLUMN, column=c) for c in missing]
            )
        for number, raw in enumerate(table, start=2):
            values = {h: _clean(v) for h, v in zip(header, raw, strict=False) if h in known}
            if any(v != "" for v in values.values()):
                found = True
                yield number, {k: v for k, v in values.items() if v != ""}
    except RosterError:
        raise
    except Exception as err:  # any unreadable roster (zip, XML, encoding) gets one message
        raise RosterError(
            str(path), [render(Code.ROSTER_UNREADABLE, detail=str(err) or type(err).__name__)]
        ) from err
    if not found:
        raise RosterError(str(path), [render(Code.ROSTER_EMPTY)])


def _clean(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # an id typed as 101 comes back from Excel as 101.0
    return str(value).strip()


def _csv_table(data: bytes) -> Iterator[list[Any]]:
    yield from csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))


def _xlsx_table(data: bytes) -> Iterator[list[Any]]:
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        ws = wb["Teams"] if "Teams" in wb.sheetnames else wb.worksheets[0]
        for row in ws.iter_rows(values_only=True, max_col=30, max_row=100_000):
            yield list(row)
    finally:
        wb.close()


@functools.cache
def _checks() -> tuple[Callable[[Any], bool], jsonschema.Draft202012Validator]:
    schema = roster_schema()
    return compile_check(schema), explainer(schema)


def _problems(
    number: int,
    values: dict[str, Any],
    first_seen: dict[str, int],
    folded: dict[str, tuple[int, str]],
) -> list[str]:
    """What is wrong with one row (and whether its team id came before)."""
    is_valid, validator = _checks()  # compiled: a 2,000-team roster is checked in ms
    problems: list[str] = []
    for p in [] if is_valid(values) else schema_problems(validator, values):
        column = str(p.path[0]) if p.path else "?"
        text = render(p.code, **{**_DEFAULTS, "label": column, "other": "kind", **p.values})
        problems.append(
            render(Code.ROSTER_VALUE, row=number, column=column, problem=text.rstrip("."))
        )
    team_id = values.get("team_id", "")
    if team_id in first_seen:
        problems.append(
            render(Code.ROSTER_DUPLICATE_ID, row=number, value=team_id, first=first_seen[team_id])
        )
    elif team_id.casefold() in folded:
        # EH01 and eh01 name the same folder and files on a case-insensitive share
        # (Windows, SharePoint, macOS): one team's workbooks would overwrite the other's.
        first, other = folded[team_id.casefold()]
        problems.append(
            render(Code.ROSTER_CASE_CLASH, row=number, value=team_id, other=other, first=first)
        )
    first_seen.setdefault(team_id, number)
    folded.setdefault(team_id.casefold(), (number, team_id))
    return problems


_DEFAULTS = dict.fromkeys(("value", "options", "limit", "length", "detail", "hint"), "")


def write_starter_roster(path: Path, rows: Sequence[tuple[str, ...]] | None = None) -> None:
    """A roster to fill in: headings, a dropdown for kind, and example rows to replace."""
    rows = rows or EXAMPLES
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, SAFE_WORKBOOK_OPTIONS)
    ws = wb.add_worksheet("Teams")
    head = wb.add_format(
        {"bold": True, "font_color": "#FFFFFF", "bg_color": "#1F4E79", "border": 1}
    )
    schema = roster_schema()
    cols = list(schema["properties"])
    for c, name in enumerate(cols):
        ws.write_string(0, c, name, head)
        ws.set_column(c, c, 18 if name != "contact_email" else 30)
        ws.write_comment(0, c, schema["properties"][name].get("description", ""))
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            ws.write_string(r, c, value)
    kinds = schema["properties"]["kind"]["enum"]
    ws.data_validation(
        1,
        cols.index("kind"),
        5000,
        cols.index("kind"),
        {
            "validate": "list",
            "source": kinds,
            "error_title": "Choose a kind",
            "error_message": "Choose internal or commissioned.",
        },
    )
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, len(rows), len(cols) - 1)
    about = wb.add_worksheet("How to fill this in")
    about.set_column(0, 0, 100)
    for r, line in enumerate(_roster_help(schema)):
        about.write_string(r, 0, line)
    wb.close()
    atomic_write_bytes(path, buf.getvalue())


def _roster_help(schema: dict[str, Any]) -> list[str]:
    lines = [
        "One row per team on the Teams sheet. Replace the example rows with your own teams.",
        "Keep the headings in row 1 exactly as they are. Columns:",
    ]
    lines += [f"  {k}: {v.get('description', '')}" for k, v in schema["properties"].items()]
    lines.append("Then run: participation-xl generate")
    return lines
