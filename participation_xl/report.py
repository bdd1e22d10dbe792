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
import errno
import gc
import io
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from . import explain
from . import signatories as sign
from .counting import (
    COUNTED,
    INVALID_ANSWER,
    INVALID_RETURN,
    NO_RETURN,
    answer_word,
    columns,
    outcome,
    percentages,
    rule,
    shown_answer,
    tally,
    value_at,
)
from .emails import write_chaser_drafts
from .export import neutralise
from .generate import IssueContext, Mark, build_workbook
from .issued import as_now
from .issues import Issue
from .messages import Code, render
from .outputs import (
    SAFE_WORKBOOK_OPTIONS,
    all_or_nothing,
    atomic_write_bytes,
    output_error,
    remove_output,
)
from .pack import Form, Input, Log, Ratings
from .register import Register, Submission
from .review import counts as review_counts
from .review import current_reviews, feedback_note
from .review import word as review_word
from .review_book import read_and_record, write_book
from .roster import Team
from .status import Expected, expected_returns
from .workspace import Workspace, register_path

# Which form plays which part in the reports (the rated framework, the logs, the sign-up
# table) is the pack's [report] section (pack.ReportSpec): nothing here names a form.

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
# A rating's colour comes from the pack ([report.ratings] met, partly_met, not_met).
WORD_FILL = {
    "Valid": "good",
    "Invalid": "amber",
    INVALID_RETURN: "amber",
    INVALID_ANSWER: "amber",
    "Rejected": "bad",
    "Query": "amber",
    "Missing": "bad",
    "Error": "bad",
    NO_RETURN: "grey",
    "No returns": "grey",  # a cycle with nothing to count on the Trend
    "No returns yet": "grey",
    "Approved": "good",
    "Sent back": "amber",
    "Not reviewed": "grey",
}
# A sheet whose columns add up to more than this many characters (Excel column widths)
# cannot print one page wide on landscape A4 with 11 pt text at 8 pt or more: it prints
# at full size over several pages instead, its first columns and heading repeated.
FIT_CHARS = 170  # (LibreOffice prints about 132 characters across at full size)
NOTE_CHARS = 100  # how wide a sheet's title notes run before they wrap, on a wide sheet
# Chart colours carry no text, so they only need to differ; data labels give the numbers.
BAR_COLOURS = {"good": "#548235", "amber": "#BF8F00", "bad": "#C00000", "grey": "#7F7F7F"}
LABEL_COLOURS = {"good": "#FFFFFF", "amber": "#000000", "bad": "#FFFFFF", "grey": "#000000"}
# An invalid return is amber in a cell (beside its word), but on a chart it needs its own
# colour, apart from a partly met rating: (bar, label).
INVALID_BAR = ("#7030A0", "#FFFFFF")
HEAT_SCALE = {"min_color": "#FFFFFF", "mid_color": "#DDEBF7", "max_color": "#9DC3E6"}


class Share(float):
    """A proportion (0 to 1), shown as a percentage."""


