"""Reports for managers: the register and compliance workbooks, feedback and chasers.

Every report is written from register values only, never by copying a returned file, so a
hostile return cannot carry a formula, link or macro into a manager's workbook. Each output
is built in memory and written atomically (outputs.atomic_write_bytes): a reader sees the
old file or the new one, whole, and a report open in Excel is written beside it instead.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gc
import io
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_cell_to_rowcol
from xlsxwriter.worksheet import Worksheet

from .collect import register_path
from .export import neutralise
from .generate import IssueContext, Mark, build_workbook
from .outputs import SAFE_WORKBOOK_OPTIONS, atomic_write_bytes
from .pack import Form, Input
from .register import Register, Submission
from .review import counting_rule, current_reviews, feedback_note, sent_back
from .review import counts as review_counts
from .review import word as review_word
from .roster import Team
from .status import Expected, expected_returns
from .workspace import Workspace

AUDIT = "audit"
STANDARDS = "six-standards"
# The audit's repeating tables, each its own sheet rather than columns on the Audit sheet.
# What a Partially met or Not met standard needs, and when it is due (six-standards schema).
ACTION_KEYS = ("action", "owner", "target_date")
TARGET_KEY = "target_date"

CELL_LIMIT = 32_767  # Excel's most characters in one cell
CUT_MARKER = "… [cut: full text in the register]"
MAX_WIDTH = 60
DATE_FORMAT = "dd/mm/yyyy"
DATETIME_FORMAT = "dd/mm/yyyy hh:mm"
TABLE_STYLE = "Table Style Medium 2"
NONE_YET = "None yet"
FEEDBACK_DIR = "feedback"
CHASER_COLUMNS = (
    "team_id",
    "team_name",
    "contact_name",
    "contact_email",
    "form",
    "status",
    "what",
    "attach",
)

# (fill, text): dark text on light fills, every pair above a 4.5:1 contrast ratio (WCAG AA).
FILLS = {
    "good": ("#C6EFCE", "#006100"),
    "amber": ("#FFEB9C", "#6B4A00"),
    "bad": ("#FFC7CE", "#9C0006"),
    "grey": ("#E7E6E6", "#262626"),
}
# A status is a word AND a colour: the word carries the meaning, the colour helps scanning.
WORD_FILL = {
    "Valid": "good",
    "Met": "good",
    "Invalid": "amber",
    "Partially met": "amber",
    "Query": "amber",
    "Missing": "bad",
    "Not met": "bad",
    "Error": "bad",
    "No return": "grey",
    "Approved": "good",
    "Sent back": "amber",
    "Not reviewed": "grey",
}
NO_RETURN = "No return"
# Chart colours carry no text, so they only need to differ; data labels give the numbers.
BAR_COLOURS = {"good": "#548235", "amber": "#BF8F00", "bad": "#C00000", "grey": "#7F7F7F"}
LABEL_COLOURS = {"good": "#FFFFFF", "amber": "#000000", "bad": "#FFFFFF", "grey": "#000000"}
HEAT_SCALE = {"min_color": "#FFFFFF", "mid_color": "#DDEBF7", "max_color": "#9DC3E6"}


class Share(float):
    """A proportion (0 to 1), shown as a percentage."""


@dataclass(frozen=True)
class Col:
    """A table column: its heading, and whether its words are shown in their colours."""

    header: str
    coloured: bool = False


Row = list[Any]


# --- public API ----------------------------------------------------------------------


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Reports hold hundreds of thousands of cell objects until each file is written, and
    Python's cycle collector walks them all again and again: 16% of the time at 2,000
    teams, more as N grows. Memory is freed by reference counting as usual; the collector
    runs again afterwards for the few cycles the writers leave."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def write_reports(
    ws: Workspace, today: dt.date | None = None, warnings: list[str] | None = None
) -> list[Path]:
    """Rewrite every report from the register: workbooks, feedback, chasers (the CSV and
    email drafts) and the review workbook, whose typed decisions are recorded first.

    The caller holds the workspace's run lock (collect and the report command both do).
    Returns the paths written, which differ from the usual names when a target was locked;
    messages for the coordinator (a review workbook that could not be read) go to
    `warnings`.
    """
    from .emails import write_chaser_drafts  # emails and review_book import report's peers
    from .review_book import read_and_record, write_book

    said = warnings if warnings is not None else []
    with Register(register_path(ws)) as reg, _no_cycle_collection():
        typed = read_and_record(ws, reg)  # read before write: no typed decision is lost
        said += typed.warnings
        snap = _snapshot(ws, reg, today)
        paths = [_write_register(snap), _write_compliance(snap)]
        feedback = _write_feedback(snap)
        paths += feedback.values()
        paths.append(_write_chasers(snap, feedback))
        drafts, problems = write_chaser_drafts(ws, snap.expected, snap.reviews, feedback)
        paths += drafts
        said += problems
        paths += write_book(ws, snap.expected, snap.reviews, typed, snap.now)
    return paths


def write_register(ws: Workspace, reg: Register) -> Path:
    """reports/register.xlsx: every expected return, answer, log entry and open issue."""
    return _write_register(_snapshot(ws, reg))


def write_compliance(ws: Workspace, reg: Register, today: dt.date | None = None) -> Path:
    """reports/compliance.xlsx: the Six Standards dashboard, RAG matrix, exceptions, trend."""
    return _write_compliance(_snapshot(ws, reg, today))


def write_feedback(ws: Workspace, reg: Register) -> list[Path]:
    """reports/feedback/<team_id>-<form>.xlsx for every current invalid return.

    Feedback for returns that are no longer invalid is removed.
    """
    return list(_write_feedback(_snapshot(ws, reg)).values())


def write_chasers(ws: Workspace, reg: Register) -> Path:
    """reports/chasers.csv: a mail-merge list of every missing and invalid return."""
    snap = _snapshot(ws, reg)
    folder = ws.reports_dir / FEEDBACK_DIR
    feedback = {
        (e.team.team_id, e.form): folder / _feedback_name(e.team.team_id, e.form)
        for e in snap.expected
    }
    return _write_chasers(snap, {k: p for k, p in feedback.items() if p.is_file()})


# --- what the reports are made from ------------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    """One consistent read of the register, shared by every report of a run."""

    ws: Workspace
    today: dt.date
    now: dt.datetime
    expected: list[Expected]
    current: list[Submission]
    history: dict[tuple[str, str], int]
    previous: tuple[str, list[Submission]] | None  # the latest earlier cycle, for the trend
    reviews: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)

    @cached_property
    def teams(self) -> dict[str, Team]:
        return {e.team.team_id: e.team for e in self.expected}

    def team(self, team_id: str) -> Team:
        """The roster's team, or a bare id for a return from a team no longer listed."""
        return self.teams.get(team_id) or Team(team_id, "", "", "", "", "", "")

    def of_form(self, form: str) -> list[Submission]:
        return [s for s in self.current if s.form == form]

    def form(self, form_id: str) -> Form | None:
        return self.ws.pack.forms.get(form_id)


