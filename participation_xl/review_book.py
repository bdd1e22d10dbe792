"""reports/review.xlsx: the coordinator's decisions, typed in a workbook.

One row per current return, with a Decision dropdown (Approve / Send back / blank) and a
Note, both unlocked. `collect` and `report` read it back and record every decision typed
since it was written, then rewrite it.

A typed decision is never lost:

- read before write: the file is read, and its decisions recorded, before it is rewritten;
- what was written is remembered (.participation/review-book.json: the file's SHA-256 and
  each row's decision and note), so a row counts as a new decision only when it differs
  from what we wrote, and a decision made with `participation-xl review` meanwhile is not
  undone by an untouched row;
- a file that changed since it was written but cannot be read now (open and locked,
  damaged) is kept as it is and not rewritten; so is a file open in Excel (its lock file is
  beside it), since its unsaved decisions would be overwritten when it is saved;
- a typed value that cannot be recorded (not a decision, or Send back without a note) is
  written back into the new file as typed, with a message;
- a row is applied only to the return it was written for: its hidden return number, team,
  form and file SHA-256 must all still match the register (`rebuild` renumbers returns,
  and drops review-book.json); a row that no longer matches is reported, not applied;
- a decision the same as the one standing is not recorded again, and what was recorded is
  remembered at once, outside the staged report set: a report run that fails after
  reading the file does not record its decisions a second time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import openpyxl
import xlsxwriter

from .errors import ReviewError
from .messages import Code, render
from .outputs import SAFE_WORKBOOK_OPTIONS, atomic_write_bytes
from .place import cell_name, shown_at
from .register import Register
from .review import STATE_OF, decide, ensure_table, standing
from .review import history_of as _history
from .status import Expected
from .workspace import Workspace

BOOK = "review.xlsx"
STATE = "review-book.json"
SHEET = "Review"
APPROVE, SEND_BACK = "Approve", "Send back"
CHOICE_OF = {"approve": APPROVE, "return": SEND_BACK}
ACTION_OF = {
    "approve": "approve",
    "approved": "approve",
    "send back": "return",
    "sent back": "return",
    "return": "return",
    "returned": "return",
}
KEY = "Return no."  # the submission's id: a decision belongs to the return it was typed on
# The file's SHA-256, hidden beside the id: after a rebuild renumbers the returns, a row
# whose id now names another return (or other bytes) is not applied to it.
SHA = "File SHA-256"
# Widths sum to about 140 characters, which LibreOffice prints on A4 landscape at about
# 78%: 11-point text stays above 8 points on paper.
COLUMNS = (
    ("Team ID", 8),
    ("Team name", 20),
    ("Form", 12),
    ("Status", 11),
    ("Errors", 6),
    ("Queries", 7),
    ("Received (UTC)", 15),
    ("Decision now", 24),
    ("Decision", 10),
    ("Note", 30),
    (KEY, 8),  # hidden
    (SHA, 8),  # hidden
)
HEADS = [c for c, _ in COLUMNS]
HEADER_ROW = 3
MAX_BYTES = 20 * 1024 * 1024  # thousands of rows are well under 1 MB
MAX_ROWS = 100_000


@dataclass
class ReadBack:
    """What reading the review workbook found: whether it may be rewritten, messages, and
    values typed but not recorded (submission id -> (decision, note) as typed)."""

    may_write: bool = True
    warnings: list[str] = field(default_factory=list)
    kept: dict[int, tuple[str, str]] = field(default_factory=dict)
    recorded: dict[str, list[str]] = field(default_factory=dict)  # id -> [action, note]


def book_path(ws: Workspace) -> Path:
    return ws.reports_dir / BOOK


def _state_path(ws: Workspace) -> Path:
    return ws.state_dir / STATE


def _load_state(ws: Workspace) -> dict[str, Any]:
    try:
        data = json.loads(_state_path(ws).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}  # never written, or damaged: every row is compared with the register


def _lock_file(path: Path) -> Path | None:
    """Excel's ~$name, or LibreOffice's .~lock.name#, beside a workbook that is open."""
    for name in (f"~${path.name}", f".~lock.{path.name}#"):
        if (path.parent / name).exists():
            return path.parent / name
    return None