@dataclass(frozen=True)
class Col:
    """A table column: its heading, and whether its words are shown in their colours."""

    header: str
    coloured: bool = False
    narrow: bool = False  # a number column: its heading wraps to its longest word
    width: int = MAX_WIDTH  # the widest it grows, in characters; longer text wraps


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
    `warnings`. The reports are replaced all together or not at all: if one cannot be
    written (a folder where a file goes, no permission, a full disk), every report stays as
    it was and the OutputError says which file and what to do.
    """
    said = warnings if warnings is not None else []
    try:
        for folder in (ws.reports_dir, ws.reports_dir / FEEDBACK_DIR):
            if folder.exists() and not folder.is_dir():  # in the way, even with no feedback
                raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(folder))
        # The register closes, then the staged reports go in place together.
        with (
            all_or_nothing() as stage,
            Register(register_path(ws)) as reg,
            _no_cycle_collection(),
        ):
            typed = read_and_record(ws, reg)  # read before write: no typed decision is lost
            said += typed.warnings
            snap = _snapshot(ws, reg, today)
            paths = [_write_register(snap), _write_compliance(snap)]
            feedback = _write_feedback(snap)
            paths += feedback.values()
            paths.append(_write_chasers(snap, feedback))
            drafts, problems = write_chaser_drafts(ws, snap.expected, feedback)
            paths += drafts
            said += problems
            paths += write_book(ws, snap.expected, snap.reviews, typed, snap.now)
    except OSError as err:
        raise output_error(err, ws.reports_dir) from err
    return [stage.written.get(p, p) for p in paths]


def write_register(ws: Workspace, reg: Register) -> Path:
    """reports/register.xlsx: every expected return, answer, log entry and open issue."""
    return _write_register(_snapshot(ws, reg))


def write_compliance(ws: Workspace, reg: Register, today: dt.date | None = None) -> Path:
    """reports/compliance.xlsx: the rated framework's dashboard ([report.ratings] in the
    pack), RAG matrix, exceptions and trend."""
    return _write_compliance(_snapshot(ws, reg, today))


def write_feedback(ws: Workspace, reg: Register) -> list[Path]:
    """reports/feedback/<team_id>-<form>.xlsx for every current return with errors or
    queries still to explain.

    Feedback for returns that no longer need it is removed.
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
    earlier: list[tuple[str, list[Submission]]]  # every earlier cycle, oldest first
    reviews: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    # cycle -> (team, form) -> the standing review of each current submission
    cycle_reviews: dict[str, dict[tuple[str, str], dict[str, Any] | None]] = field(
        default_factory=dict
    )

    @property
    def previous(self) -> tuple[str, list[Submission]] | None:
        """The latest earlier cycle, for the trend."""
        return self.earlier[-1] if self.earlier else None

    def expected_of(self, s: Submission) -> Expected:
        """A current submission of any cycle as the counting rule sees it: with its
        review, so that [review] require_approval applies to every figure alike."""
        review = self.cycle_reviews.get(s.cycle, {}).get((s.team_id, s.form))
        counts = review_counts(review, self.ws.require_approval)
        return Expected(self.team(s.team_id), s.form, s, review=review, counts=counts)

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
        current = as_now(ws.pack, reg.submissions(ws.cycle))
        history = reg.history_counts(ws.cycle)
        earlier = [(c, as_now(ws.pack, reg.submissions(c))) for c in reg.cycles() if c < ws.cycle]
        cycle_reviews = {c: current_reviews(reg, c) for c in {*reg.cycles(), ws.cycle}}
        reviews = cycle_reviews[ws.cycle]
    return _Snapshot(
        ws=ws,
        today=today or dt.date.today(),
        now=dt.datetime.now().replace(microsecond=0),
        expected=expected,
        current=current,
        history=history,
        earlier=earlier,
        reviews=reviews,
        cycle_reviews=cycle_reviews,
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
        self.fills = {**WORD_FILL, **_rating_fills(ws.pack.report.ratings)}
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


def _rating_fills(ratings: Ratings | None) -> dict[str, str]:
    """Each word of the rated framework's scale with its RAG colour, as the pack says."""
    if ratings is None:
        return {}
    words = (*ratings.met, *ratings.partly_met, *ratings.not_met)
    return {w: ratings.fill(w) for w in words}


class _Sheet:
    """A worksheet that remembers how wide its content is."""

    def __init__(self, book: _Book, ws: Worksheet) -> None:
        self.book, self.ws = book, ws
        self.widths: dict[int, int] = {}
        self.texts: list[tuple[int, int, str]] = []  # long text, to size its row at the end
        self.notes: list[tuple[int, str]] = []  # lines under the title, wrapped at the end
        self.caps: dict[int, int] = {}  # column -> widest it may grow
        self.last_row = 0

    def cell(self, row: int, col: int, value: Any, coloured: bool = False) -> None:
        """Write one value by its type; text always as text, never as a formula or link."""
        ws, fmt = self.ws, self.book.fmt
        self.last_row = max(self.last_row, row)
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
            fill = self.book.fills.get(text, "") if coloured else ""
            ws.write_string(row, col, text, fmt(fill=fill))
            if len(text) > 12 or "\n" in text:
                self.texts.append((row, col, text))
        self.widths[col] = max(self.widths.get(col, 0), _shown_len(value))

    def title(self, row: int, text: str, size: int = 14) -> None:
        """A heading outside any table; it does not widen its column."""
        self.ws.write_string(row, 0, _fit(text), self.book.fmt(bold=True, size=size, wrap=False))
        self.last_row = max(self.last_row, row)

    def note(self, row: int, text: str) -> None:
        """A line under a title (what the sheet shows, what it counts): wrapped across the
        first columns when the sheet is finished, so it prints whole."""
        self.notes.append((row, text))
        self.last_row = max(self.last_row, row)

    def heading(self, title: str, *lines: str) -> int:
        """The sheet's title and its notes from row 0; returns the first free row."""
        self.title(0, title)
        for r, line in enumerate(lines, start=1):
            self.note(r, line)
        return len(lines) + 2

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
        for c, (h, col) in enumerate(zip(headers, cols, strict=True)):
            longest_word = max(map(len, h.split()), default=0)
            wide = longest_word if col.narrow else min(len(h), 24)
            self.widths[c] = max(self.widths.get(c, 0), longest_word, wide)
            self.texts.append((top, c, h))
            self.caps[c] = col.width
        self.last_row = max(self.last_row, last)
        for r, row in enumerate(rows, start=top + 1):
            for c, (col, value) in enumerate(zip(cols, row, strict=True)):
                self.cell(r, c, value, col.coloured)
        return last + 1

    def finish(
        self, header_row: int | None = 0, print_cols: int | None = None, key_cols: int = 1
    ) -> None:
        """Column widths from content, and an A4 print setup with the header repeated.

        `print_cols`: only the first columns print (the rest, such as file name and SHA-256,
        are for tracing, not reading). A sheet too wide for one legible page prints at full
        size over several, its first `key_cols` columns repeated on each."""
        ws = self.ws
        widths = {
            c: min(self.caps.get(c, MAX_WIDTH), max(8, w + 2)) for c, w in self.widths.items()
        }
        for col, width in widths.items():
            ws.set_column(col, col, width)
        shown = print_cols or (max(widths) + 1 if widths else 1)
        wide = sum(widths.get(c, 8) for c in range(shown)) > FIT_CHARS
        self._notes(widths, shown, NOTE_CHARS if wide else FIT_CHARS)
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
        if wide:
            ws.repeat_columns(0, key_cols - 1)
            ws.print_across()  # each row's pages one after another
        else:
            ws.fit_to_pages(1, 0)
        if print_cols:
            ws.print_area(0, 0, self.last_row, print_cols - 1)
        ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        if header_row is not None:
            ws.freeze_panes(header_row + 1, key_cols if wide else 0)
            ws.repeat_rows(header_row)
        council = self.book.council.replace("&", "&&")[:100]
        ws.set_footer(f"&L{council}&R{ws.name.replace('&', '&&')}, page &P of &N")

    def _notes(self, widths: dict[int, int], shown: int, limit: int) -> None:
        """Each note merged across the first columns (up to `limit` wide), wrapped."""
        span, last = 0, 0
        for c in range(shown):
            if c and span + widths.get(c, 8) > limit:
                break
            span, last = span + widths.get(c, 8), c
        fmt = self.book.fmt(wrap=True)
        for row, text in self.notes:
            if last:
                self.ws.merge_range(row, 0, row, last, "", fmt)
            self.ws.write_string(row, 0, _fit(text), fmt)
            self.ws.set_row(row, min(409, 15 * _lines(text, span)))


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


@dataclass(frozen=True)
class _Page:
    """How a data sheet introduces itself and prints."""

    title: str
    shows: str  # what the sheet shows and which returns it counts
    print_cols: int | None = None  # only the first columns print; None: all of them
    key_cols: int = 1  # repeated on every page when the sheet prints over several


def _data_sheet(
    book: _Book, title: str, name: str, cols: Sequence[Col], rows: list[Row], page: _Page
) -> None:
    """A sheet that is one Excel table under a title and a line on what it shows, with its
    header frozen and repeated on every page."""
    sheet = book.sheet(title)
    top = sheet.heading(page.title, page.shows)
    sheet.table(top, name, cols, rows)
    sheet.finish(top, page.print_cols, page.key_cols)


def _save(book: _Book, path: Path) -> Path:
    return atomic_write_bytes(path, book.close())


# --- register.xlsx ---------------------------------------------------------------------


def _write_register(snap: _Snapshot) -> Path:
    book = _Book(snap.ws, f"Participation register {snap.ws.cycle}")
    cycle = snap.ws.cycle
    people, problems = _signatory_register(snap)
    _overview(book, snap)
    _data_sheet(book, "Returns", "Returns", RETURN_COLS, _return_rows(snap), _returns_page(snap))
    names = _Names({"Overview", "Returns", "Issues"})
    spec = snap.ws.pack.report
    for form in snap.ws.pack.forms.values():
        rated = spec.ratings is not None and spec.ratings.form == form.id
        cols, rows = _standards_table(snap) if rated else _answers_table(snap, form)
        page = _answers_page(form.short_name, cycle, len(cols) - len(TRACE))
        title = names.sheet(spec.sheets.get(form.id) or form.short_name)
        _data_sheet(book, title, _table_name(title), cols, rows, page)
    for log in spec.logs:
        title = names.sheet(log.sheet)
        _data_sheet(book, title, _table_name(title), *_log(snap, log))
    if spec.sign_up is not None:
        title = names.sheet(SIGNATORIES_SHEET)
        _data_sheet(book, title, _table_name(title), *_signatory_table(snap, people, problems))
    issues = [*_issue_rows(snap), *_problem_rows(problems)]
    _data_sheet(book, "Issues", "Issues", ISSUE_COLS, issues, _issues_page(cycle))
    return _save(book, snap.ws.reports_dir / "register.xlsx")


SIGNATORIES_SHEET = "Signatories"
_NOT_IN_SHEET_NAMES = re.compile(r"[\[\]:*?/\\]")


class _Names:
    """Sheet names from the pack, as Excel allows them: at most 31 characters, none of
    []:*?/\\, and each one different (ignoring case) from the sheets already named."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = {t.casefold() for t in taken}

    def sheet(self, wanted: str) -> str:
        base = _NOT_IN_SHEET_NAMES.sub(" ", " ".join(wanted.split())).strip("' ")[:31] or "Sheet"
        name, n = base, 1
        while name.casefold() in self.taken:
            n += 1
            name = f"{base[: 31 - len(str(n)) - 3]} ({n})"
        self.taken.add(name.casefold())
        return name


def _table_name(sheet: str) -> str:
    """An Excel table name for a sheet (letters and digits, not like a cell reference)."""
    name = re.sub(r"[^A-Za-z0-9]", "", sheet) or "Table"
    if not name[0].isalpha() or re.fullmatch(r"[A-Za-z]{1,3}[0-9]+", name):
        name = f"T{name}"
    return name


def _returns_page(snap: _Snapshot) -> _Page:
    return _Page(
        f"Returns expected in cycle {snap.ws.cycle}",
        "One row per team and form the roster expects: its status (valid, invalid, rejected "
        "or missing), when it came and the file it came in. Earlier versions are kept in "
        "the register.",
        key_cols=2,
    )


def _answers_page(what: str, cycle: str, print_cols: int) -> _Page:
    return _Page(
        f"Answers to the {what}, cycle {cycle}",
        f"One row per team's current {what} return, valid or invalid (see the Status "
        "column; only valid returns count in the figures). Printed, each row runs across "
        "pages with the team repeated; use the filters to read one team or one question. "
        "File, SHA-256 and time received are in the last columns, not printed.",
        print_cols=print_cols,
        key_cols=2,
    )


def _issues_page(cycle: str) -> _Page:
    return _Page(
        f"Open errors and queries, cycle {cycle}",
        "Every error (to fix) and query (to check or explain) in the current returns, "
        "including why an answer shown as invalid elsewhere is not counted; then any row "
        "of signatories.csv that could not be used.",
    )


STATUS_WORDS = (COUNTED, INVALID_RETURN, NO_RETURN)
LATE = "Late (of those received)"
COUNT_COLS = [Col("Expected", narrow=True), *(Col(w, narrow=True) for w in STATUS_WORDS)]
COUNT_COLS.append(Col(LATE, narrow=True))


def _counts(rows: Iterable[Expected]) -> Row:
    """Expected, then each outcome of the counting rule (they add up), then how many late."""
    rows = list(rows)
    by = Counter(outcome(e) for e in rows)
    return [len(rows), *(by[w] for w in STATUS_WORDS), sum(e.late for e in rows)]


def _overview(book: _Book, snap: _Snapshot) -> None:
    ws = snap.ws
    sheet = book.sheet("Overview")
    sheet.title(0, f"Participation returns: {ws.council}")
    sheet.note(
        1,
        "Where every return expected this cycle stands, overall, by service area and by "
        "kind of team. "
        + rule(snap.ws.require_approval)
        + " Late returns are counted above as well (valid or invalid); the late column "
        "says how many of them came after the due date.",
    )
    facts = [("Council", ws.council), ("Cycle", ws.cycle), ("Due date", ws.due)]
    facts.append(("Data as of", snap.now))
    for r, (label, value) in enumerate(facts, start=3):
        sheet.ws.write_string(r, 0, label, book.fmt(bold=True))
        sheet.cell(r, 1, value)
    total, *counts, late = _counts(snap.expected)
    shares = [Share(p) for p in percentages(counts)]
    status_rows = [[w, n, s] for w, n, s in zip(STATUS_WORDS, counts, shares, strict=True)]
    top = 8
    sheet.title(top, f"Returns by status ({total} expected; {late} of them late)", 12)
    cols = [Col("Status", coloured=True), Col("Returns"), Col("Share of expected", narrow=True)]
    after = sheet.table(top + 1, "StatusCounts", cols, status_rows)
    _status_chart(book, sheet, top + 1, counts, total)
    top = max(after + 1, top + 17)  # below the chart
    key: Callable[[Expected], str]
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
    chart.set_y_axis({"min": 0})  # no rotated axis title: it would print too small to read
    said = ", ".join(f"{n} {w.lower()}" for w, n in zip(STATUS_WORDS, counts, strict=True))
    sheet.ws.insert_chart(
        header,
        4,  # right of the status table, above the wider tables below it
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
        found: Row = (
            [_received(s), e.late, s.file_name, s.sha256[:12], s.errors, s.queries] if s else []
        )
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


def _answers_table(snap: _Snapshot, form: Form) -> tuple[list[Col], list[Row]]:
    """One row per team's current return of a form: every question, one column each."""
    inputs = form.inputs
    cols = [*TEAM_COLS, Col("Status", coloured=True)]
    cols += [Col(_question_header(i)) for i in inputs] + TRACE
    rows = [
        [
            *_team_cells(snap.team(s.team_id)),
            "Valid" if s.valid else "Invalid",
            *(_typed(value_at(s.document, i.field.path), i.field.kind) for i in inputs),
            *_trace(s),
        ]
        for s in snap.of_form(form.id)
    ]
    return cols, rows


@dataclass(frozen=True)
class _Standard:
    """One row of the rated framework: where its answers sit, and how it is named."""

    path: str
    short: str
    text: str
    inputs: tuple[Input, ...]


def _standards(snap: _Snapshot) -> list[_Standard]:
    """The rows of the rated framework, in order ([report.ratings]): each rated input."""
    spec = snap.ws.pack.report.ratings
    form = snap.form(spec.form) if spec else None
    if spec is None or form is None:
        return []
    out = []
    for i in form.inputs:
        path, key = i.field.path.rsplit(".", 1) if "." in i.field.path else ("", i.field.path)
        if key != spec.rating or path.rsplit(".", 1)[0] != spec.group:
            continue
        siblings = tuple(x for x in form.inputs if x.field.path.rsplit(".", 1)[0] == path)
        out.append(_Standard(path, spec.label(path.rsplit(".", 1)[-1]), i.label, siblings))
    return out


def _row_header(snap: _Snapshot) -> str:
    """What one row of the rated framework is called (its grid's row_header in the layout)."""
    spec = snap.ws.pack.report.ratings
    form = snap.form(spec.form) if spec else None
    blocks = form.layout.get("sheets", []) if form else []
    for sheet in blocks:
        for b in sheet.get("blocks", []):
            if spec and b.get("field") == spec.group and b.get("row_header"):
                return str(b["row_header"])
    return "Item"


def _standards_table(snap: _Snapshot) -> tuple[list[Col], list[Row]]:
    """One row per team and framework row of the rated form: the rating, then the rest."""
    spec = snap.ws.pack.report.ratings
    assert spec is not None
    stds = _standards(snap)
    extra = [x for x in stds[0].inputs if x.field.key != spec.rating] if stds else []
    cols = [Col("Team ID"), Col("Team name"), Col("Service area"), Col("Provider")]
    cols += [Col(_row_header(snap)), Col("Rating", coloured=True)]
    cols += [Col(x.field.title, width=40) for x in extra]
    cols += [Col("Return status", coloured=True), *TRACE]
    rows = []
    for s in snap.of_form(spec.form):
        t = snap.team(s.team_id)
        provider = t.provider or (value_at(s.document, spec.provider) if spec.provider else "")
        for std in stds:
            answers = [
                _typed(value_at(s.document, f"{std.path}.{x.field.key}"), x.field.kind)
                for x in extra
            ]
            rating = value_at(s.document, f"{std.path}.{spec.rating}")
            head = [t.team_id, t.team_name, t.service_area, provider, std.short, rating]
            rows.append([*head, *answers, "Valid" if s.valid else "Invalid", *_trace(s)])
    return cols, rows


def _items(doc: dict[str, Any], path: str) -> list[dict[str, Any]]:
    items = value_at(doc, path)
    if not isinstance(items, list):
        return []
    return [
        i for i in items if isinstance(i, dict) and any(v not in (None, "") for v in i.values())
    ]


def _log(snap: _Snapshot, log: Log) -> tuple[list[Col], list[Row], _Page]:
    """Every entry of one table ([[report.logs]]) of every current return, by service area
    then team: the printed columns after the team, the rest to the right for filtering."""
    form = snap.form(log.form)
    table = next((t for t in form.tables if t.path == log.table), None) if form else None
    columns = table.columns if table else ()
    printed = log.printed or tuple(c.key for c in columns)
    shown = [c for c in columns if c.key in printed]
    rest = [c for c in columns if c.key not in printed]
    cols = [Col("Service area", width=16), Col("Team", width=18)]
    cols += [Col(c.title, width=26 if c.kind == "text" else 18) for c in shown]
    cols += [Col(c.title) for c in rest]
    cols += [Col("Team ID"), Col("Return status", coloured=True), *TRACE]
    rows = []
    for s in snap.of_form(log.form):
        t = snap.team(s.team_id)
        status = "Valid" if s.valid else "Invalid"
        for item in _items(s.document, log.table):
            answers = [_typed(item.get(c.key), c.kind) for c in [*shown, *rest]]
            rows.append([t.service_area, t.team_name, *answers, t.team_id, status, *_trace(s)])
    rows.sort(key=lambda r: (str(r[0]).casefold(), str(r[1]).casefold(), str(r[2])))
    what = form.short_name if form else log.form
    page = _Page(
        f"{table.title if table and table.title else log.sheet}, cycle {snap.ws.cycle}",
        f"Every entry in each team's current {what} return, valid or invalid (see Return "
        "status), by service area then team. Filter by service area to read "
        "one area; file, SHA-256 and time received are to the right, off the printed page.",
        print_cols=2 + len(shown),
        key_cols=2,
    )
    return cols, rows, page


def _signatory_register(
    snap: _Snapshot,
) -> tuple[list[sign.Signatory], list[Issue]]:
    """Everyone on the register of signatories, and the signatories.csv rows not used."""
    spec = snap.ws.pack.report.sign_up
    cycles = [*snap.earlier, (snap.ws.cycle, snap.current)]
    found = sign.from_returns(cycles, snap.expected_of, spec) if spec else []
    added, problems = sign.read_csv(snap.ws.root / sign.CSV_NAME)
    return sign.register([*found, *added]), problems


SIGNATORY_COLS = [
    Col("Name"),
    Col("Role"),
    Col("Organisation"),
    Col("Date signed"),
    Col("Signed up in the return of", width=30),
    Col("Team ID"),
    Col("Latest cycle seen", narrow=True),
    Col("Times listed", narrow=True),
]


def _signatory_table(
    snap: _Snapshot, people: list[sign.Signatory], problems: list[Issue]
) -> tuple[list[Col], list[Row], _Page]:
    """The register of signatories: one row per person, across teams and cycles."""
    spec = snap.ws.pack.report.sign_up
    assert spec is not None
    form = snap.form(spec.form)
    table = next((t for t in form.tables if t.path == spec.table), None) if form else None
    where = f"the table '{table.title}'" if table and table.title else "the sign-up table"
    rows = [
        [p.name, p.role, p.organisation, p.date_signed, p.team, p.team_id, p.cycle, p.seen]
        for p in people
    ]
    unused = (
        f" {len(problems)} row(s) of {sign.CSV_NAME} could not be used: see the Issues sheet."
        if problems
        else ""
    )
    page = _Page(
        f"Register of {spec.title or 'signatories'}",
        "One row per person who signed: the same name and organisation (ignoring case and "
        f"spaces) is listed once, with their newest details. From {where} of valid "
        f"{form.short_name if form else spec.form} returns in every cycle in the register, "
        "and from "
        f"{sign.CSV_NAME} in the workspace (columns name, role, organisation, "
        "date_signed)." + unused,
        key_cols=1,
    )
    return SIGNATORY_COLS, rows, page


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


def _issue_rows(snap: _Snapshot, form: str | None = None) -> list[Row]:
    rows = []
    for s in snap.current:
        if form and s.form != form:
            continue
        name = snap.team(s.team_id).team_name
        for i in s.issues:
            where = [i.file, i.place.sheet, i.place.cell, i.label, i.message]
            severity = i.severity.value.capitalize()
            rows.append([s.team_id, name, s.form, *where, severity, str(i.code)])
    return rows


def _problem_rows(problems: list[Issue]) -> list[Row]:
    """signatories.csv problems as Issues rows: the file and cell, what to do."""
    return [
        [
            None,
            None,
            None,
            p.file,
            None,
            p.place.cell,
            None,
            p.message,
            p.severity.value.capitalize(),
            str(p.code),
        ]
        for p in problems
    ]


# --- compliance.xlsx -------------------------------------------------------------------


def _write_compliance(snap: _Snapshot) -> Path:
    framework, what = _framework(snap), _rated_form_name(snap)
    book = _Book(snap.ws, f"{framework} compliance {snap.ws.cycle}")
    stds = _standards(snap)
    cycle = snap.ws.cycle
    _dashboard(book, snap, stds)
    cols, rows = _matrix(snap, stds)
    matrix = _Page(
        f"{framework}: each service's rating, cycle {cycle}",
        f"One row per service expected to return the {what}. A rating shows "
        "only for a valid return; 'Invalid return' means the return has errors to fix, "
        "'Invalid answer' an answer that is not a rating (the reason is on the Issues "
        "sheet), 'No return' that none was received or it was rejected. File, SHA-256 and "
        "time received are to the right, off the printed page.",
        print_cols=len(cols) - len(TRACE),
        key_cols=2,
    )
    _data_sheet(book, "Matrix", "Matrix", cols, rows, matrix)
    exceptions = _Page(
        f"Exceptions to follow up, cycle {cycle}",
        f"{_plural(_row_header(snap))} rated {_or(_short_of_met(snap))} with no action "
        f"plan, and target dates that have passed, from the current {what} returns (valid "
        "or invalid); every valid return received after the due date (as collect judged "
        "it when it recorded the return); and after the due date, every return that is "
        "missing, rejected or invalid.",
        key_cols=2,
    )
    _data_sheet(book, "Exceptions", "Exceptions", _exception_cols(snap),
                _exceptions(snap, stds), exceptions)  # fmt: skip
    _data_sheet(book, "Trend", "Trend", *_trend(snap, stds))
    issues = _Page(
        f"Open errors and queries in the {what} returns, cycle {cycle}",
        "Why a return is invalid, or an answer is shown as 'Invalid answer': every error "
        f"(to fix) and query (to check or explain) in the current {what} returns.",
    )
    rated = snap.ws.pack.report.ratings
    rows = _issue_rows(snap, rated.form if rated else None)
    _data_sheet(book, "Issues", "Issues", ISSUE_COLS, rows, issues)
    return _save(book, snap.ws.reports_dir / "compliance.xlsx")


def _framework(snap: _Snapshot) -> str:
    """The rated framework's name ([report.ratings] framework), as the sheets title it."""
    spec = snap.ws.pack.report.ratings
    return spec.framework if spec else "Compliance"


def _rated_form_name(snap: _Snapshot) -> str:
    spec = snap.ws.pack.report.ratings
    form = snap.form(spec.form) if spec else None
    return form.short_name if form else "rated form"


def _short_of_met(snap: _Snapshot) -> tuple[str, ...]:
    spec = snap.ws.pack.report.ratings
    return spec.short_of_met if spec else ()


def _or(words: Sequence[str]) -> str:
    """Words joined as a person lists them: 'A', 'A or B', 'A, B or C'."""
    if len(words) < 2:
        return "".join(words) or "short of the top rating"
    return f"{', '.join(words[:-1])} or {words[-1]}"


def _plural(noun: str) -> str:
    return noun if noun.endswith("s") else f"{noun}s"


def _ratings_scale(snap: _Snapshot) -> tuple[str, ...]:
    """The rating's scale: the schema's choices, else the pack's met, partly and not met."""
    stds = _standards(snap)
    spec = snap.ws.pack.report.ratings
    rated = [i for s in stds for i in s.inputs if spec and i.field.key == spec.rating]
    if rated and rated[0].field.choices:
        return rated[0].field.choices
    return (*spec.met, *spec.partly_met, *spec.not_met) if spec else ()


def _services(snap: _Snapshot) -> list[Expected]:
    """The services expected to return the rated form, in roster order."""
    spec = snap.ws.pack.report.ratings
    return [e for e in snap.expected if spec and e.form == spec.form]


def _share_row(expected: list[Expected], path: str, scale: Sequence[str]) -> Row:
    """Services expected, how many count in each column (adding up to that), and each
    column's share of the services expected (adding up to 100%)."""
    counts = tally((answer_word(e, path, scale) for e in expected), scale)
    return [len(expected), *counts, *(Share(p) for p in percentages(counts))]


def _share_cols(scale: Sequence[str], expected: str = "Services expected") -> list[Col]:
    words = columns(scale)
    return [
        Col(expected, narrow=True),
        *(Col(w, narrow=True) for w in words),
        *(Col(f"{w} %", narrow=True) for w in words),
    ]


def _dashboard(book: _Book, snap: _Snapshot, stds: list[_Standard]) -> None:
    sheet = book.sheet("Dashboard")
    ws, services = snap.ws, _services(snap)
    scale = _ratings_scale(snap)
    spec = ws.pack.report.ratings
    rating = spec.rating if spec else ""
    item = _row_header(snap)
    sheet.title(0, f"{_framework(snap)}: {ws.council}, cycle {ws.cycle}")
    selves = _self_rated(snap)
    sheet.note(
        1,
        f"How the {len(services)} services expected to return the {_rated_form_name(snap)} "
        "rate themselves, overall and by service area"
        + (f", and how teams rate themselves on {_and(selves)}" if selves else "")
        + f"; data as of {snap.now:%d/%m/%Y %H:%M}.",
    )
    sheet.note(2, rule(snap.ws.require_approval))
    overall = [[s.short, s.text, *_share_row(services, f"{s.path}.{rating}", scale)] for s in stds]
    cols = [Col(item), Col(f"{item} in full", width=WORDING), *_share_cols(scale)]
    heading = f"Services by rating, per {item.lower()}"
    sheet.title(4, heading, 12)
    stem = _table_name(_plural(item))
    after = sheet.table(5, f"{stem}Overall", cols, overall)
    chart_rows = _standards_chart(book, sheet, 5, len(overall), scale, heading, _framework(snap))
    top = after + 1 + chart_rows
    # The chart starts a page, and so does each table after it: none is cut in two.
    sheet.ws.set_h_pagebreaks([after + 1, top] if chart_rows else [top])
    by_area = [
        [area, s.short, *_share_row(group, f"{s.path}.{rating}", scale)]
        for area, group in _by_area(services)
        for s in stds
    ]  # the row's short name sits in the column of its wording above
    sheet.title(top, "By service area", 12)
    after = sheet.table(
        top + 1,
        f"{stem}ByArea",
        [Col("Service area"), Col(item), *_share_cols(scale)],
        by_area,
    )
    _heat_map(book, sheet, snap, after + 1)
    sheet.finish(None)


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _by_area(rows: list[Expected]) -> list[tuple[str, list[Expected]]]:
    groups: dict[str, list[Expected]] = {}
    for e in rows:
        groups.setdefault(e.team.service_area, []).append(e)
    return sorted(groups.items())


CHART_ROWS = 20  # rows left below a table for its chart
WORDING = 36  # the width of a column of framework wording (a standard, a promise)
CHART_PT = 12  # chart text, big enough to stay over 8 pt when the page is fitted to A4


def _standards_chart(
    book: _Book,
    sheet: _Sheet,
    header: int,
    n: int,
    scale: Sequence[str],
    title: str,
    framework: str,
) -> int:
    """A stacked bar per framework row of the table's counts (the same numbers, labelled on the
    bars), placed under the table; returns the rows it takes."""
    if not n:
        return 0
    chart = book.wb.add_chart({"type": "bar", "subtype": "percent_stacked"})
    name = sheet.ws.name
    for k, word in enumerate(columns(scale)):
        col = 3 + k  # the row, its wording, services expected, then the counts
        fill = book.fills.get(word) or "grey"
        bar, label = (
            INVALID_BAR if word == INVALID_RETURN else (BAR_COLOURS[fill], LABEL_COLOURS[fill])
        )
        chart.add_series(
            {
                "name": [name, header, col],
                "categories": [name, header + 1, 0, header + n, 0],
                "values": [name, header + 1, col, header + n, col],
                "fill": {"color": bar},
                # Label text keeps 4.5:1 on its bar: white on green, red and purple,
                # black on amber and grey.
                "data_labels": {"value": True, "font": {"color": label, "size": CHART_PT}},
            }
        )
    chart.set_title({"name": title, "name_font": {"size": CHART_PT + 2}})
    chart.set_y_axis({"reverse": True, "num_font": {"size": CHART_PT}})  # the first at the top
    chart.set_x_axis({"num_font": {"size": CHART_PT}})
    chart.set_legend({"position": "bottom", "font": {"size": CHART_PT}})
    words = ", ".join(columns(scale))
    sheet.ws.insert_chart(
        header + n + 2,
        1,
        chart,
        {
            "description": "Stacked bar chart of the table above: for each row of the "
            f"{framework}, how many services count as {words}, as a share "
            "of the services expected.",
            "x_scale": 1.6,
            "y_scale": 1.3,
        },
    )
    return CHART_ROWS


def _heat_map(book: _Book, sheet: _Sheet, snap: _Snapshot, top: int) -> int:
    """Self-ratings ([report.self_ratings]): how many teams count in each rating (valid
    returns only), as an invalid return or as no return, shaded and shown."""
    rows_in = _framework_ratings(snap)
    if not rows_in:
        return top
    scale = rows_in[0][2].field.choices
    spec = snap.ws.pack.report.self_ratings
    returns = [e for e in snap.expected if spec and e.form == spec.form]
    rows = []
    for group, label, i in rows_in:
        counts = tally((answer_word(e, i.field.path, scale) for e in returns), scale)
        rows.append([group, label, *counts, len(returns)])
    what = _and(_self_rated(snap))
    sheet.title(top, f"{what[:1].upper()}{what[1:]}: how teams rate themselves (number of "
                "teams)", 12)  # fmt: skip
    cols = [Col("Framework"), Col("Statement", width=WORDING)]
    cols += [*(Col(w, narrow=True) for w in columns(scale)), Col("Teams expected", narrow=True)]
    after = sheet.table(top + 1, "Ratings", cols, rows)
    if rows and scale:
        sheet.ws.conditional_format(
            top + 2, 2, top + 1 + len(rows), 1 + len(scale), {"type": "3_color_scale", **HEAT_SCALE}
        )
    return after


def _framework_ratings(snap: _Snapshot) -> list[tuple[str, str, Input]]:
    """(group title, statement, rating input) for each self-rated statement, in the order
    of [report.self_ratings] groups."""
    spec = snap.ws.pack.report.self_ratings
    form = snap.form(spec.form) if spec else None
    if spec is None or form is None:
        return []
    blocks = [b for plan in form.sheets for b in plan.blocks if b.type == "grid"]
    return [
        (b.title, i.label, i)
        for group in spec.groups
        for b in blocks
        for i in b.inputs
        if i.field.key == spec.rating and i.field.path.rsplit(".", 2)[0] == group
    ]


def _self_rated(snap: _Snapshot) -> list[str]:
    """The self-rated groups as a sentence names them ('the five promises')."""
    titles = dict.fromkeys(group for group, _, _ in _framework_ratings(snap))
    return [t[:1].lower() + t[1:] for t in titles]


def _matrix(snap: _Snapshot, stds: list[_Standard]) -> tuple[list[Col], list[Row]]:
    """One row per service expected; each framework row's cell by the counting rule (a rating
    only from a valid return; an answer off the scale is never shown as a rating)."""
    scale = _ratings_scale(snap)
    spec = snap.ws.pack.report.ratings
    rating = spec.rating if spec else ""
    cols = [Col("Service", width=24), Col("Provider", width=18), Col("Service area", width=16)]
    cols += [Col("Team ID"), Col("Return", coloured=True)]
    # Rating words wrap (two words, one above the other), so the rows fit one page wide.
    cols += [Col(s.short, coloured=True, narrow=True, width=9) for s in stds] + TRACE
    rows = []
    for e in _services(snap):
        t, s = e.team, e.current
        trace = _trace(s) if s else [None, None, None]
        ratings = [shown_answer(e, f"{std.path}.{rating}", scale) for std in stds]
        rows.append(
            [t.team_name, t.provider, t.service_area, t.team_id, _word(e.status), *ratings,
             *trace]
        )  # fmt: skip
    return cols, rows


def _exception_cols(snap: _Snapshot) -> list[Col]:
    """The Exceptions sheet's columns; the framework row's is named as the layout names it."""
    return [
        Col("Team ID"),
        Col("Team name"),
        Col("Service area"),
        Col("Form"),
        Col(_row_header(snap)),
        Col("Exception"),
        Col("Detail"),
        Col("Rating", coloured=True),
        Col("Owner"),
        Col("Target date"),
        Col("File"),
    ]


NO_ACTION_PLAN = "No action plan"
TARGET_PASSED = "Target date passed"
MISSING, INVALID, RECEIVED_LATE = "Missing return", "Invalid return", "Received late"
REJECTED = "Rejected return"


def _exceptions(snap: _Snapshot, stds: list[_Standard]) -> list[Row]:
    rows = []
    for e in _services(snap):
        if e.current:
            rows += _standard_exceptions(snap, e, stds)
    overdue = snap.today > snap.ws.due  # still not valid now: judged today
    # A valid return received after the due date: as collect judged it when it recorded
    # the return (the submission's `late`), never judged again by today's date.
    received_late = [e for e in snap.expected if e.late and e.status == "valid"]
    not_valid = [e for e in snap.expected if overdue and e.status != "valid"]
    rows += [_late_row(snap, e) for e in not_valid + received_late]
    return rows


def _standard_exceptions(snap: _Snapshot, e: Expected, stds: list[_Standard]) -> list[Row]:
    """A rating short of met with its action plan (or part of it) blank, and an action
    whose target date has passed while the row is not met ([report.ratings])."""
    s, spec = e.current, snap.ws.pack.report.ratings
    assert s is not None and spec is not None
    plan = spec.action_plan  # role (action, owner, due) -> field key
    rows = []
    for std in stds:
        rating = value_at(s.document, f"{std.path}.{spec.rating}")
        given = {role: value_at(s.document, f"{std.path}.{k}") for role, k in plan.items()}
        due = given.get("due")
        target = _date(due) if isinstance(due, str) else None
        base = [e.team.team_id, e.team.team_name, e.team.service_area, e.form, std.short]
        tail = [rating, given.get("owner"), target or due, s.file_name]
        if rating in spec.short_of_met:
            missing = [_title_of(std, k) for k in plan.values() if _blank(value_at(
                s.document, f"{std.path}.{k}"))]  # fmt: skip
            if missing:
                detail = render(Code.REPORT_NO_ACTION_PLAN, rating=rating,
                                missing=", ".join(missing))  # fmt: skip
                rows.append([*base, NO_ACTION_PLAN, detail, *tail])
        if target and target < snap.today and rating not in spec.met:
            detail = render(Code.REPORT_TARGET_PASSED, date=_date_text(target))
            rows.append([*base, TARGET_PASSED, detail, *tail])
    return rows


def _blank(value: Any) -> bool:
    return value is None or value == ""


def _title_of(std: _Standard, key: str) -> str:
    return next((x.field.title.lower() for x in std.inputs if x.field.key == key), key)


def _late_row(snap: _Snapshot, e: Expected) -> Row:
    due = _date_text(snap.ws.due)
    if e.current is None and e.rejected is not None:
        # The team did send something: chasing it as missing would tell them nothing came.
        kind, file = REJECTED, e.rejected.path
        detail = render(Code.REPORT_REJECTED, reason=e.rejected.reason)
    elif e.current is None:
        kind, detail, file = MISSING, render(Code.REPORT_MISSING, due=due), None
    elif e.status != "valid":
        errors = e.current.errors
        kind, file = INVALID, e.current.file_name
        detail = render(Code.REPORT_INVALID_OVERDUE, errors=errors, due=due)
    else:
        kind, file = RECEIVED_LATE, e.current.file_name
        when = dt.datetime.fromisoformat(e.current.received_at).astimezone(snap.ws.tz)
        detail = render(Code.REPORT_RECEIVED_LATE, received=f"{when:%d/%m/%Y %H:%M}", due=due)
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


NO_RETURNS_YET = "No returns yet"
NO_RETURNS = "No returns"


def _trend(snap: _Snapshot, stds: list[_Standard]) -> tuple[list[Col], list[Row], _Page]:
    """Every cycle in the register, oldest first, then this cycle so far: each measure
    counted the same way in each, with the number of returns behind each figure, and the
    change since the latest earlier cycle. A cycle with nothing to count says so."""
    cycle = snap.ws.cycle
    cycles = [*snap.earlier, (cycle, snap.current)]
    counted = [{m: (v, n) for m, v, n in _measures(snap, subs, stds)} for _, subs in cycles]
    rows = []
    for measure, value, n in _measures(snap, snap.current, stds):
        row: Row = [measure]
        for (c, _), figures in zip(cycles, counted, strict=True):
            was, was_n = figures.get(measure, (None, 0))
            row += [was if was_n else (NO_RETURNS_YET if c == cycle else NO_RETURNS), was_n]
        if len(cycles) > 1:
            was, was_n = counted[-2].get(measure, (None, 0))
            change = value - was if n and was_n else None
            row.append(Share(change) if isinstance(value, Share) and change is not None else change)
        rows.append(row)
    cols = [Col("Measure", width=50)]
    for c, _ in cycles:
        label = f"{c} so far" if c == cycle else c
        cols += [
            Col(label, coloured=True, narrow=True),
            Col(f"Returns behind it ({c})", narrow=True),
        ]
    if len(cycles) > 1:
        cols.append(Col(f"Change since {cycles[-2][0]}", narrow=True))
    return cols, rows, _trend_page(cycle, [c for c, _ in cycles])


def _trend_page(cycle: str, cycles: list[str]) -> _Page:
    if len(cycles) == 1:
        return _Page(
            f"Trend: cycle {cycle}",
            "Each measure of this cycle so far, with the number of returns behind it. No "
            "earlier cycle is recorded in the register yet: each appears here once it is.",
        )
    return _Page(
        f"Trend: cycles {cycles[0]} to {cycle}",
        f"Each measure in every cycle in the register ({_and(cycles)}; {cycle} so far), "
        "counted the same way, with the number of returns behind each figure, and the change "
        f"since {cycles[-2]}. Shares are of valid returns only. '{NO_RETURNS}' where a cycle "
        f"has none to count ('{NO_RETURNS_YET}' for this cycle), so a measure never seems "
        "to fall to 0 for want of returns.",
    )


def _measures(
    snap: _Snapshot, subs: list[Submission], stds: list[_Standard]
) -> list[tuple[str, Any, int]]:
    """The trend's measures for one cycle, from its current submissions alone: (measure,
    figure, how many returns it is of). An earlier cycle's roster is not kept, so shares
    are of the valid returns received, never of the teams expected."""
    counted = [s for s in subs if outcome(snap.expected_of(s)) == COUNTED]
    out: list[tuple[str, Any, int]] = []
    for form_id, form in snap.ws.pack.forms.items():
        mine = sum(s.form == form_id for s in subs)
        out.append((f"{form.short_name}: returns received", mine, mine))
        valid = sum(s.form == form_id for s in counted)
        out.append((f"{form.short_name}: valid returns", valid, mine))
    spec = snap.ws.pack.report.ratings
    reviews = [s for s in counted if spec and s.form == spec.form]
    scale = _ratings_scale(snap)
    for std in stds:
        rated = [value_at(s.document, f"{std.path}.{spec.rating}") for s in reviews if spec]
        for word in scale:
            share = rated.count(word) / len(rated) if rated else 0
            out.append((f"{std.short}: share {word}", Share(share), len(rated)))
    selves = snap.ws.pack.report.self_ratings
    rated_selves = [s for s in counted if selves and s.form == selves.form]
    for _, label, i in _framework_ratings(snap):
        given = [value_at(s.document, i.field.path) for s in rated_selves]
        good = sum(g in i.field.choices[:2] for g in given)
        top_two = " or ".join(i.field.choices[:2])
        share = good / len(given) if given else 0
        out.append((f"{label}: share {top_two}", Share(share), len(given)))
    return out


# --- feedback workbooks ----------------------------------------------------------------


def _feedback_name(team_id: str, form: str) -> str:
    return f"{team_id}-{form}.xlsx"


EXPLAIN_HINT = f"If the answer is right, say why on the sheet '{explain.SHEET}'."


def _marks(sub: Submission) -> list[Mark]:
    """One mark per cell with issues: an error mark if any of them is an error."""
    by_cell: dict[tuple[str, int, int], list[Issue]] = {}
    for i in sub.issues:
        at = i.place
        if not at.sheet or not at.cell:
            continue
        by_cell.setdefault((at.sheet, at.row, at.col), []).append(i)
    marks = []
    for (s, r, c), found in by_cell.items():
        errors = [i for i in found if i.is_error]
        ordered = errors + [i for i in found if not i.is_error]
        text = "\n".join(
            i.message if i.is_error else f"Please check: {i.message} {EXPLAIN_HINT}"
            for i in ordered
        )
        name = ordered[0].label
        marks.append(Mark(s, r, c, text, "error" if errors else "query", name))
    return marks


def _write_feedback(snap: _Snapshot) -> dict[tuple[str, str], Path]:
    """Feedback for each current return with errors or queries still to explain; stale
    feedback files are removed."""
    ws = snap.ws
    folder = ws.reports_dir / FEEDBACK_DIR
    ctx = IssueContext.of(ws)
    written: dict[tuple[str, str], Path] = {}
    for e in snap.expected:
        form = snap.form(e.form)
        if not _needs_feedback(e) or form is None or e.current is None:
            continue
        queries = explain.queries_to_ask(e.current.issues, e.explained, ws.pack.explanations)
        data = build_workbook(
            form,
            e.team,
            ctx,
            answers=e.current.document,
            marks=_marks(e.current),
            queries=queries,
            note=feedback_note(e.review),
        )
        target = folder / _feedback_name(e.team.team_id, e.form)
        written[(e.team.team_id, e.form)] = atomic_write_bytes(target, data)
    keep = {_feedback_name(t, f) for t, f in written}
    _remove_stale(folder, keep, list(ws.pack.forms))
    return written


def _needs_feedback(e: Expected) -> bool:
    """A return received and chased (invalid, sent back, or with queries still open)."""
    return e.current is not None and e.chased


def _remove_stale(folder: Path, keep: set[str], forms: list[str]) -> None:
    """Delete our own feedback files that no longer match an invalid return; nothing else."""
    if not folder.is_dir():
        return
    alternatives = "|".join(re.escape(f) for f in forms)
    ours = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,39}}-(?:{alternatives})\.xlsx")
    for path in folder.iterdir():
        if path.is_file() and ours.fullmatch(path.name) and path.name not in keep:
            remove_output(path)  # with the rest of the set: all or nothing