def _snapshot(ws: Workspace, reg: Register, today: dt.date | None = None) -> _Snapshot:
    with _read_snapshot(reg):
        expected = expected_returns(ws, reg, documents=True)
        current = reg.submissions(ws.cycle)
        history = reg.history_counts(ws.cycle)
        earlier = [c for c in reg.cycles() if c < ws.cycle]
        previous = (earlier[-1], reg.submissions(earlier[-1])) if earlier else None
        reviews = current_reviews(reg, ws.cycle)
    return _Snapshot(
        ws=ws,
        today=today or dt.date.today(),
        now=dt.datetime.now().replace(microsecond=0),
        expected=expected,
        current=current,
        history=history,
        previous=previous,
        reviews=reviews,
    )


@contextlib.contextmanager
def _read_snapshot(reg: Register) -> Iterator[None]:
    """One read transaction, so a concurrent collect cannot tear what the reports show."""
    if reg.db.in_transaction:
        yield
        return
    reg.db.execute("BEGIN")  # deferred: a WAL reader that never blocks a writer
    try:
        yield
    finally:
        reg.db.execute("COMMIT")


def _value_at(doc: Any, path: str) -> Any:
    for part in path.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def _typed(value: Any, kind: str = "text") -> Any:
    """A document value as a cell value: ISO dates become dates, odd shapes become text."""
    if kind == "date" and isinstance(value, str):
        return _date(value) or value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def _date(text: str) -> dt.date | None:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    return day if day.year >= 1900 else None  # Excel has no dates before 1900


def _received(sub: Submission) -> dt.datetime | str:
    try:
        when = dt.datetime.fromisoformat(sub.received_at)
    except ValueError:
        return sub.received_at
    if when.tzinfo:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


def _trace(sub: Submission) -> Row:
    return [sub.file_name, sub.sha256[:12], _received(sub)]


TRACE = [Col("File"), Col("SHA-256 (first 12)"), Col("Received (UTC)")]


def _word(status: str) -> str:
    return status.capitalize()


def _date_text(day: dt.date) -> str:
    return f"{day:%d/%m/%Y}"


# --- writing workbooks ---------------------------------------------------------------


def _fit(text: str) -> str:
    """Text that fits one Excel cell, cut with a visible marker when it does not."""
    if len(text) <= CELL_LIMIT // 2 or _utf16_len(text) <= CELL_LIMIT:
        return text
    keep = CELL_LIMIT - len(CUT_MARKER)
    cut = text[:keep]
    while _utf16_len(cut) > keep:  # characters outside the BMP count twice in Excel
        cut = cut[: keep - (_utf16_len(cut) - keep)]
    return cut + CUT_MARKER


def _lines(text: str, width: int) -> int:
    """How many lines text wraps to in a column this wide (a little generously)."""
    per_line = max(1, int(width * 1.2))  # most letters are narrower than the "0" widths count
    return sum(max(1, math.ceil(len(part) / per_line)) for part in text.split("\n"))


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _shown_len(value: Any) -> int:
    """Roughly how many characters wide a value shows, for column widths."""
    if isinstance(value, dt.datetime):
        return 16
    if isinstance(value, dt.date):
        return 10
    if isinstance(value, Share):
        return 5
    if isinstance(value, float):
        return len(f"{value:,.2f}")
    text = str(value)[: MAX_WIDTH * 4]
    return max(map(len, text.split("\n")))


class _Book:
    """One report workbook in memory, with each cell format made once."""

    def __init__(self, ws: Workspace, title: str) -> None:
        self.buf = io.BytesIO()
        self.wb = xlsxwriter.Workbook(self.buf, SAFE_WORKBOOK_OPTIONS)
        self.council = ws.council
        self.formats: dict[tuple[str, str, bool, int, bool], Format] = {}
        self.head = self.wb.add_format(
            {
                "bold": True,
                "text_wrap": True,
                "valign": "top",
                "font_color": "#FFFFFF",
                "bg_color": "#1F4E79",
                "border": 1,
            }
        )
        self.wb.set_properties(
            {
                "title": title,
                "subject": f"Cycle {ws.cycle}",
                "author": ws.council,
                "company": ws.council,
                "comments": "Written by participation-xl from its register.",
            }
        )

    def fmt(
        self, num: str = "", fill: str = "", bold: bool = False, size: int = 11, wrap: bool = True
    ) -> Format:
        key = (num, fill, bold, size, wrap)
        if key not in self.formats:
            props: dict[str, Any] = {"valign": "top", "text_wrap": wrap, "bold": bold}
            props["font_size"] = size
            if num:
                props["num_format"] = num
            if fill:
                props["bg_color"], props["font_color"] = FILLS[fill]
            self.formats[key] = self.wb.add_format(props)
        return self.formats[key]

    def sheet(self, name: str) -> _Sheet:
        return _Sheet(self, self.wb.add_worksheet(name))

    def close(self) -> bytes:
        self.wb.close()
        return self.buf.getvalue()