# --- reading back ---------------------------------------------------------------------------


def read_back(ws: Workspace, reg: Register) -> ReadBack:
    """Record the decisions typed in reports/review.xlsx since it was written."""
    path = book_path(ws)
    if not path.exists():
        return ReadBack()
    state = _load_state(ws)
    lock = _lock_file(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise _Unreadable(Code.REVIEW_BOOK_TOO_LARGE)
        data = path.read_bytes()
    except (OSError, ValueError) as err:
        return ReadBack(False, [render(Code.REVIEW_BOOK_UNREAD, path=path, detail=_detail(err))])
    if hashlib.sha256(data).hexdigest() == state.get("sha256") and lock is None:
        return ReadBack()  # unchanged since written: nothing typed
    try:
        rows = _parse(data)
    except Exception as err:  # any damage: keep the file, and say so
        return ReadBack(False, [render(Code.REVIEW_BOOK_UNREAD, path=path, detail=_detail(err))])
    back = _record(ws, reg, path, rows, state.get("rows") or {})
    if back.recorded:
        # The register has committed them: remember so now, outside the staged report set,
        # so a report run that fails does not record them again next time.
        state["rows"] = {**(state.get("rows") or {}), **back.recorded}
        _save_state(ws, state)
    if lock is not None:
        back.may_write = False
        back.warnings.append(render(Code.REVIEW_BOOK_OPEN, path=path, lock=lock.name))
    return back


def _save_state(ws: Workspace, state: dict[str, Any]) -> None:
    """Write review-book.json at once, even inside all_or_nothing(): it follows the
    register (already committed), not the report set."""
    path = _state_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(json.dumps(state, indent=1).encode("utf-8"))
    os.replace(tmp, path)


def forget(ws: Workspace) -> None:
    """Drop review-book.json (rebuild renumbers the returns its rows are keyed by): every
    row of the workbook is then compared with the register."""
    _state_path(ws).unlink(missing_ok=True)


class _Unreadable(ValueError):
    """Why the review workbook cannot be read, in the catalogue's words: the detail of
    review.book_unread, which the report shows as a warning."""

    def __init__(self, code: Code, /, **values: object) -> None:
        super().__init__(render(code, **values))
        self.code = code


def _detail(err: BaseException) -> str:
    if isinstance(err, PermissionError):
        return render(Code.REVIEW_BOOK_LOCKED)
    if isinstance(err, zipfile.BadZipFile):
        return render(Code.REVIEW_BOOK_DAMAGED)
    return str(err) or type(err).__name__


def _parse(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    """(row number, values by heading) of each row with a return number. Only the sheet's
    known columns and a bounded number of rows are read, whatever the file holds."""
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        if SHEET not in wb.sheetnames:
            raise _Unreadable(Code.REVIEW_BOOK_NO_SHEET, sheet=SHEET)
        sheet = wb[SHEET]
        cols: dict[str, int] = {}
        out = []
        rows = sheet.iter_rows(max_row=MAX_ROWS, max_col=len(HEADS) + 4, values_only=True)
        for n, values in enumerate(rows, start=1):
            if not cols:
                if n > 10:
                    raise _Unreadable(Code.REVIEW_BOOK_NO_HEADINGS, sheet=SHEET)
                if values and values[0] == HEADS[0]:
                    cols = {str(h): i for i, h in enumerate(values) if h in HEADS}
                    if not {KEY, "Decision", "Note"} <= cols.keys():
                        raise _Unreadable(Code.REVIEW_BOOK_NO_COLUMNS)
                continue
            key = values[cols[KEY]] if cols[KEY] < len(values) else None
            if isinstance(key, int | float) and not isinstance(key, bool):
                out.append(
                    (n, {h: values[i] if i < len(values) else None for h, i in cols.items()})
                )
        return out
    finally:
        wb.close()


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _record(
    ws: Workspace,
    reg: Register,
    path: Path,
    rows: list[tuple[int, dict[str, Any]]],
    written: dict[str, Any],
) -> ReadBack:
    back = ReadBack()
    col = HEADS.index("Decision")
    for n, row in rows:
        sub_id = int(row[KEY])
        raw, note = _text(row.get("Decision")), _text(row.get("Note"))
        cell = cell_name(n, col + 1)
        if not _same_return(ws, reg, sub_id, row):
            if raw:
                team, form = _text(row.get("Team ID")), _text(row.get("Form"))
                back.warnings.append(
                    render(
                        Code.REVIEW_BOOK_STALE_ROW,
                        path=path,
                        cell=cell,
                        team=team or "?",
                        form=form or "?",
                        number=sub_id,
                        value=raw,
                    )
                )
            continue
        action = ACTION_OF.get(raw.casefold(), "") if raw else ""
        was = written.get(str(sub_id))
        ok = isinstance(was, list) and len(was) == 2 and all(isinstance(v, str) for v in was)
        now = _standing_pair(reg, sub_id)
        before = cast(list[str], was) if ok else now  # ok: `was` is a pair of strings
        if raw and not action:
            back.warnings.append(
                render(Code.REVIEW_BOOK_BAD_DECISION, path=path, cell=cell, value=raw)
            )
            back.kept[sub_id] = (raw, note)
            continue
        if [action, note] == list(before):
            continue  # as written: nothing new
        if not action:
            if not before[0] or not now[0]:
                continue  # a note with no decision, or nothing standing to undo
            action, note = "undo", ""
        elif [action, note] == list(now):
            continue  # already standing (recorded by a run whose reports failed): not twice
        if action == "return" and not note:
            back.warnings.append(render(Code.REVIEW_BOOK_NOTE_REQUIRED, path=path, cell=cell))
            back.kept[sub_id] = (raw, note)
            continue
        back.warnings += _apply(ws, reg, path, cell, sub_id, action, note, back)
        if sub_id not in back.kept:
            back.recorded[str(sub_id)] = ["", ""] if action == "undo" else [action, note]
    return back


def _same_return(ws: Workspace, reg: Register, sub_id: int, row: dict[str, Any]) -> bool:
    """Whether the row's return number still names the return the row was written for:
    same team and form, and the same file when the workbook has the hidden SHA-256."""
    found = reg.db.execute(
        "SELECT team_id, form, sha256 FROM submissions WHERE id = ? AND cycle = ?",
        (sub_id, ws.cycle),
    ).fetchone()
    if found is None:
        return False  # not a return of this cycle (renumbered, or pasted from another file)
    team, form, sha = _text(row.get("Team ID")), _text(row.get("Form")), _text(row.get(SHA))
    if (team, form) != (str(found[0]), str(found[1])):
        return False
    return not sha or sha == str(found[2])  # a workbook from before the column: team and form


def _standing_pair(reg: Register, sub_id: int) -> tuple[str, str]:
    review = standing(_history(reg, sub_id))
    if review is None:
        return ("", "")
    action = next(a for a, s in STATE_OF.items() if s == review["state"])
    return (action, review["note"] or "")


def _apply(
    ws: Workspace,
    reg: Register,
    path: Path,
    cell: str,
    sub_id: int,
    action: str,
    note: str,
    back: ReadBack,
) -> list[str]:
    row = reg.db.execute(
        "SELECT team_id, form, current FROM submissions WHERE id = ? AND cycle = ?",
        (sub_id, ws.cycle),
    ).fetchone()
    if row is None:
        return []  # not a return of this cycle (a row pasted from another file)
    team, form, current = str(row[0]), str(row[1]), bool(row[2])
    try:
        decide(
            ws,
            reg,
            team,
            form,
            action,
            note,
            source="workbook",
            submission_id=None if current else sub_id,
        )
    except ReviewError as err:
        back.kept[sub_id] = (CHOICE_OF.get(action, ""), note)
        return [f"{path}: {shown_at(SHEET, cell)}: {err}"]
    if not current:
        return [render(Code.REVIEW_BOOK_SUPERSEDED, path=path, cell=cell, team=team, form=form)]
    return []


# --- writing ------------------------------------------------------------------------------


def write_book(
    ws: Workspace,
    expected: list[Expected],
    reviews: dict[tuple[str, str], dict[str, Any] | None],
    back: ReadBack,
    now: dt.datetime | None = None,
) -> list[Path]:
    """Rewrite reports/review.xlsx with one row per current return, unless reading it back
    said not to. Returns the path written (beside the usual one when it was locked)."""
    if not back.may_write:
        return []
    rows = [e for e in expected if e.current is not None]
    data, shown = _build(ws, rows, reviews, back, now or dt.datetime.now().replace(microsecond=0))
    target = book_path(ws)
    path = atomic_write_bytes(target, data)
    if path == target:
        state = {"sha256": hashlib.sha256(data).hexdigest(), "rows": shown}
        atomic_write_bytes(_state_path(ws), json.dumps(state, indent=1).encode("utf-8"))
    return [path]


def _build(
    ws: Workspace,
    rows: list[Expected],
    reviews: dict[tuple[str, str], dict[str, Any] | None],
    back: ReadBack,
    now: dt.datetime,
) -> tuple[bytes, dict[str, list[str]]]:
    """The workbook, and what each row's Decision and Note hold as recorded decisions."""
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, SAFE_WORKBOOK_OPTIONS)
    wb.set_properties({"title": f"Review of returns {ws.cycle}", "author": ws.council})
    f = _formats(wb)
    sheet = wb.add_worksheet(SHEET)
    sheet.write_string(0, 0, f"Review of returns: {ws.council}, cycle {ws.cycle}", f["title"])
    sheet.merge_range(1, 0, 1, len(HEADS) - 2, _instructions(), f["wrap"])
    sheet.set_row(1, 62)
    states = [(reviews.get((e.team.team_id, e.form)) or {}).get("state") for e in rows]
    sheet.write_string(
        2,
        0,
        f"Written {now:%d/%m/%Y %H:%M}: {len(rows)} return(s); {states.count('approved')} "
        f"approved, {states.count('returned')} sent back, {states.count(None)} not decided.",
        f["plain"],
    )
    for c, (head, width) in enumerate(COLUMNS):
        sheet.write_string(HEADER_ROW, c, head, f["head"])
        sheet.set_column(c, c, width)
    shown: dict[str, list[str]] = {}
    for r, e in enumerate(rows, start=HEADER_ROW + 1):
        assert e.current is not None
        review = reviews.get((e.team.team_id, e.form))
        shown[str(e.current.id)] = _as_written(review)
        decision, note = back.kept.get(e.current.id) or (
            CHOICE_OF.get(shown[str(e.current.id)][0], ""),
            shown[str(e.current.id)][1],
        )
        _row(sheet, f, r, e, review, decision, note)
    last = HEADER_ROW + max(len(rows), 1)
    dec = HEADS.index("Decision")
    sheet.data_validation(
        HEADER_ROW + 1,
        dec,
        last,
        dec,
        {
            "validate": "list",
            "source": [APPROVE, SEND_BACK],
            "ignore_blank": True,
            "input_title": "Your decision",
            "input_message": "Approve, or Send back (type a note). Clear it to undo.",
            "error_title": "Not a decision",
            "error_message": "Choose Approve or Send back from the list, or leave it blank.",
        },
    )
    hidden = HEADS.index(KEY)
    sheet.set_column(hidden, len(HEADS) - 1, COLUMNS[-1][1], None, {"hidden": True})
    sheet.autofilter(HEADER_ROW, 0, last, len(HEADS) - 1)
    sheet.freeze_panes(HEADER_ROW + 1, 2)
    sheet.set_landscape()
    sheet.set_margins(left=0.3, right=0.3, top=0.5, bottom=0.5)
    sheet.set_paper(9)
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(HEADER_ROW)
    sheet.protect(
        ws.sheet_password, {"autofilter": True, "format_columns": True, "format_rows": True}
    )
    wb.close()
    return buf.getvalue(), shown


def _as_written(review: dict[str, Any] | None) -> list[str]:
    if not review:
        return ["", ""]
    action = next(a for a, s in STATE_OF.items() if s == review["state"])
    return [action, review["note"] or ""]


def _row(
    sheet: Any,
    f: dict[str, Any],
    r: int,
    e: Expected,
    review: dict[str, Any] | None,
    decision: str,
    note: str,
) -> None:
    s = e.current
    assert s is not None
    plain = f["plain"]
    sheet.write_string(r, 0, e.team.team_id, plain)
    sheet.write_string(r, 1, e.team.team_name, f["wrap"])
    sheet.write_string(r, 2, e.form, plain)
    sheet.write_string(r, 3, e.status.capitalize() + (" (late)" if e.late else ""), plain)
    sheet.write_number(r, 4, s.errors, plain)
    sheet.write_number(r, 5, s.queries, plain)
    try:
        received = dt.datetime.fromisoformat(s.received_at).replace(tzinfo=None)
        sheet.write_datetime(r, 6, received, f["date"])
    except ValueError:
        sheet.write_string(r, 6, s.received_at, plain)
    sheet.write_string(r, 7, _now_words(review), f["wrap"])
    sheet.write_string(r, 8, decision, f["input"])
    sheet.write_string(r, 9, note, f["input_wrap"])
    sheet.write_number(r, 10, s.id, plain)
    sheet.write_string(r, 11, s.sha256, plain)
    # XlsxWriter cannot autofit: give wrapped text the lines it needs (15 points a line).
    wrapped = ((e.team.team_name, 1), (_now_words(review), 7), (note, 9))
    lines = max(_lines(text, COLUMNS[c][1]) for text, c in wrapped)
    if lines > 1:
        sheet.set_row(r, 15 * lines + 2)


def _lines(text: str, width: int) -> int:
    return sum(max(1, -(-len(part) // max(1, width - 1))) for part in text.split("\n"))


def _now_words(review: dict[str, Any] | None) -> str:
    if not review:
        return "Not decided"
    word = "Approved" if review["state"] == "approved" else "Sent back"
    try:
        at = f"{dt.datetime.fromisoformat(review['at']):%d/%m/%Y %H:%M} UTC"
    except ValueError:
        at = str(review["at"])
    return f"{word} by {review['by']}, {at}"


def _instructions() -> str:
    return (
        "For each return, choose Approve or Send back in the Decision column (✎, pale yellow) "
        "and type a Note; sending back needs a note, which the team receives in a feedback "
        "workbook and an email draft. Save the file: the next 'participation-xl collect' or "
        "'report' records each decision with your name and the time, then rewrites this "
        "file. Clear a decision to undo it. A newer return from a team starts undecided."
    )


def _formats(wb: xlsxwriter.Workbook) -> dict[str, Any]:
    base = {"font_size": 11, "valign": "top"}
    return {
        "title": wb.add_format({"bold": True, "font_size": 14}),
        "head": wb.add_format(
            {
                **base,
                "bold": True,
                "bg_color": "#1F4E79",
                "font_color": "#FFFFFF",
                "text_wrap": True,
            }
        ),
        "plain": wb.add_format(base),
        "wrap": wb.add_format({**base, "text_wrap": True}),
        "date": wb.add_format({**base, "num_format": "dd/mm/yyyy hh:mm"}),
        "input": wb.add_format({**base, "locked": False, "bg_color": "#FFF9DB", "border": 3}),
        "input_wrap": wb.add_format(
            {**base, "locked": False, "bg_color": "#FFF9DB", "border": 3, "text_wrap": True}
        ),
    }


def read_and_record(ws: Workspace, reg: Register) -> ReadBack:
    """read_back, with the history table made first (a register from before reviews)."""
    ensure_table(reg)
    return read_back(ws, reg)


__all__ = ["ReadBack", "book_path", "read_and_record", "read_back", "write_book"]