# --- chasers.csv -------------------------------------------------------------------------


def _write_chasers(snap: _Snapshot, feedback: dict[tuple[str, str], Path]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CHASER_COLUMNS)
    for e in snap.expected:
        if not e.chased:
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
    note = ""
    if e.sent_back:
        assert e.review is not None
        note = f"Sent back by the coordinator: {' '.join(str(e.review['note']).split())} "
    issues = e.current.issues
    if e.status == "valid" and not e.queries_open:
        return f"{note}Please change the return as the note says and send it again."
    if e.status == "valid":
        n, first = len(e.queries_open), e.queries_open[0]
        where = f"{first.place.shown()}: " if first.sheet and first.cell else ""
        return note + (
            f"{n} quer{'y' if n == 1 else 'ies'} to explain: first, {where}"
            f"{first.message} The return is accepted: please explain each query "
            "on the 'Explain queries' sheet of the feedback workbook (or correct the answer) "
            "and return that workbook."
        )
    errors = [i for i in issues if i.is_error] or issues
    if not errors:
        return "The return could not be accepted; please send it again."
    first = errors[0]
    where = f"{first.place.shown()}: " if first.sheet and first.cell else ""
    return f"{note}{len(errors)} problem(s) to fix: first, {where}{first.message}"


__all__ = [
    "CUT_MARKER",
    "write_chasers",
    "write_compliance",
    "write_feedback",
    "write_register",
    "write_reports",
]