class _Sheet:
    """A worksheet that remembers how wide its content is."""

    def __init__(self, book: _Book, ws: Worksheet) -> None:
        self.book, self.ws = book, ws
        self.widths: dict[int, int] = {}
        self.texts: list[tuple[int, int, str]] = []  # long text, to size its row at the end

    def cell(self, row: int, col: int, value: Any, coloured: bool = False) -> None:
        """Write one value by its type; text always as text, never as a formula or link."""
        ws, fmt = self.ws, self.book.fmt
        if value is None or value == "":
            return
        if isinstance(value, bool):
            value = "Yes" if value else "No"
        if isinstance(value, Share):
            ws.write_number(row, col, value, fmt("0%"))
        elif isinstance(value, int | float) and math.isfinite(value):
            ws.write_number(row, col, value, fmt("#,##0" if isinstance(value, int) else "#,##0.00"))
        elif isinstance(value, dt.datetime):
            ws.write_datetime(row, col, value, fmt(DATETIME_FORMAT))
        elif isinstance(value, dt.date):
            ws.write_datetime(row, col, value, fmt(DATE_FORMAT))
        else:
            text = _fit(str(value))
            fill = WORD_FILL.get(text, "") if coloured else ""
            ws.write_string(row, col, text, fmt(fill=fill))
            if len(text) > 12 or "\n" in text:
                self.texts.append((row, col, text))
        self.widths[col] = max(self.widths.get(col, 0), _shown_len(value))

    def title(self, row: int, text: str, size: int = 14) -> None:
        """A heading outside any table; it does not widen its column."""
        self.ws.write_string(row, 0, _fit(text), self.book.fmt(bold=True, size=size, wrap=False))

    def table(self, top: int, name: str, cols: Sequence[Col], rows: list[Row]) -> int:
        """Write rows as a named Excel table at `top`; return the first row below it."""
        rows = rows or [[NONE_YET] + [None] * (len(cols) - 1)]  # a table needs a data row
        headers = _unique_headers([c.header for c in cols])
        last = top + len(rows)
        self.ws.add_table(
            top,
            0,
            last,
            len(cols) - 1,
            {
                "name": name,
                "style": TABLE_STYLE,
                "columns": [{"header": h, "header_format": self.book.head} for h in headers],
            },
        )
        for c, h in enumerate(headers):
            longest_word = max(map(len, h.split()), default=0)
            self.widths[c] = max(self.widths.get(c, 0), longest_word, min(len(h), 24))
            self.texts.append((top, c, h))
        for r, row in enumerate(rows, start=top + 1):
            for c, (col, value) in enumerate(zip(cols, row, strict=True)):
                self.cell(r, c, value, col.coloured)
        return last + 1

    def finish(self, header_row: int | None = 0) -> None:
        """Column widths from content, and an A4 print setup with the header repeated."""
        ws = self.ws
        widths = {c: min(MAX_WIDTH, max(8, w + 2)) for c, w in self.widths.items()}
        for col, width in widths.items():
            ws.set_column(col, col, width)
        # Rows are sized here because neither Excel nor LibreOffice grows a row to fit
        # wrapped text in a file that was not saved by them.
        lines: dict[int, int] = {}
        for row, col, text in self.texts:
            lines[row] = max(lines.get(row, 1), _lines(text, widths.get(col, 8)))
        for row, n in lines.items():
            if n > 1:
                ws.set_row(row, min(409, 15 * n))
        ws.set_paper(9)  # A4
        ws.set_landscape()
        ws.fit_to_pages(1, 0)
        ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        if header_row is not None:
            ws.freeze_panes(header_row + 1, 0)
            ws.repeat_rows(header_row)
        council = self.book.council.replace("&", "&&")[:100]
        ws.set_footer(f"&L{council}&R{ws.name.replace('&', '&&')}, page &P of &N")


def _unique_headers(headers: list[str]) -> list[str]:
    """Excel table headings must be unique (ignoring case), one line, and at most 255 long."""
    seen: set[str] = set()
    out = []
    for h in headers:
        base = " ".join(h.split())[:240] or "Column"
        name, n = base, 1
        while name.lower() in seen:
            n += 1
            name = f"{base} ({n})"
        seen.add(name.lower())
        out.append(name)
    return out


def _data_sheet(book: _Book, title: str, name: str, cols: Sequence[Col], rows: list[Row]) -> None:
    """A sheet that is one Excel table, with its header frozen and repeated on every page."""
    sheet = book.sheet(title)
    sheet.table(0, name, cols, rows)
    sheet.finish(0)


def _save(book: _Book, path: Path) -> Path:
    return atomic_write_bytes(path, book.close())


# --- register.xlsx ---------------------------------------------------------------------


