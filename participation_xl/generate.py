"""Generate: locked, signed workbooks for every team on the roster.

Each workbook is written from scratch with XlsxWriter from the pack's laid-out form: only
answer cells are unlocked, dropdowns and validation come from the schema, a live banner
counts what is still missing, and a very hidden sheet carries the signed identity.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xlsxwriter

from . import explain, identity, issued, prefill
from .counting import value_at
from .errors import ConfigError
from .live import (
    BLANK_WORDS,
    Checks,
    Spot,
    answer_spots,
    as_written,
    blank_words,
    verdict,
    written_cell,
)
from .messages import Code
from .outputs import SAFE_WORKBOOK_OPTIONS, atomic_write_bytes
from .pack import (
    BANNER_ROW,
    INSTRUCTIONS_SHEET,
    LISTS_SHEET,
    META_SHEET,
    Block,
    Field,
    Form,
    Input,
    Section,
    SheetPlan,
    Table,
    shared_pack,
)
from .place import Place, cell_name, column_range, ref
from .roster import Team, read_roster
from .workspace import Workspace

DATE_FORMAT = "dd/mm/yyyy"
NUMBER_FORMATS = {
    "date": DATE_FORMAT,
    "integer": "0",
    "number": "#,##0.00",
    "text": "@",
    "email": "@",
}
WIDTHS = {"date": 12, "integer": 10, "number": 14, "choice": 14, "email": 30}
LABEL_WIDTH = 45  # questions: the label and its guidance
GRID_LABEL_WIDTH = 30  # a grid's row label (a promise, a right, a standard)
STATUS_WIDTH = 14
SHEET_WIDTH = 130  # what A4 landscape holds at 100%, in units of column width
# Excel caps a row at 409 points, about 30 lines of 10-point text. A free-text column is
# wide enough for its longest allowed answer in 30 lines (36 characters a line of its
# width, measured on typical text), and no wider than 56: wide sheets then still print on
# A4 landscape at 82% or more, so that 10-point text prints at 8 points or more.
CHARS_PER_WIDTH = 36
CHARS_PER_UNIT = 1.15  # characters of 10-point Arial a line, per unit of column width
LINE_HEIGHT = 13  # points a line of 10-point text takes, with its spacing
MAX_ROW_HEIGHT = 409  # Excel's tallest row
PRINTED_ROWS = 20  # a table prints at least this many rows, and every row in use
STILL_TO_DO = "still_to_do"  # the defined name of the count of answers to fix
CARRIED = "From last year: check and update"  # a pre-filled answer's status, in words


@dataclass(frozen=True)
class IssueContext:
    """What every workbook of one cycle shares."""

    council: str
    cycle: str
    due: dt.date
    return_to: str
    sheet_password: str
    secret: bytes
    generated_at: str
    # The pack's general how-to text for every Instructions sheet ([instructions]).
    instructions: tuple[Section, ...] = ()

    @classmethod
    def of(cls, ws: Workspace) -> IssueContext:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        return cls(
            ws.council,
            ws.cycle,
            ws.due,
            ws.return_instructions,
            ws.sheet_password,
            ws.secret,
            now,
            ws.pack.instructions,
        )

    def filled(self, text: str) -> str:
        """Pack text with its placeholders filled in for this cycle (pack.PLACEHOLDERS)."""
        return text.format(
            due=f"{self.due:%A %d %B %Y}",
            return_to=self.return_to,
            council=self.council,
            cycle=self.cycle,
        )


@dataclass(frozen=True)
class Mark:
    """A problem to show on a cell of a feedback workbook: an error, or else a query."""

    sheet: str
    row: int
    col: int
    message: str
    severity: str = "error"
    name: str = ""  # the question in words, as collect names it


# xlsxwriter is untyped: its Workbook is Any to mypy.
class _LockedWorkbook(xlsxwriter.Workbook):  # type: ignore[misc]
    """XlsxWriter cannot protect a workbook's structure; this adds <workbookProtection>.

    The element must sit just before <bookViews> (ECMA-376 order), so we hook the writer
    of that element rather than re-zipping the file afterwards.
    """

    structure_password = ""

    def _write_book_views(self) -> None:
        attrs = [("lockStructure", "1")]
        if self.structure_password:
            attrs.insert(0, ("workbookPassword", _legacy_hash(self.structure_password)))
        self._xml_empty_tag("workbookProtection", attrs)
        super()._write_book_views()


def _legacy_hash(password: str) -> str:
    # ECMA-376 Part 4 §14.7.1: the 16-bit hash Excel uses for sheet and workbook passwords.
    digest = 0
    for char in password[::-1]:
        digest = ((digest >> 14) & 0x01) | ((digest << 1) & 0x7FFF)
        digest ^= ord(char)
    digest = ((digest >> 14) & 0x01) | ((digest << 1) & 0x7FFF)
    digest ^= len(password) ^ 0xCE4B
    return f"{digest:X}"


# --- public API ----------------------------------------------------------------------


def build_workbook(
    form: Form,
    team: Team,
    ctx: IssueContext,
    answers: Mapping[str, Any] | None = None,
    marks: Iterable[Mark] = (),
    *,
    queries: Sequence[explain.Query] = (),
    note: str = "",
    carried_from: str = "",
) -> bytes:
    """One locked, signed workbook for a team, optionally pre-filled and marked (feedback).

    `queries` (feedback only) adds the sheet where the team explains each query; `note` is
    the coordinator's note on a return sent back. Further feedback options are keyword-only,
    so callers name what they pass. `carried_from` (a cycle) says the `answers` are last
    cycle's, carried forward: each is marked "From last year: check and update"."""
    builder = _Builder(form, team, ctx, answers or {}, list(marks))
    builder.queries = list(queries)
    builder.note = note
    builder.carried_from = carried_from
    return builder.build()