def _write_register(snap: _Snapshot) -> Path:
    book = _Book(snap.ws, f"Participation register {snap.ws.cycle}")
    _overview(book, snap)
    _data_sheet(book, "Returns", "Returns", RETURN_COLS, _return_rows(snap))
    _data_sheet(book, "Audit", "Audit", *_audit_table(snap))
    _data_sheet(book, "Six Standards", "SixStandards", *_standards_table(snap))
    _data_sheet(book, "You Said, We Did", "YouSaidWeDid", *_log_table(snap, "you_said_we_did"))
    _data_sheet(book, "Action Plans", "ActionPlans", *_log_table(snap, "action_plan"))
    _data_sheet(book, "Signatories", "Signatories", *_signatory_table(snap))
    _data_sheet(book, "Issues", "Issues", ISSUE_COLS, _issue_rows(snap))
    return _save(book, snap.ws.reports_dir / "register.xlsx")


STATUS_WORDS = ("Valid", "Invalid", "Missing", "Late")
COUNT_COLS = [Col("Expected"), *(Col(w) for w in STATUS_WORDS)]


def _counts(rows: Iterable[Expected]) -> Row:
    rows = list(rows)
    by = Counter(r.status for r in rows)
    return [len(rows), by["valid"], by["invalid"], by["missing"], sum(r.late for r in rows)]


def _overview(book: _Book, snap: _Snapshot) -> None:
    ws = snap.ws
    sheet = book.sheet("Overview")
    sheet.title(0, f"Participation returns: {ws.council}")
    facts = [("Council", ws.council), ("Cycle", ws.cycle), ("Due date", ws.due)]
    facts.append(("Data as of", snap.now))
    for r, (label, value) in enumerate(facts, start=2):
        sheet.ws.write_string(r, 0, label, book.fmt(bold=True))
        sheet.cell(r, 1, value)
    total, *counts = _counts(snap.expected)
    shares = [Share(n / total) if total else Share(0) for n in counts]
    status_rows = [[w, n, s] for w, n, s in zip(STATUS_WORDS, counts, shares, strict=True)]
    top = 7
    sheet.title(top, f"Returns by status ({total} expected)", 12)
    cols = [Col("Status", coloured=True), Col("Returns"), Col("Share of expected")]
    after = sheet.table(top + 1, "StatusCounts", cols, status_rows)
    _status_chart(book, sheet, top + 1, counts, total)
    top = after + 1
    for label, name, key in (
        ("Service area", "ByServiceArea", lambda e: e.team.service_area),
        ("Kind", "ByKind", lambda e: e.team.kind),
    ):
        groups: dict[str, list[Expected]] = {}
        for e in snap.expected:
            groups.setdefault(key(e), []).append(e)
        rows = [[g, *_counts(groups[g])] for g in sorted(groups)]
        sheet.title(top, f"Returns by {label.lower()}", 12)
        top = sheet.table(top + 1, name, [Col(label), *COUNT_COLS], rows) + 1
    sheet.finish(None)


def _status_chart(book: _Book, sheet: _Sheet, header: int, counts: list[int], total: int) -> None:
    chart = book.wb.add_chart({"type": "column"})
    name = sheet.ws.name
    fills = [BAR_COLOURS[WORD_FILL.get(w, "grey")] for w in STATUS_WORDS]
    chart.add_series(
        {
            "name": "Returns",
            "categories": [name, header + 1, 0, header + len(counts), 0],
            "values": [name, header + 1, 1, header + len(counts), 1],
            "points": [{"fill": {"color": c}} for c in fills],
            "data_labels": {"value": True},
        }
    )
    chart.set_title({"name": "Returns by status"})
    chart.set_legend({"none": True})
    chart.set_y_axis({"name": "Returns", "min": 0})
    said = ", ".join(f"{n} {w.lower()}" for w, n in zip(STATUS_WORDS, counts, strict=True))
    sheet.ws.insert_chart(
        header,
        len(COUNT_COLS) + 2,  # right of the widest table on the sheet
        chart,
        {"description": f"Column chart of returns by status, of {total} expected: {said}."},
    )


RETURN_COLS = [
    Col("Team ID"),
    Col("Team name"),
    Col("Service area"),
    Col("Kind"),
    Col("Form"),
    Col("Status", coloured=True),
    Col("Received (UTC)"),
    Col("Late"),
    Col("File"),
    Col("SHA-256 (first 12)"),
    Col("Errors"),
    Col("Queries"),
    Col("Earlier versions"),
    Col("Why rejected"),
    Col("Review", coloured=True),
    Col("Reviewed by"),
    Col("Reviewed at (UTC)"),
    Col("Review note"),
]


def _return_rows(snap: _Snapshot) -> list[Row]:
    """One row per expected return. A rejected one (nothing accepted, but the team sent a
    file) shows that file, when it came, and why it was rejected (which says what to do)."""
    rows = []
    for e in snap.expected:
        s, r = e.current, e.rejected
        found = [_received(s), e.late, s.file_name, s.sha256[:12], s.errors, s.queries] if s else []
        why = None
        if s is None and r is not None:
            when = dt.datetime.fromtimestamp(r.mtime_ns / 1e9, dt.UTC).replace(microsecond=0)
            found = [when.replace(tzinfo=None), None, r.path, (r.sha256 or "")[:12], None, None]
            why = r.reason
        earlier = snap.history.get((e.team.team_id, e.form), 0)
        status = [e.form, _word(e.status), *(found or [None] * 6), earlier, why]
        rows.append([*_team_cells(e.team), *status, *_review_cells(snap, e)])
    return rows


def _review_cells(snap: _Snapshot, e: Expected) -> Row:
    """The coordinator's decision on the current return: word, by, at, note."""
    review = snap.reviews.get((e.team.team_id, e.form))
    if e.current is None:
        return [None, None, None, None]
    if review is None:
        return ["Not reviewed", None, None, None]
    at = dt.datetime.fromisoformat(review["at"]).replace(tzinfo=None)
    return [review_word(review), review["by"], at, review["note"]]


TEAM_COLS = [Col("Team ID"), Col("Team name"), Col("Service area"), Col("Kind")]


def _team_cells(team: Team) -> Row:
    return [team.team_id, team.team_name, team.service_area, team.kind]


def _question_header(i: Input) -> str:
    """A question's heading as the form shows it; grid answers are prefixed with their row."""
    return i.field.title if i.label == i.field.title else f"{i.label} – {i.field.title}"


def _audit_table(snap: _Snapshot) -> tuple[list[Col], list[Row]]:
    form = snap.form(AUDIT)
    inputs = form.inputs if form else []
    cols = [*TEAM_COLS, Col("Status", coloured=True)]
    cols += [Col(_question_header(i)) for i in inputs] + TRACE
    rows = [
        [
            *_team_cells(snap.team(s.team_id)),
            "Valid" if s.valid else "Invalid",
            *(_typed(_value_at(s.document, i.field.path), i.field.kind) for i in inputs),
            *_trace(s),
        ]
        for s in snap.of_form(AUDIT)
    ]
    return cols, rows


@dataclass(frozen=True)
class _Standard:
    """One of the Six Standards: where its answers sit, and how it is named."""

    path: str
    short: str
    text: str
    inputs: tuple[Input, ...]


def _standards(form: Form | None) -> list[_Standard]:
    """The standards of the form, in order: every grid row that has a rating."""
    if form is None:
        return []
    out = []
    for i in form.inputs:
        if i.field.key != "rating":
            continue
        path = i.field.path.rsplit(".", 1)[0]
        siblings = tuple(x for x in form.inputs if x.field.path.rsplit(".", 1)[0] == path)
        head = i.label.split(":", 1)[0]
        short = head if ":" in i.label and len(head) <= 20 else path.rsplit(".", 1)[-1]
        out.append(_Standard(path, short, i.label, siblings))
    return out


def _rating(sub: Submission | None, std: _Standard) -> str:
    value = _value_at(sub.document, f"{std.path}.rating") if sub else None
    return value if isinstance(value, str) and value else NO_RETURN


def _standards_table(snap: _Snapshot) -> tuple[list[Col], list[Row]]:
    stds = _standards(snap.form(STANDARDS))
    extra = [x for x in stds[0].inputs if x.field.key != "rating"] if stds else []
    cols = [Col("Team ID"), Col("Team name"), Col("Service area"), Col("Provider")]
    cols += [Col("Standard"), Col("Rating", coloured=True)]
    cols += [Col(x.field.title) for x in extra]
    cols += [Col("Return status", coloured=True), *TRACE]
    rows = []
    for s in snap.of_form(STANDARDS):
        t = snap.team(s.team_id)
        provider = t.provider or _value_at(s.document, "contract.service_name")
        for std in stds:
            answers = [
                _typed(_value_at(s.document, f"{std.path}.{x.field.key}"), x.field.kind)
                for x in extra
            ]
            rating = _value_at(s.document, f"{std.path}.rating")
            head = [t.team_id, t.team_name, t.service_area, provider, std.text, rating]
            rows.append([*head, *answers, "Valid" if s.valid else "Invalid", *_trace(s)])
    return cols, rows


def _log_table(snap: _Snapshot, path: str) -> tuple[list[Col], list[Row]]:
    """Every row of one audit table, from every team's current audit, team first."""
    form = snap.form(AUDIT)
    table = next((t for t in form.tables if t.path == path), None) if form else None
    columns = table.columns if table else ()
    cols = [Col("Team name"), Col("Service area")] + [Col(c.title) for c in columns]
    cols += [Col("Team ID"), Col("Return status", coloured=True), *TRACE]
    rows = []
    for s in snap.of_form(AUDIT):
        t = snap.team(s.team_id)
        for item in _items(s.document, path):
            answers = [_typed(item.get(c.key), c.kind) for c in columns]
            status = "Valid" if s.valid else "Invalid"
            rows.append([t.team_name, t.service_area, *answers, t.team_id, status, *_trace(s)])
    return cols, rows


def _items(doc: dict[str, Any], path: str) -> list[dict[str, Any]]:
    items = doc.get(path)
    if not isinstance(items, list):
        return []
    return [
        i for i in items if isinstance(i, dict) and any(v not in (None, "") for v in i.values())
    ]


SIGNATORY_ORDER = ("organisation", "signatory", "role", "date_signed")
SIGNATORY_HEADERS = {"signatory": "Signatory"}


def _signatory_table(snap: _Snapshot) -> tuple[list[Col], list[Row]]:
    """The Participation Promise register: who signed, for which organisation, and when."""
    form = snap.form(AUDIT)
    table = next((t for t in form.tables if t.path == "signatories"), None) if form else None
    columns = sorted(
        table.columns if table else (),
        key=lambda c: SIGNATORY_ORDER.index(c.key) if c.key in SIGNATORY_ORDER else 99,
    )
    cols = [Col(SIGNATORY_HEADERS.get(c.key, c.title)) for c in columns]
    cols += [Col("Team"), Col("Team ID"), Col("Service area"), *TRACE]
    rows = []
    for s in snap.of_form(AUDIT):
        t = snap.team(s.team_id)
        for item in _items(s.document, "signatories"):
            answers = [_typed(item.get(c.key), c.kind) for c in columns]
            rows.append([*answers, t.team_name, t.team_id, t.service_area, *_trace(s)])
    return cols, rows