def outbox_path(ws: Workspace, team: Team, form_id: str) -> Path:
    """outbox/<team>/<team id> <form> <cycle>.xlsx: a name no two teams' files share."""
    form = ws.pack.forms[form_id]
    name = safe_name(f"{team.team_id} {form.short_name} {ws.cycle}")
    return ws.outbox / safe_name(f"{team.team_id} {team.team_name}") / f"{name}.xlsx"


def issued_form(ws: Workspace, path: str | Path) -> tuple[str, str] | None:
    """The (team id, form id) of a workbook `generate` wrote, from its place and name."""
    path = Path(path)
    team_id = path.parent.name.split(" ", 1)[0]
    for form_id, form in ws.pack.forms.items():
        if path.stem == safe_name(f"{team_id} {form.short_name} {ws.cycle}"):
            return team_id, form_id
    return None


def safe_name(text: str) -> str:
    """A folder or file name that is safe on Windows, macOS and Linux shares."""
    cleaned = re.sub(r"[^\w\s().,&'-]", "_", text, flags=re.UNICODE)
    cleaned = re.sub(r"\s+", " ", cleaned).strip(" .")
    return cleaned[:80] or "team"


def generate(
    ws: Workspace,
    roster: str | Path | None = None,
    team_ids: Iterable[str] = (),
    *,
    blank: bool = False,
) -> list[Path]:
    """Write the workbooks for every team on the roster (or only the named teams), each
    pre-filled from the team's return of the previous cycle in the register, unless
    `blank` (a team with no previous return gets an empty workbook)."""
    teams = read_roster(roster or ws.roster_path)
    wanted = list(team_ids)
    unknown = sorted(set(wanted) - {t.team_id for t in teams})
    if unknown:
        raise ConfigError.of(Code.CONFIG_UNKNOWN_TEAM, teams=", ".join(unknown))
    chosen = [t for t in teams if not wanted or t.team_id in wanted]
    jobs = [(t, f) for t in chosen for f in ws.forms_for(t.kind)]
    ctx = IssueContext.of(ws)
    # The pack the record names is the one the workbooks are built from, even in a process
    # that loaded an earlier state of the same folder (a script, a test): workers inherit it.
    shared_pack(str(ws.pack_dir or ""), ws.pack)
    targets = [outbox_path(ws, t, f) for t, f in jobs]
    previous, docs = ("", {}) if blank else prefill.previous_returns(ws)
    args = [
        (str(ws.pack_dir or ""), f, t, ctx, str(p), previous, docs.get((t.team_id, f)))
        for (t, f), p in zip(jobs, targets, strict=True)
    ]
    if len(args) < 16:  # a pool costs more than it saves for a handful of workbooks
        paths = [Path(_generate_one(*a)) for a in args]
    else:
        workers = min(os.cpu_count() or 1, 8)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            chunk = max(1, len(args) // (workers * 4))
            mapped = pool.map(_generate_one, *zip(*args, strict=True), chunksize=chunk)
            paths = [Path(p) for p in mapped]
    # What was issued, and the pack it was issued from: one transaction, files in place.
    issued.record(ws, ws.pack, [(t, f, p) for (t, f), p in zip(jobs, paths, strict=True)])
    return paths


def _generate_one(
    pack_dir: str,
    form_id: str,
    team: Team,
    ctx: IssueContext,
    target: str,
    previous: str = "",
    last_return: Mapping[str, Any] | None = None,
) -> str:
    form = shared_pack(pack_dir).forms[form_id]
    answers = prefill.carried(form, last_return)
    data = build_workbook(form, team, ctx, answers, carried_from=previous if answers else "")
    return str(atomic_write_bytes(target, data))


def identity_of(form: Form, team: Team, ctx: IssueContext) -> dict[str, str]:
    return {
        "form": form.id,
        "form_version": form.version,
        "cycle": ctx.cycle,
        "team_id": team.team_id,
        "generated_at": ctx.generated_at,
    }


# --- the builder -----------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _footer_text(text: str) -> str:
    return text.replace("&", "&&")


class _Builder:
    def __init__(
        self,
        form: Form,
        team: Team,
        ctx: IssueContext,
        answers: Mapping[str, Any],
        marks: list[Mark],
    ) -> None:
        self.form, self.team, self.ctx = form, team, ctx
        self.answers, self.marks = answers, marks
        self.queries: list[explain.Query] = []
        self.note = ""  # the coordinator's note on a return sent back
        self.carried_from = ""  # the cycle the answers were carried from (pre-fill)
        self.buf = io.BytesIO()
        self.wb = _LockedWorkbook(self.buf, SAFE_WORKBOOK_OPTIONS)
        self.wb.structure_password = ctx.sheet_password
        self.f = _formats(self.wb)
        self.counts: dict[str, tuple[str, int]] = {}  # sheet -> its error count and value
        self.marked = {(m.sheet, m.row, m.col): m for m in marks}
        self.values = _written_values(form, answers)
        cells = {k: c for k, v in self.values.items() if (c := written_cell(v[0], v[1]))}
        today = (
            dt.date.fromisoformat(ctx.generated_at[:10]) if ctx.generated_at[:1] == "2" else None
        )
        where = answer_spots(form)
        ident = identity_of(form, team, ctx)
        states = verdict(form, ident, cells, today, where)
        self.checks = Checks(form, states, where)

    def build(self) -> bytes:
        intro = self.wb.add_worksheet(INSTRUCTIONS_SHEET)
        if self.queries:  # read just after the Instructions' "Please check" list
            sheet = explain.write_sheet(self.wb, self.f, self.queries, self.ctx.sheet_password)
            growing_rows(sheet)  # rows grow as the team types an explanation
        for plan in self.form.sheets:
            self._form_sheet(plan)
        self._instructions(intro)
        self._lists()
        self._meta()
        self.checks.write(self.wb, self.ctx.sheet_password)
        self._properties()
        self.wb.close()
        return self.buf.getvalue()

    # -- sheets -------------------------------------------------------------------------

    def _form_sheet(self, plan: SheetPlan) -> None:
        ws = self.wb.add_worksheet(plan.name)
        as_written(ws)
        growing_rows(ws)
        self.widths = self._widths(plan)
        self._sheet_header(ws, plan)
        for block in plan.blocks:
            self._block(ws, plan, block)
        count_col = plan.last_col
        formula, value = self.checks.count(plan.name)
        # XlsxWriter stores no calculated values and LibreOffice does not recalculate xlsx
        # on load by default, so every formula carries the value it has right now.
        ws.write_formula(BANNER_ROW - 1, count_col - 1, "=" + formula, self.f["count"], value)
        self.counts[plan.name] = (ref(plan.name, BANNER_ROW, count_col), value)
        count = cell_name(BANNER_ROW, count_col, True)
        ws.merge_range(BANNER_ROW - 1, 0, BANNER_ROW - 1, count_col - 2, "", self.f["banner"])
        ws.write_formula(
            BANNER_ROW - 1,
            0,
            _banner(count, "this sheet"),
            self.f["banner"],
            _banner_text(value, "this sheet"),
        )
        self._page_setup(ws, plan)
        ws.protect(self.ctx.sheet_password, {"format_columns": True, "format_rows": True})

    def _sheet_header(self, ws: Any, plan: SheetPlan) -> None:
        ws.hide_gridlines(2)
        last = plan.last_col - 1
        ws.write_string(0, 0, f"{self.form.title}: {plan.name}", self.f["title"])
        identity_line = self._identity_line()
        ws.merge_range(1, 0, 1, last, identity_line, self.f["identity"])
        table = next((b.table for b in plan.blocks if b.table), None)
        howto = (
            "Fill in the cells marked ✎ (pale yellow with a dashed border); everything else is "
            "locked. Select a cell to see what to write. The last column says what is still "
            "to do: ✗ Still needed (a required answer is blank) or ✗ Please fix (the answer "
            "cannot be accepted as it is)."
        )
        if table:
            rows = table.last_row - table.first_row + 1
            howto = (
                f"{table.description} There is room for {rows} rows: fill them from the top "
                "and leave no gaps. If you need more, ask the coordinator for a workbook with "
                f"more rows. {howto}"
            )
        ws.merge_range(3, 0, 3, last, howto, self.f["help"])
        width = sum(self.widths.values())
        ws.set_row(1, _height((identity_line, width)))
        ws.set_row(3, _height((howto, width)))
        for col, w in self.widths.items():
            ws.set_column(col - 1, col - 1, w)

    def _widths(self, plan: SheetPlan) -> dict[int, int]:
        """Each column's width: the widest answer it holds, so every answer fits."""
        kinds = {b.type for b in plan.blocks}
        first = LABEL_WIDTH if "questions" in kinds else GRID_LABEL_WIDTH
        widths = {1: 5 if "table" in kinds else first}
        for block in plan.blocks:
            fields = [(i.col, i.field) for i in block.inputs]
            if block.table:
                fields = [(block.table.col_of(c.key), c) for c in block.table.columns]
            for col, f in fields:
                widths[col] = max(widths.get(col, 0), _width(f))
            widths[block.status_col] = max(widths.get(block.status_col, 0), STATUS_WIDTH)
        # A narrow sheet (few columns) gives its free text the room left on the page, so
        # that a long answer's row stays shorter than a page.
        free = {col for b in plan.blocks for col, f in self._fields(b) if f.kind == "text"}
        spare = SHEET_WIDTH - sum(widths.values())
        for col in sorted(free, key=lambda c: -widths[c]):
            grow = min(max(0, spare), 56 - widths[col])
            widths[col] += grow
            spare -= grow
        return widths

    @staticmethod
    def _fields(block: Block) -> list[tuple[int, Field]]:
        if block.table:
            return [(block.table.col_of(c.key), c) for c in block.table.columns]
        return [(i.col, i.field) for i in block.inputs]

    def _identity_line(self) -> str:
        t = self.team
        parts = [
            self.ctx.council,
            f"Cycle {self.ctx.cycle}",
            f"{t.team_name} ({t.team_id})",
            t.service_area,
            t.provider,
            f"Due {self.ctx.due:%d/%m/%Y}",
        ]
        return " · ".join(p for p in parts if p)

    def _page_setup(self, ws: Any, plan: SheetPlan) -> None:
        ws.set_paper(9)  # A4
        ws.fit_to_pages(1, 0)  # one page wide, as many tall as needed
        ws.set_margins(left=0.3, right=0.3, top=0.5, bottom=0.6)
        table = next((b.table for b in plan.blocks if b.table), None)
        header = table.header_row if table else BANNER_ROW
        if plan.landscape:
            ws.set_landscape()
        ws.repeat_rows(0, header - 1)
        ws.freeze_panes(header, 0)
        last_row = plan.last_row
        if table:  # print the rows in use (at least a page's worth), not every empty one
            used = max(
                (
                    r
                    for (sh, r, _c), v in self.values.items()
                    if sh == plan.name and not _blank(v[1])
                ),
                default=0,
            )
            last_row = min(table.last_row, max(table.first_row + PRINTED_ROWS - 1, used + 3))
        ws.print_area(0, 0, last_row - 1, plan.last_col - 1)
        ws.set_footer(
            f"&L{_footer_text(self.ctx.council)}&C{_footer_text(self.team.team_name)}"
            f"&R{_footer_text(plan.name)}, page &P of &N"
        )

    # -- blocks -------------------------------------------------------------------------

    def _block(self, ws: Any, plan: SheetPlan, block: Block) -> None:
        heading = block.title or plan.name
        if block.framework and self.form.framework_note:
            heading += f"  ({self.form.framework_note})"
        ws.write_string(block.heading_row - 1, 0, heading, self.f["heading"])
        for c in range(1, block.status_col):
            ws.write_blank(block.heading_row - 1, c, None, self.f["heading"])
        titles = block.column_titles
        if block.table:
            titles = ["Row"] + [_col_title(c) for c in block.table.columns] + ["Still to do"]
        for c, text in enumerate(titles):
            ws.write_string(block.header_row - 1, c, text, self.f["colhead"])
        ws.set_row(
            block.header_row - 1,
            _height(*((t, self.widths.get(c + 1, 8.43)) for c, t in enumerate(titles))),
        )
        if block.table:
            self._table(ws, block.table)
        else:
            self._rows(ws, block)

    def _rows(self, ws: Any, block: Block) -> None:
        by_row: dict[int, list[Input]] = {}
        for i in block.inputs:
            by_row.setdefault(i.row, []).append(i)
        labels = dict(block.row_labels)
        for row, inputs in by_row.items():
            if block.type == "questions":
                self._label(ws, row, inputs[0].field)
            else:
                ws.write_string(
                    row - 1, 0, labels[row], self.f["framework" if block.framework else "label"]
                )
            for i in inputs:
                self._input(ws, i.row, i.col, i.field)
                ws.data_validation(i.row - 1, i.col - 1, i.row - 1, i.col - 1, _validation(i.field))
                self.wb.define_name(i.field.path, "=" + ref(i.sheet, i.row, i.col))
                self._highlight(
                    ws, i.row, i.col, i.row, self.checks.error(self._spot(i.sheet, i.row, i.col))
                )
            spots = [self._spot(i.sheet, i.row, i.col) for i in inputs]
            formula, value = self._status(spots, block.type == "questions")
            ws.write_formula(row - 1, block.status_col - 1, formula, self.f["status"], value)
            label = labels.get(row) or f"{inputs[0].field.title}\n{inputs[0].field.description}"
            texts: list[tuple[str, float]] = [
                (label, self.widths[1]),
                (value, self.widths[block.status_col]),
            ]
            ws.set_row(row - 1, self._row_height(row, texts, inputs))

    def _row_height(self, row: int, texts: list[tuple[str, float]], inputs: Any) -> float:
        """Tall enough for the row's label and every answer already in it."""
        for i in inputs:
            value = self.values.get((i.sheet, row, i.col), (None, None))[1]
            if not _blank(value):
                texts.append((str(value), self.widths.get(i.col, 8.43)))
        return _height(*texts)

    def _spot(self, sheet: str, row: int, col: int) -> Spot:
        return self.checks.at[(sheet, row, col)]

    def _status(self, spots: list[Spot], single: bool) -> tuple[str, str]:
        """What a row still needs, in words: the same verdict as collect's, live."""
        states = [self.checks.states[s] for s in spots]
        errors = "+".join(f"({self.checks.error(s)}*1)" for s in spots)
        n_now = sum(st.error for st in states)
        query = any(self._queried(s) for s in spots)
        done = CARRIED if self._carried(spots) else "✓ Done"
        check = '"? Please check"' if query else f'"{done}"'
        check_now = "? Please check" if query else done
        if single:
            s, st = spots[0], states[0]
            empty = "Optional" if s.field.optional else "Not needed"
            blank = self.checks.blank(s)
            formula = (
                f'=IF({self.checks.error(s)},IF({blank},"✗ Still needed","✗ Please fix"),'
                f'IF({blank},"{empty}",{check}))'
            )
            now = (
                ("✗ Still needed" if st.blank else "✗ Please fix")
                if st.error
                else (empty if st.blank else check_now)
            )
            return formula, now
        blanks = ",".join(self.checks.blank(s) for s in spots)
        formula = (
            f'=IF(({errors})>0,"✗ "&({errors})&" to fix",IF(AND({blanks}),"Optional",{check}))'
        )
        now = (
            f"✗ {n_now} to fix"
            if n_now
            else ("Optional" if all(st.blank for st in states) else check_now)
        )
        return formula, now

    def _carried(self, spots: list[Spot]) -> bool:
        """A pre-filled answer is among these cells: its row says so, in words."""
        return bool(self.carried_from) and any(not self.checks.states[s].blank for s in spots)

    def _queried(self, s: Spot) -> bool:
        mark = self.marked.get((s.sheet, s.row, s.col))
        return mark is not None and mark.severity != "error"

    def _label(self, ws: Any, row: int, f: Field) -> None:
        mark = " (required)" if f.required else (" (optional)" if f.optional else "")
        ws.write_rich_string(
            row - 1, 0, self.f["label_bold"], f.title + mark, "\n" + f.description, self.f["label"]
        )

    def _highlight(self, ws: Any, row: int, col: int, last_row: int, error: str) -> None:
        """A problem cell turns red AND its status says ✗: never colour alone."""
        ws.conditional_format(
            row - 1,
            col - 1,
            last_row - 1,
            col - 1,
            {"type": "formula", "criteria": "=" + error, "format": self.f["problem"]},
        )

    def _table(self, ws: Any, t: Table) -> None:
        for r in range(t.first_row, t.last_row + 1):
            ws.write_number(r - 1, 0, r - t.first_row + 1, self.f["rownum"])
            spots = [self._spot(t.sheet, r, t.col_of(c.key)) for c in t.columns]
            for c in t.columns:
                self._input(ws, r, t.col_of(c.key), c)
            formula, value = self._table_status(t, spots)
            ws.write_formula(r - 1, t.status_col - 1, formula, self.f["status"], value)
            if any(not self.checks.states[s].blank for s in spots):
                texts: list[tuple[str, float]] = [(value, self.widths[t.status_col])]
                ws.set_row(r - 1, self._row_height(r, texts, spots))
        for c in t.columns:
            col = t.col_of(c.key)
            ws.data_validation(t.first_row - 1, col - 1, t.last_row - 1, col - 1, _validation(c))
            self.wb.define_name(c.path, "=" + column_range(t.sheet, col, t.first_row, t.last_row))
            first = self._spot(t.sheet, t.first_row, col)
            self._highlight(ws, t.first_row, col, t.last_row, self.checks.error(first, True))

    def _table_status(self, t: Table, spots: list[Spot]) -> tuple[str, str]:
        states = [self.checks.states[s] for s in spots]
        errors = "+".join(f"({self.checks.error(s)}*1)" for s in spots)
        filled = self.checks.filled(spots[0])
        query = any(self._queried(s) for s in spots)
        done = CARRIED if self._carried(spots) else "✓ Done"
        check = '"? Please check"' if query else f'"{done}"'
        rows = f"at least {t.min_items} row{'' if t.min_items == 1 else 's'}"
        formula = (
            f'=IF(({errors})>0,IF({filled},"✗ "&({errors})&" to fix","✗ Fill in {rows}"),'
            f'IF({filled},{check},""))'
        )
        n = sum(st.error for st in states)
        is_filled = any(not st.blank for st in states)
        if n:
            now = f"✗ {n} to fix" if is_filled else f"✗ Fill in {rows}"
        else:
            now = ("? Please check" if query else done) if is_filled else ""
        return formula, now

    def _input(self, ws: Any, row: int, col: int, f: Field) -> None:
        key = (ws.name, row, col)
        mark = self.marked.get(key)
        fmt = self.f["input_" + ("fix_" if mark else "") + f.kind]
        value = self.values.get(key, (f, None))[1]
        r, c = row - 1, col - 1
        if value is None or value == "":
            ws.write_blank(r, c, None, fmt)
        elif f.kind == "date" and isinstance(value, str) and _iso_date(value):
            ws.write_datetime(r, c, _iso_date(value), fmt)
        elif (
            f.kind in ("integer", "number")
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            ws.write_number(r, c, value, fmt)
        else:
            ws.write_string(r, c, str(value), fmt)
        if mark:
            ws.write_comment(r, c, mark.message, {"x_scale": 2, "y_scale": 1.5})

    # -- instructions, lists, identity ----------------------------------------------------

    def _instructions(self, ws: Any) -> None:
        growing_rows(ws)
        ws.hide_gridlines(2)
        ws.set_column(0, 0, 26)
        ws.set_column(1, 1, 66)
        ws.set_column(2, 2, 14)
        f = self.f
        ws.write_string(0, 0, self.form.title, f["title"])
        ws.merge_range(1, 0, 1, 2, self._identity_line(), f["identity"])
        ws.set_row(1, _height((self._identity_line(), 106)))
        total = "+".join(ref for ref, _ in self.counts.values()) or "0"
        missing = sum(v for _, v in self.counts.values())
        ws.write_formula(2, 2, "=" + total, f["count"], missing)
        # The contract: one cell, named still_to_do, counts what collect would call errors.
        self.wb.define_name(STILL_TO_DO, "=" + ref(INSTRUCTIONS_SHEET, 3, 3))
        ws.merge_range(2, 0, 2, 1, "", f["banner"])
        ws.write_formula(
            2,
            0,
            _banner(cell_name(3, 3, True), "this workbook"),
            f["banner"],
            _banner_text(missing, "this workbook"),
        )
        row = 4
        if self.marks:
            row = self._fix_list(ws, row)
        if self.queries and all(m.severity == "error" for m in self.marks):
            # Only queries about the whole return (a late one): point at the sheet.
            n = len(self.queries)
            text = (
                f"{n} {'query' if n == 1 else 'queries'} about this return. Please explain "
                f"{'it' if n == 1 else 'each'} on "
                f"the sheet '{explain.SHEET}', or correct what it is about."
            )
            ws.write_string(row, 0, "Please check", self.f["fixhead"])
            ws.merge_range(row, 1, row, 2, text, self.f["fixhead"])
            ws.set_row(row, _height((text, 80)))
            row += 2
        for heading, lines in self._instruction_sections():
            ws.write_string(row, 0, heading, f["heading"])
            ws.write_blank(row, 1, None, f["heading"])
            ws.write_blank(row, 2, None, f["heading"])
            row += 1
            for label, text in lines:
                ws.write_string(row, 0, label, f["label_bold"])
                ws.merge_range(row, 1, row, 2, text, f["label"])
                ws.set_row(row, _height((text, 80), (label, 26)))
                row += 1
            row += 1
        ws.write_string(row, 0, "Sheets in this workbook", f["heading"])
        ws.write_blank(row, 1, None, f["heading"])
        ws.write_blank(row, 2, None, f["heading"])
        for plan in self.form.sheets:
            row += 1
            cell, n = self.counts[plan.name]
            ws.write_string(row, 0, plan.name, f["label_bold"])
            ws.merge_range(row, 1, row, 2, "", f["status"])
            ws.write_formula(
                row,
                1,
                f'=IF({cell}=0,"✓ Complete: nothing to fix",'
                f'"✗ "&{cell}&" answer"&IF({cell}=1,"","s")&" to fill in or fix")',
                f["status"],
                "✓ Complete: nothing to fix"
                if not n
                else f"✗ {n} answer{'' if n == 1 else 's'} to fill in or fix",
            )
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        ws.print_area(0, 0, row, 2)
        ws.set_footer(f"&L{_footer_text(self.ctx.council)}&RPage &P of &N")
        ws.protect(self.ctx.sheet_password, {"format_columns": True, "format_rows": True})
        ws.activate()

    def _fix_list(self, ws: Any, row: int) -> int:
        """Errors first ("Please fix"), then queries ("Please check"), by sheet and row."""
        order = {p.name: n for n, p in enumerate(self.form.sheets)}
        marks = sorted(self.marks, key=lambda m: (order.get(m.sheet, 99), m.row, m.col))
        errors = [m for m in marks if m.severity == "error"]
        queries = [m for m in marks if m.severity != "error"]
        groups = [
            (
                "Please fix",
                errors,
                f"{len(errors)} answer(s) cannot be accepted as they are. "
                "Each is listed here and marked on its cell (red, with ✗ in its Still to do "
                "column). Fix them, save, and return the workbook.",
            ),
            (
                "Please check",
                queries,
                f"{len(queries)} answer(s) were accepted, but please check them. If an "
                f"answer is right, say why on the sheet '{explain.SHEET}'; if not, correct it."
                if self.queries
                else f"{len(queries)} answer(s) were accepted, but please "
                "check them. If the answer is right, nothing needs changing.",
            ),
        ]
        for title, group, intro in groups:
            if not group:
                continue
            ws.write_string(row, 0, title, self.f["fixhead"])
            ws.merge_range(row, 1, row, 2, intro, self.f["fixhead"])
            ws.set_row(row, _height((intro, 80)))
            for m in group:
                row += 1
                where = Place(m.sheet, m.row, m.col).shown()
                ws.write_string(row, 0, where, self.f["label_bold"])
                text = m.message  # each message names its question
                ws.merge_range(row, 1, row, 2, text, self.f["label"])
                ws.set_row(row, _height((text, 80), (where, 26)))
            row += 2
        return row

    def _instruction_sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        t, ctx = self.team, self.ctx
        # A return sent back: the coordinator's words come first, before anything else.
        sent_back = [("From the coordinator", [("Note", self.note)])] if self.note else []
        sections = [
            *sent_back,
            *self._carried_section(),
            (
                "About this workbook",
                [
                    ("Purpose", self.form.intro),
                    *([("Why", self.form.why)] if self.form.why else []),
                ],
            ),
            (
                "For",
                [
                    ("Council", ctx.council),
                    ("Cycle", ctx.cycle),
                    ("Team", f"{t.team_name} ({t.team_id})"),
                    ("Service area", t.service_area),
                    ("Kind", t.kind.capitalize()),
                    *([("Provider", t.provider)] if t.provider else []),
                ],
            ),
            # The general how-to, as the pack words it ([instructions] in pack.toml).
            *(
                (x.heading, [(label, ctx.filled(text)) for label, text in x.lines])
                for x in ctx.instructions
            ),
        ]
        for key in self.form.layout.get("framework", []):
            node = self.form.schema["properties"][key]
            items = [
                (f"{n}.", v.get("title", k))
                for n, (k, v) in enumerate(node["properties"].items(), 1)
            ]
            title = node.get("x-framework", node.get("title", key))
            note = f" ({self.form.framework_note})" if self.form.framework_note else ""
            sections.append((f"{title}{note}", items))
        return sections

    def _carried_section(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """Pre-filled: what was carried from last cycle, what to do, what starts blank."""
        if not self.carried_from:
            return []
        n = prefill.count(self.answers)
        kept = [i.field.title for i in self.form.inputs if not i.field.carry]
        kept = list(dict.fromkeys(kept + [t.title for t in self.form.tables if not t.carry]))
        lines = [
            (
                CARRIED,
                f"{n} answer{'' if n == 1 else 's'} in this workbook {'is' if n == 1 else 'are'} "
                f"carried from your return for {self.carried_from}. Each says '{CARRIED}' in "
                "its Still to do column: check it, and change it if it is no longer right. "
                "A carried answer counts as an answer.",
            )
        ]
        if kept:
            lines.append(
                (
                    "Not carried",
                    "These belong to one year and start blank: " + "; ".join(kept) + ".",
                )
            )
        return [("From last year", lines)]

    def _lists(self) -> None:
        ws = self.wb.add_worksheet(LISTS_SHEET)
        lists = {**self.form.choice_lists(), BLANK_WORDS: tuple(blank_words())}
        for c, (name, values) in enumerate(lists.items()):
            ws.write_string(0, c, name)
            for r, v in enumerate(values, start=1):
                ws.write_string(r, c, v)
            self.wb.define_name(name, "=" + column_range(LISTS_SHEET, c + 1, 2, len(values) + 1))
        ws.protect(self.ctx.sheet_password)
        ws.hide()

    def _meta(self) -> None:
        ws = self.wb.add_worksheet(META_SHEET)
        ident = identity_of(self.form, self.team, self.ctx)
        ident[identity.SIGNATURE] = identity.sign(ident, self.ctx.secret)
        for r, (k, v) in enumerate(ident.items()):
            ws.write_string(r, 0, k)
            ws.write_string(r, 1, v)
        ws.protect(self.ctx.sheet_password)
        ws.very_hidden()

    def _properties(self) -> None:
        ident = identity_of(self.form, self.team, self.ctx)
        ident[identity.SIGNATURE] = identity.sign(ident, self.ctx.secret)
        ident[identity.KEY_ID] = identity.key_id(self.ctx.secret)
        ident[identity.FORM_DIGEST] = self.form.digest
        for k, v in ident.items():
            self.wb.set_custom_property(identity.PROPERTY_PREFIX + k, v)
        self.wb.set_properties(
            {
                "title": f"{self.form.title}: {self.team.team_name}",
                "subject": f"Cycle {self.ctx.cycle}",
                "author": self.ctx.council,
                "company": self.ctx.council,
                "comments": "Issued by participation-xl. Fill in the ✎ cells and return the file.",
            }
        )


def _written_values(
    form: Form, doc: Mapping[str, Any]
) -> dict[tuple[str, int, int], tuple[Field, Any]]:
    """Each answer cell's field and the value written into it (pre-filled answers)."""
    out: dict[tuple[str, int, int], tuple[Field, Any]] = {}
    for i in form.inputs:
        out[(i.sheet, i.row, i.col)] = (i.field, value_at(doc, i.field.path))
    for t in form.tables:
        items = _items(doc, t.path, t.last_row - t.first_row + 1)
        for r, item in zip(range(t.first_row, t.last_row + 1), items, strict=True):
            for c in t.columns:
                out[(t.sheet, r, t.col_of(c.key))] = (c, item.get(c.key))
    return out


def _banner_text(missing: int, where: str) -> str:
    """The banner's text for a given count: the same words its formula produces."""
    if not missing:
        return f"✓ Ready to return: nothing to fill in or fix in {where}."
    return (
        f"✗ Still to do: {missing} answer{'' if missing == 1 else 's'} to fill in or fix "
        f"in {where}."
    )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _key(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def _items(doc: Mapping[str, Any], path: str, rows: int) -> list[Mapping[str, Any]]:
    """The answers for a table's rows, padded with empty rows to the table's length."""
    given = found if isinstance(found := doc.get(path), list) else []
    items = [i if isinstance(i, Mapping) else {} for i in given[:rows]]
    return items + [{}] * (rows - len(items))


def _banner(count: str, where: str) -> str:
    return (
        f'=IF({count}=0,"✓ Ready to return: nothing to fill in or fix in {where}.",'
        f'"✗ Still to do: "&{count}&" answer"&IF({count}=1,"","s")&" to fill in or fix '
        f'in {where}.")'
    )


def _col_title(f: Field) -> str:
    return f.title + (" (required)" if f.required else "")


def _width(f: Field) -> int:
    if f.kind in WIDTHS:
        return WIDTHS[f.kind]
    return min(56, max(14, -(-(f.max_length or 0) // CHARS_PER_WIDTH)))


def _lines(text: str, width: float) -> int:
    """Lines a text wraps to in a column `width` wide (10-point Arial: about 1.15
    characters a unit of width, less a little for words that do not fit a line's end)."""
    per_line = max(1, int(width * CHARS_PER_UNIT))
    return sum(max(1, -(-len(part) // per_line)) for part in str(text).split("\n"))


def _height(*texts: tuple[str, float]) -> float:
    """A row height (points) that shows every text given with the width it wraps in."""
    lines = max((_lines(t, w) for t, w in texts if t), default=1)
    return min(MAX_ROW_HEIGHT, max(15, LINE_HEIGHT * lines + 3))


def growing_rows(ws: Any) -> None:
    """Write row heights without marking them as set by hand (customHeight): Excel then
    fits each row to its text as it opens the file and as the team types, and LibreOffice,
    which does not fit rows on opening, starts from our estimate. XlsxWriter marks every
    height it writes, so its writer of <row> is given the attributes without the mark."""
    for name in ("_xml_start_tag_unencoded", "_xml_empty_tag_unencoded"):
        original = getattr(ws, name, None)
        if callable(original):
            setattr(ws, name, functools.partial(_unmarked, original))


def _unmarked(write: Any, tag: str, attributes: Any = None) -> None:
    if tag == "row" and attributes:
        attributes = [a for a in attributes if a[0] != "customHeight"]
    write(tag, attributes) if attributes is not None else write(tag)


def _day_of(stamp: str) -> dt.date:
    """The day a workbook is issued (its checks' values are as of then), else today."""
    try:
        return dt.date.fromisoformat(stamp[:10])
    except ValueError:
        return dt.date.today()


def _iso_date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _range_words(lo: float | None, hi: float | None) -> str:
    """The schema's bounds in words; a bound the schema does not set is not shown (Excel
    is given +/-1e15 for it, which no one should read as "1e+15")."""
    if lo is not None and hi is not None:
        return f" from {lo:g} to {hi:g}"
    if lo is not None:
        return f", {lo:g} or more"
    if hi is not None:
        return f", {hi:g} or less"
    return ""


def _validation(f: Field) -> dict[str, Any]:
    """Excel data validation derived from the schema field."""
    v: dict[str, Any] = {
        "input_title": _clip(f.title, 32),
        "input_message": _clip(f.description or f.title, 255),
        "error_title": "Please check this answer",
        "error_type": "stop",
        "ignore_blank": True,
    }
    if f.kind == "choice":
        v |= {
            "validate": "list",
            "source": "=" + f.choices_name,
            "error_message": _clip(
                "Please choose from the list: " + ", ".join(f.choices) + ".", 255
            ),
        }
    elif f.kind in ("integer", "number"):
        lo, hi = (
            f.minimum if f.minimum is not None else -1e15,
            f.maximum if f.maximum is not None else 1e15,
        )
        word = "a whole number" if f.kind == "integer" else "a number"
        v |= {
            "validate": "integer" if f.kind == "integer" else "decimal",
            "criteria": "between",
            "minimum": lo,
            "maximum": hi,
            "error_message": f"Please type {word}{_range_words(f.minimum, f.maximum)}.",
        }
    elif f.kind == "date":
        v |= {
            "validate": "date",
            "criteria": "between",
            "minimum": dt.date(2000, 1, 1),
            "maximum": dt.date(2100, 12, 31),
            "error_message": "Please type a date as dd/mm/yyyy, for example 31/03/2027.",
        }
    else:
        v |= {
            "validate": "length",
            "criteria": "<=",
            "value": f.max_length or 32767,
            "error_message": f"Please keep this to {f.max_length or 32767} characters or fewer.",
        }
    return v


def _formats(wb: xlsxwriter.Workbook) -> dict[str, Any]:
    """Every format once per workbook. Text on fills keeps a contrast of at least 4.5:1."""
    base = {"font_name": "Arial", "font_size": 10, "valign": "top", "text_wrap": True}
    edge = {"border": 1, "border_color": "#808080"}
    # Inputs: a pale fill AND a dashed border AND the ✎ header: never colour alone.
    inp = {**base, "locked": False, "bg_color": "#FFF2CC", "border": 8, "border_color": "#7F6000"}
    fix = {**inp, "bg_color": "#FCE4D6", "border": 2, "border_color": "#C00000"}
    f = {
        "title": {
            **base,
            "bold": True,
            "font_size": 14,
            "font_color": "#1F3864",
            "text_wrap": False,
        },
        "identity": {**base, "font_color": "#404040"},
        "banner": {
            **base,
            "bold": True,
            "font_size": 11,
            "bg_color": "#DDEBF7",
            "text_wrap": False,
            **edge,
        },
        "count": {
            **base,
            "bold": True,
            "num_format": '"To fix: "0',
            "bg_color": "#DDEBF7",
            **edge,
        },
        "help": {**base, "italic": True, "font_color": "#404040"},
        "heading": {
            **base,
            "bold": True,
            "font_size": 11,
            "font_color": "#FFFFFF",
            "bg_color": "#1F4E79",
            "text_wrap": False,
        },
        "colhead": {**base, "bold": True, "font_color": "#FFFFFF", "bg_color": "#2F5496", **edge},
        "label": {**base, **edge},
        "label_bold": {**base, "bold": True, **edge},
        "framework": {**base, "italic": True, **edge},
        "status": {**base, "italic": True, **edge},
        "rownum": {**base, "align": "center", **edge},
        "problem": {"bg_color": "#FCE4D6", "font_color": "#9C0006", "bold": True},
        "fixhead": {**base, "bold": True, "font_color": "#FFFFFF", "bg_color": "#C00000"},
    }
    for kind, num in NUMBER_FORMATS.items() | {("choice", "@")}:
        f[f"input_{kind}"] = {**inp, "num_format": num}
        f[f"input_fix_{kind}"] = {**fix, "num_format": num}
    return {k: wb.add_format(v) for k, v in f.items()}