ISSUE_COLS = [
    Col("Team ID"),
    Col("Team name"),
    Col("Form"),
    Col("File"),
    Col("Sheet"),
    Col("Cell"),
    Col("Field"),
    Col("Message"),
    Col("Severity", coloured=True),
    Col("Code"),
]


def _issue_rows(snap: _Snapshot) -> list[Row]:
    rows = []
    for s in snap.current:
        name = snap.team(s.team_id).team_name
        for i in s.issues:
            where = [i.get(k, "") for k in ("file", "sheet", "cell", "field", "message")]
            severity = str(i.get("severity", "")).capitalize()
            rows.append([s.team_id, name, s.form, *where, severity, i.get("code", "")])
    return rows


# --- compliance.xlsx -------------------------------------------------------------------


def _write_compliance(snap: _Snapshot) -> Path:
    book = _Book(snap.ws, f"Six Standards compliance {snap.ws.cycle}")
    stds = _standards(snap.form(STANDARDS))
    _dashboard(book, snap, stds)
    _data_sheet(book, "Matrix", "Matrix", *_matrix(snap, stds))
    _data_sheet(book, "Exceptions", "Exceptions", EXCEPTION_COLS, _exceptions(snap, stds))
    _data_sheet(book, "Trend", "Trend", *_trend(snap, stds))
    return _save(book, snap.ws.reports_dir / "compliance.xlsx")


def _ratings_scale(form: Form | None) -> tuple[str, ...]:
    stds = _standards(form)
    return stds[0].inputs[0].field.choices if stds else ("Met", "Partially met", "Not met")


def _services(snap: _Snapshot) -> list[Expected]:
    """The services expected to return the Six Standards review, in roster order."""
    return [e for e in snap.expected if e.form == STANDARDS]


def _share_row(ratings: list[str], scale: Sequence[str]) -> Row:
    counts = Counter(ratings)
    words = [*scale, NO_RETURN]
    n = len(ratings)
    return [n, *(counts[w] for w in words), *(Share(counts[w] / n if n else 0) for w in words)]


def _share_cols(scale: Sequence[str]) -> list[Col]:
    words = [*scale, NO_RETURN]
    return [Col("Services"), *(Col(w) for w in words), *(Col(f"{w} %") for w in words)]


def _dashboard(book: _Book, snap: _Snapshot, stds: list[_Standard]) -> None:
    sheet = book.sheet("Dashboard")
    ws, services = snap.ws, _services(snap)
    scale = _ratings_scale(snap.form(STANDARDS))
    sheet.title(0, f"Six Standards of Participation: {ws.council}, cycle {ws.cycle}")
    sheet.title(
        1,
        f"{len(services)} commissioned services expected; data as of {snap.now:%d/%m/%Y %H:%M}.",
        10,
    )
    sheet.title(2, f"Counting rule: {counting_rule(ws.require_approval)}", 10)
    counted = [_counted(snap, e) for e in services]
    overall = [
        [s.short, s.text, *_share_row([_rating(c, s) for c in counted], scale)] for s in stds
    ]
    cols = [Col("Standard"), Col("Standard in full"), *_share_cols(scale)]
    sheet.title(3, "Share of services by rating, per standard", 12)
    after = sheet.table(4, "StandardsOverall", cols, overall)
    _standards_chart(book, sheet, 4, len(overall), scale, len(cols))
    by_area = [
        [area, s.short, *_share_row([_rating(_counted(snap, e), s) for e in group], scale)]
        for area, group in _by_area(services)
        for s in stds
    ]
    sheet.title(after + 1, "By service area", 12)
    after = sheet.table(
        after + 2,
        "StandardsByArea",
        [Col("Service area"), Col("Standard"), *_share_cols(scale)],
        by_area,
    )
    _heat_map(book, sheet, snap, after + 1)
    sheet.widths[1] = min(sheet.widths.get(1, 0), 40)  # the full wording wraps
    sheet.finish(None)


def _counted(snap: _Snapshot, e: Expected) -> Submission | None:
    """The return that counts for this service, or None (the review's rule says not yet)."""
    review = snap.reviews.get((e.team.team_id, e.form))
    return e.current if review_counts(review, snap.ws.require_approval) else None


def _by_area(rows: list[Expected]) -> list[tuple[str, list[Expected]]]:
    groups: dict[str, list[Expected]] = {}
    for e in rows:
        groups.setdefault(e.team.service_area, []).append(e)
    return sorted(groups.items())


def _standards_chart(
    book: _Book, sheet: _Sheet, header: int, n: int, scale: Sequence[str], width: int
) -> None:
    if not n:
        return
    chart = book.wb.add_chart({"type": "bar", "subtype": "percent_stacked"})
    name = sheet.ws.name
    for k, word in enumerate([*scale, NO_RETURN]):
        col = 3 + k  # Standard, Standard in full, Services, then the counts
        chart.add_series(
            {
                "name": [name, header, col],
                "categories": [name, header + 1, 0, header + n, 0],
                "values": [name, header + 1, col, header + n, col],
                "fill": {"color": BAR_COLOURS[WORD_FILL.get(word, "grey")]},
                # Label text keeps 4.5:1 on its bar: white on green and red, black on
                # amber and grey.
                "data_labels": {
                    "value": True,
                    "font": {"color": LABEL_COLOURS[WORD_FILL.get(word, "grey")]},
                },
            }
        )
    chart.set_title({"name": "Services by rating, per standard"})
    chart.set_y_axis({"reverse": True})  # Standard 1 at the top, as in the table
    chart.set_legend({"position": "bottom"})
    sheet.ws.insert_chart(
        header,
        width + 1,
        chart,
        {
            "description": "Stacked bar chart: for each of the Six Standards, the share of "
            f"commissioned services rating it {', '.join(scale)}, or with no return.",
            "x_scale": 1.4,
            "y_scale": 1.3,
        },
    )


def _heat_map(book: _Book, sheet: _Sheet, snap: _Snapshot, top: int) -> int:
    """Promise and right self-ratings: counts per statement and rating, shaded and shown."""
    rows_in = _framework_ratings(snap.form(AUDIT))
    scale = rows_in[0][2].field.choices if rows_in else ()
    audits = snap.of_form(AUDIT)
    rows = []
    for group, label, i in rows_in:
        counts = Counter(_value_at(s.document, i.field.path) for s in audits)
        rows.append([group, label, *(counts[w] for w in scale), sum(counts[w] for w in scale)])
    sheet.title(top, "Promises and rights: how teams rate themselves (number of teams)", 12)
    cols = [Col("Framework"), Col("Statement"), *(Col(w) for w in scale), Col("Teams")]
    after = sheet.table(top + 1, "Ratings", cols, rows)
    if rows and scale:
        sheet.ws.conditional_format(
            top + 2, 2, top + 1 + len(rows), 1 + len(scale), {"type": "3_color_scale", **HEAT_SCALE}
        )
    return after


def _framework_ratings(form: Form | None) -> list[tuple[str, str, Input]]:
    """(framework block title, statement, rating input) for each promise and right."""
    if form is None:
        return []
    return [
        (b.title, i.label, i)
        for plan in form.sheets
        for b in plan.blocks
        if b.framework and b.type == "grid"
        for i in b.inputs
        if i.field.key == "rating"
    ]


def _matrix(snap: _Snapshot, stds: list[_Standard]) -> tuple[list[Col], list[Row]]:
    cols = [Col("Team ID"), Col("Service"), Col("Provider"), Col("Service area")]
    cols += [Col("Return", coloured=True)] + [Col(s.short, coloured=True) for s in stds] + TRACE
    rows = []
    for e in _services(snap):
        t, s = e.team, e.current
        trace = _trace(s) if s else [None, None, None]
        ratings = [_rating(s, std) for std in stds]
        rows.append(
            [t.team_id, t.team_name, t.provider, t.service_area, _word(e.status), *ratings, *trace]
        )
    return cols, rows


EXCEPTION_COLS = [
    Col("Team ID"),
    Col("Team name"),
    Col("Service area"),
    Col("Form"),
    Col("Standard"),
    Col("Exception"),
    Col("Detail"),
    Col("Rating", coloured=True),
    Col("Owner"),
    Col("Target date"),
    Col("File"),
]


def _exceptions(snap: _Snapshot, stds: list[_Standard]) -> list[Row]:
    rows = []
    for e in _services(snap):
        if e.current:
            rows += _standard_exceptions(snap, e, stds)
    if snap.today > snap.ws.due:
        rows += [_late_row(snap, e) for e in snap.expected if e.status != "valid"]
    return rows


def _standard_exceptions(snap: _Snapshot, e: Expected, stds: list[_Standard]) -> list[Row]:
    s = e.current
    assert s is not None
    rows = []
    for std in stds:
        answers = {k: _value_at(s.document, f"{std.path}.{k}") for k in ("rating", *ACTION_KEYS)}
        rating = answers["rating"]
        target = _date(answers[TARGET_KEY]) if isinstance(answers[TARGET_KEY], str) else None
        base = [e.team.team_id, e.team.team_name, e.team.service_area, e.form, std.short]
        tail = [rating, answers.get("owner"), target or answers[TARGET_KEY], s.file_name]
        if rating in ("Partially met", "Not met"):
            missing = [_title_of(std, k) for k in ACTION_KEYS if answers[k] in (None, "")]
            if missing:
                rows.append(
                    [*base, "No action plan", f"{rating} with no {', '.join(missing)}.", *tail]
                )
        if target and target < snap.today and rating != "Met":
            detail = f"The target date {_date_text(target)} has passed."
            rows.append([*base, "Target date passed", detail, *tail])
    return rows


def _title_of(std: _Standard, key: str) -> str:
    return next((x.field.title.lower() for x in std.inputs if x.field.key == key), key)


def _late_row(snap: _Snapshot, e: Expected) -> Row:
    due = _date_text(snap.ws.due)
    if e.current is None:
        kind, detail, file = "Missing return", f"No return received; it was due {due}.", None
    else:
        errors = e.current.errors
        kind, file = "Invalid return", e.current.file_name
        detail = f"The return has {errors} problem(s) to fix; it was due {due}."
    t = e.team
    return [
        t.team_id,
        t.team_name,
        t.service_area,
        e.form,
        None,
        kind,
        detail,
        None,
        None,
        None,
        file,
    ]


def _trend(snap: _Snapshot, stds: list[_Standard]) -> tuple[list[Col], list[Row]]:
    """This cycle's measures beside the latest earlier cycle's, when the register has one."""
    if snap.previous is None:
        cols = [Col("Measure"), Col(snap.ws.cycle), Col("Previous cycle"), Col("Change")]
        return cols, [["No earlier cycle is recorded in the register yet.", None, None, None]]
    cycle, subs = snap.previous
    before = dict(_measures(snap, subs, stds))
    rows = []
    for measure, value in _measures(snap, snap.current, stds):
        old = before.get(measure)
        change = None if old is None else value - old
        rows.append([measure, old, value, Share(change) if isinstance(value, Share) else change])
    return [Col("Measure"), Col(cycle), Col(snap.ws.cycle), Col("Change")], rows


def _measures(
    snap: _Snapshot, subs: list[Submission], stds: list[_Standard]
) -> list[tuple[str, Any]]:
    """The trend's measures for one cycle, from its current submissions alone.

    An earlier cycle's roster is not kept, so shares are of the returns received.
    """
    out: list[tuple[str, Any]] = []
    for form_id, form in snap.ws.pack.forms.items():
        mine = [s for s in subs if s.form == form_id]
        out.append((f"{form.short_name}: returns received", len(mine)))
        out.append((f"{form.short_name}: valid returns", sum(s.valid for s in mine)))
    reviews = [s for s in subs if s.form == STANDARDS]
    for std in stds:
        rated = [r for r in (_rating(s, std) for s in reviews) if r != NO_RETURN]
        for word in _ratings_scale(snap.form(STANDARDS)):
            share = Share(rated.count(word) / len(rated)) if rated else Share(0)
            out.append((f"{std.short}: share {word}", share))
    audits = [s for s in subs if s.form == AUDIT]
    for _, label, i in _framework_ratings(snap.form(AUDIT)):
        given = [_value_at(s.document, i.field.path) for s in audits]
        given = [g for g in given if g]
        good = sum(g in i.field.choices[:2] for g in given)
        top_two = " or ".join(i.field.choices[:2])
        out.append((f"{label}: share {top_two}", Share(good / len(given) if given else 0)))
    return out


# --- feedback workbooks ----------------------------------------------------------------


def _feedback_name(team_id: str, form: str) -> str:
    return f"{team_id}-{form}.xlsx"


def _marks(sub: Submission) -> list[Mark]:
    """One mark per cell with issues: an error mark if any of them is an error."""
    by_cell: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    for i in sub.issues:
        sheet, cell = str(i.get("sheet") or ""), str(i.get("cell") or "")
        if not sheet or not re.fullmatch(r"\$?[A-Z]{1,3}\$?[0-9]{1,7}", cell):
            continue
        row, col = xl_cell_to_rowcol(cell)
        by_cell.setdefault((sheet, row + 1, col + 1), []).append(i)
    marks = []
    for (s, r, c), found in by_cell.items():
        errors = [i for i in found if i.get("severity") == "error"]
        ordered = errors + [i for i in found if i.get("severity") != "error"]
        text = "\n".join(
            str(i.get("message", "")) if i in errors else f"Please check: {i.get('message', '')}"
            for i in ordered
        )
        name = str(ordered[0].get("field") or "")
        marks.append(Mark(s, r, c, text, "error" if errors else "query", name))
    return marks


def _write_feedback(snap: _Snapshot) -> dict[tuple[str, str], Path]:
    """Feedback for each current invalid return; stale feedback files are removed."""
    ws = snap.ws
    folder = ws.reports_dir / FEEDBACK_DIR
    ctx = IssueContext.of(ws)
    written: dict[tuple[str, str], Path] = {}
    for e in snap.expected:
        form = snap.form(e.form)
        review = snap.reviews.get((e.team.team_id, e.form))
        if not (e.status == "invalid" or sent_back(review)) or form is None or e.current is None:
            continue
        data = build_workbook(
            form,
            e.team,
            ctx,
            answers=e.current.document,
            marks=_marks(e.current),
            note=feedback_note(review),
        )
        target = folder / _feedback_name(e.team.team_id, e.form)
        written[(e.team.team_id, e.form)] = atomic_write_bytes(target, data)
    keep = {_feedback_name(t, f) for t, f in written}
    _remove_stale(folder, keep, list(ws.pack.forms))
    return written


def _remove_stale(folder: Path, keep: set[str], forms: list[str]) -> None:
    """Delete our own feedback files that no longer match an invalid return; nothing else."""
    if not folder.is_dir():
        return
    alternatives = "|".join(re.escape(f) for f in forms)
    ours = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,39}}-(?:{alternatives})\.xlsx")
    for path in folder.iterdir():
        if path.is_file() and ours.fullmatch(path.name) and path.name not in keep:
            path.unlink(missing_ok=True)


# --- chasers.csv -------------------------------------------------------------------------


def _write_chasers(snap: _Snapshot, feedback: dict[tuple[str, str], Path]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CHASER_COLUMNS)
    for e in snap.expected:
        if e.status == "valid":
            continue
        t = e.team
        attach = feedback.get((t.team_id, e.form))
        full = str(snap.ws.root / attach) if attach else ""  # absolute, for a mail merge
        row = [t.team_id, t.team_name, t.contact_name, t.contact_email, e.form, e.status]
        writer.writerow([neutralise(v) for v in [*row, _what(snap, e), full]])
    # UTF-8 with a byte-order mark, so Excel opens names with accents correctly.
    return atomic_write_bytes(
        snap.ws.reports_dir / "chasers.csv", out.getvalue().encode("utf-8-sig")
    )


def _what(snap: _Snapshot, e: Expected) -> str:
    """What the team needs to do, in plain English."""
    if e.current is None and e.rejected is not None:
        r = e.rejected
        return (
            f"The file you sent ({r.path}) could not be accepted: {r.reason} "
            f"Due {_date_text(snap.ws.due)}."
        )
    if e.current is None:
        return f"No return received yet; due {_date_text(snap.ws.due)}."
    issues = e.current.issues
    errors = [i for i in issues if i.get("severity") == "error"] or issues
    if not errors:
        return "The return could not be accepted; please send it again."
    first = errors[0]
    where = (
        f"'{first['sheet']}'!{first['cell']}: " if first.get("sheet") and first.get("cell") else ""
    )
    return f"{len(errors)} problem(s) to fix: first, {where}{first.get('message', '')}"


__all__ = [
    "CUT_MARKER",
    "write_chasers",
    "write_compliance",
    "write_feedback",
    "write_register",
    "write_reports",
]
