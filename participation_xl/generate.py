"""Generate: locked, signed workbooks for every team on the roster.

Each workbook is written from scratch with XlsxWriter from the pack's laid-out form: only
answer cells are unlocked, dropdowns and validation come from the schema, a live banner
counts what is still missing, and a very hidden sheet carries the signed identity.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from . import identity
from .errors import ConfigError
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
    SheetPlan,
    Table,
    shared_pack,
)
from .roster import Team, read_roster
from .workspace import Workspace

ARTICLE_12 = (
    "Article 12 of the United Nations Convention on the Rights of the Child (1989) says that "
    "children should have a say in decisions that affect them, and that their views should be "
    "given weight according to their age and maturity. This audit helps your team reflect on "
    "how you make that real."
)
FRAMEWORK_NOTE = "council framework text, word for word"
DATE_FORMAT = "dd/mm/yyyy"
NUMBER_FORMATS = {
    "date": DATE_FORMAT,
    "integer": "0",
    "number": "#,##0.00",
    "text": "@",
    "email": "@",
}
WIDTHS = {"date": 12, "integer": 12, "number": 14, "choice": 18, "email": 30}
LABEL_WIDTH = 50
Term = tuple[str, int]  # a formula that counts a missing answer, and what it counts now


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

    @classmethod
    def of(cls, ws: Workspace) -> IssueContext:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        return cls(
            ws.council, ws.cycle, ws.due, ws.return_instructions, ws.sheet_password, ws.secret, now
        )


@dataclass(frozen=True)
class Mark:
    """A problem to show on a cell of a feedback workbook."""

    sheet: str
    row: int
    col: int
    message: str


class _LockedWorkbook(xlsxwriter.Workbook):
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
) -> bytes:
    """One locked, signed workbook for a team, optionally pre-filled and marked (feedback)."""
    return _Builder(form, team, ctx, answers or {}, list(marks)).build()


def outbox_path(ws: Workspace, team: Team, form_id: str) -> Path:
    return ws.outbox / safe_name(f"{team.team_id} {team.team_name}") / f"{form_id}.xlsx"


def safe_name(text: str) -> str:
    """A folder or file name that is safe on Windows, macOS and Linux shares."""
    cleaned = re.sub(r"[^\w\s().,&'-]", "_", text, flags=re.UNICODE)
    cleaned = re.sub(r"\s+", " ", cleaned).strip(" .")
    return cleaned[:80] or "team"


def generate(
    ws: Workspace, roster: str | Path | None = None, team_ids: Iterable[str] = ()
) -> list[Path]:
    """Write the workbooks for every team on the roster (or only the named teams)."""
    teams = read_roster(roster or ws.roster_path)
    wanted = list(team_ids)
    unknown = sorted(set(wanted) - {t.team_id for t in teams})
    if unknown:
        raise ConfigError(f"--team {', '.join(unknown)}: not on the roster. Check the team_id.")
    chosen = [t for t in teams if not wanted or t.team_id in wanted]
    jobs = [(t, f) for t in chosen for f in ws.forms_for(t.kind)]
    ctx = IssueContext.of(ws)
    targets = [outbox_path(ws, t, f) for t, f in jobs]
    args = [
        (str(ws.pack_dir or ""), f, t, ctx, str(p)) for (t, f), p in zip(jobs, targets, strict=True)
    ]
    if len(args) < 16:  # a pool costs more than it saves for a handful of workbooks
        return [Path(_generate_one(*a)) for a in args]
    workers = min(os.cpu_count() or 1, 8)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        chunk = max(1, len(args) // (workers * 4))
        return [Path(p) for p in pool.map(_generate_one, *zip(*args, strict=True), chunksize=chunk)]


def _generate_one(pack_dir: str, form_id: str, team: Team, ctx: IssueContext, target: str) -> str:
    pack = shared_pack(pack_dir)
    data = build_workbook(pack.forms[form_id], team, ctx)
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


def _ref(sheet: str, row: int, col: int, absolute: bool = True) -> str:
    return f"'{sheet}'!{xl_rowcol_to_cell(row - 1, col - 1, absolute, absolute)}"


def _value_at(doc: Mapping[str, Any], path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


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
        self.buf = io.BytesIO()
        self.wb = _LockedWorkbook(self.buf, SAFE_WORKBOOK_OPTIONS)
        self.wb.structure_password = ctx.sheet_password
        self.f = _formats(self.wb)
        self.cells: dict[str, tuple[str, int, int]] = {
            i.field.path: (i.sheet, i.row, i.col) for i in form.inputs
        }
        self.counts: dict[str, str] = {}  # sheet -> reference of its "still missing" count
        self.marked = {(m.sheet, m.row, m.col): m.message for m in marks}

    def build(self) -> bytes:
        intro = self.wb.add_worksheet(INSTRUCTIONS_SHEET)
        for plan in self.form.sheets:
            self._form_sheet(plan)
        self._instructions(intro)
        self._lists()
        self._meta()
        self._properties()
        self.wb.close()
        return self.buf.getvalue()

    # -- sheets -------------------------------------------------------------------------

    def _form_sheet(self, plan: SheetPlan) -> None:
        ws = self.wb.add_worksheet(plan.name)
        self._sheet_header(ws, plan)
        terms: list[Term] = []
        for block in plan.blocks:
            terms += self._block(ws, plan, block)
        count_col = plan.last_col
        missing = sum(v for _, v in terms)
        formula = "=" + ("+".join(t for t, _ in terms) or "0")
        # XlsxWriter stores no calculated values and LibreOffice does not recalculate xlsx
        # on load by default, so every formula carries the value it has right now.
        ws.write_formula(BANNER_ROW - 1, count_col - 1, formula, self.f["count"], missing)
        self.counts[plan.name] = (_ref(plan.name, BANNER_ROW, count_col), missing)
        count = xl_rowcol_to_cell(BANNER_ROW - 1, count_col - 1, True, True)
        ws.merge_range(BANNER_ROW - 1, 0, BANNER_ROW - 1, count_col - 2, "", self.f["banner"])
        ws.write_formula(
            BANNER_ROW - 1,
            0,
            _banner(count, "this sheet"),
            self.f["banner"],
            _banner_text(missing, "this sheet"),
        )
        self._page_setup(ws, plan)
        ws.protect(self.ctx.sheet_password, {"format_columns": True, "format_rows": True})

    def _sheet_header(self, ws: Any, plan: SheetPlan) -> None:
        ws.hide_gridlines(2)
        ws.write_string(0, 0, f"{self.form.title}: {plan.name}", self.f["title"])
        ws.write_string(1, 0, self._identity_line(), self.f["identity"])
        table = next((b.table for b in plan.blocks if b.table), None)
        howto = (
            "Fill in the cells marked ✎ (pale yellow with a dashed border); everything else is "
            "locked. Select a cell to see what to write. The last column says what is "
            '"Still needed".'
        )
        if table:
            howto = f"{table.description} {howto}"
        ws.merge_range(3, 0, 3, plan.last_col - 1, howto, self.f["help"])
        ws.set_row(3, 15 * _lines(howto, 130))
        ws.set_column(0, 0, LABEL_WIDTH if not table else 6)

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
        ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        table = next((b.table for b in plan.blocks if b.table), None)
        header = table.header_row if table else BANNER_ROW
        if plan.landscape:
            ws.set_landscape()
        ws.repeat_rows(0, header - 1)
        ws.freeze_panes(header, 0)
        ws.set_footer(
            f"&L{_footer_text(self.ctx.council)}&C{_footer_text(self.team.team_name)}"
            f"&R{_footer_text(plan.name)}, page &P of &N"
        )

    # -- blocks -------------------------------------------------------------------------

    def _block(self, ws: Any, plan: SheetPlan, block: Block) -> list[Term]:
        heading = block.title or plan.name
        if block.framework:
            heading += f"  ({FRAMEWORK_NOTE})"
        ws.write_string(block.heading_row - 1, 0, heading, self.f["heading"])
        for c in range(1, block.status_col):
            ws.write_blank(block.heading_row - 1, c, None, self.f["heading"])
        titles = block.column_titles
        if block.table:
            titles = ["Row"] + [_col_title(c) for c in block.table.columns] + ["Still to do"]
        for c, text in enumerate(titles):
            ws.write_string(block.header_row - 1, c, text, self.f["colhead"])
        ws.set_row(block.header_row - 1, 15 * max(_lines(t, 18) for t in titles))
        if block.table:
            return self._table(ws, block.table)
        return self._rows(ws, block)

    def _rows(self, ws: Any, block: Block) -> list[Term]:
        terms: list[Term] = []
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
            row_terms: list[Term] = []
            for i in inputs:
                self._input(ws, i.row, i.col, i.field, _value_at(self.answers, i.field.path))
                ws.data_validation(i.row - 1, i.col - 1, i.row - 1, i.col - 1, _validation(i.field))
                self.wb.define_name(i.field.path, "=" + _ref(i.sheet, i.row, i.col))
                term = self._missing(i.field, self._cell_ref, lambda p: _value_at(self.answers, p))
                if term:
                    row_terms.append(term)
                    self._highlight(ws, i.row, i.col, term[0])
                ws.set_column(i.col - 1, i.col - 1, _width(i.field))
            formula, value = self._row_status(inputs, row_terms, block.type == "questions")
            ws.write_formula(row - 1, block.status_col - 1, formula, self.f["status"], value)
            label = labels.get(row) or f"{inputs[0].field.title} {inputs[0].field.description}"
            heights = [_lines(label, LABEL_WIDTH)] + [
                _lines(str(_value_at(self.answers, i.field.path) or ""), _width(i.field))
                for i in inputs
            ]
            ws.set_row(row - 1, 15 * max(2, *heights))
            terms += row_terms
        ws.set_column(block.status_col - 1, block.status_col - 1, 16)
        return terms

    def _label(self, ws: Any, row: int, f: Field) -> None:
        mark = " (required)" if f.required else (" (optional)" if f.optional else "")
        ws.write_rich_string(
            row - 1, 0, self.f["label_bold"], f.title + mark, "\n" + f.description, self.f["label"]
        )

    def _cell_ref(self, path: str) -> str:
        _, row, col = self.cells[path]
        return xl_rowcol_to_cell(row - 1, col - 1, True, True)

    def _missing(self, f: Field, ref_of: Any, value_of: Any) -> Term | None:
        """A formula term that is 1 while a required answer is blank, with its value now."""
        blank = f'({ref_of(f.path)}="")'
        is_blank = _blank(value_of(f.path))
        if f.required:
            return blank, int(is_blank)
        if f.required_when:
            sibling, values = f.required_when
            test = "+".join(f'({ref_of(sibling)}="{v}")' for v in values)
            return f"(({test})>0)*{blank}", int(is_blank and value_of(sibling) in values)
        return None

    def _row_status(self, inputs: list[Input], terms: list[Term], single: bool) -> Term:
        n = "+".join(t for t, _ in terms) or "0"
        missing = sum(v for _, v in terms)
        if not single:
            return (
                f'=IF(({n})=0,"✓ Done",({n})&" still needed")',
                "✓ Done" if not missing else f"{missing} still needed",
            )
        f = inputs[0].field
        ref = self._cell_ref(f.path)
        empty = "Optional" if f.optional else "Not needed"
        now = (
            "Still needed"
            if missing
            else (empty if _blank(_value_at(self.answers, f.path)) else "✓ Done")
        )
        if not terms:
            return f'=IF({ref}="","{empty}","✓ Done")', now
        return f'=IF({n},"Still needed",IF({ref}="","{empty}","✓ Done"))', now

    def _highlight(self, ws: Any, row: int, col: int, missing: str) -> None:
        ws.conditional_format(
            row - 1,
            col - 1,
            row - 1,
            col - 1,
            {"type": "formula", "criteria": "=" + missing, "format": self.f["missing"]},
        )

    def _table(self, ws: Any, t: Table) -> list[Term]:
        first, last = t.first_row, t.last_row
        items = _items(self.answers, t.path, last - first + 1)
        letter = {c.key: xl_col_to_name(t.col_of(c.key) - 1) for c in t.columns}
        span = f"${letter[t.columns[0].key]}{{r}}:${letter[t.columns[-1].key]}{{r}}"
        per_column = dict.fromkeys(letter, 0)  # blank required answers in filled rows, now
        for r, item in zip(range(first, last + 1), items, strict=True):
            ws.write_number(r - 1, 0, r - first + 1, self.f["rownum"])
            for c in t.columns:
                self._input(ws, r, t.col_of(c.key), c, item.get(c.key))
            terms = {
                c.key: self._missing(
                    c,
                    lambda p, r=r: f"${letter[_key(p)]}{r}",
                    lambda p, item=item: item.get(_key(p)),
                )
                for c in t.columns
            }
            terms = {k: v for k, v in terms.items() if v}
            filled = any(not _blank(v) for v in item.values())
            for k, (_, v) in terms.items():
                per_column[k] += v if filled else 0
            n = "+".join(x for x, _ in terms.values()) or "0"
            missing = sum(v for _, v in terms.values())
            now = "" if not filled else ("✓ Done" if not missing else f"{missing} still needed")
            row_span = span.format(r=r)
            ws.write_formula(
                r - 1,
                t.status_col - 1,
                f'=IF(COUNTA({row_span})=0,"",IF(({n})=0,"✓ Done",({n})&" still needed"))',
                self.f["status"],
                now,
            )
            ws.set_row(r - 1, 30)
        nonblank = "+".join(f'({x}{first}:{x}{last}<>"")' for x in letter.values())
        sheet_terms: list[Term] = []
        for c in t.columns:
            col = t.col_of(c.key)
            x = letter[c.key]
            ws.data_validation(first - 1, col - 1, last - 1, col - 1, _validation(c))
            self.wb.define_name(c.path, f"='{t.sheet}'!${x}${first}:${x}${last}")
            ws.set_column(col - 1, col - 1, _width(c))
            term = self._missing(
                c, lambda p: f"{letter[_key(p)]}{first}:{letter[_key(p)]}{last}", lambda p: None
            )
            if term:
                sheet_terms.append((f"SUMPRODUCT((({nonblank})>0)*{term[0]})", per_column[c.key]))
                cell = self._missing(c, lambda p: f"${letter[_key(p)]}{first}", lambda p: None)
                ws.conditional_format(
                    first - 1,
                    col - 1,
                    last - 1,
                    col - 1,
                    {
                        "type": "formula",
                        "format": self.f["missing"],
                        "criteria": f"=AND(COUNTA({span.format(r=first)})>0,{cell[0]})",
                    },
                )
        if t.min_items:
            filled_rows = sum(any(not _blank(v) for v in i.values()) for i in items)
            sheet_terms.append(
                (
                    f"MAX(0,{t.min_items}-SUMPRODUCT((({nonblank})>0)*1))",
                    max(0, t.min_items - filled_rows),
                )
            )
        ws.set_column(t.status_col - 1, t.status_col - 1, 16)
        return sheet_terms

    def _input(self, ws: Any, row: int, col: int, f: Field, value: Any) -> None:
        key = (ws.name, row, col)
        fmt = self.f["input_" + ("fix_" if key in self.marked else "") + f.kind]
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
        if key in self.marked:
            ws.write_comment(r, c, self.marked[key], {"x_scale": 2, "y_scale": 1.5})

    # -- instructions, lists, identity ----------------------------------------------------

    def _instructions(self, ws: Any) -> None:
        ws.hide_gridlines(2)
        ws.set_column(0, 0, 30)
        ws.set_column(1, 1, 90)
        ws.set_column(2, 2, 14)
        f = self.f
        ws.write_string(0, 0, self.form.title, f["title"])
        ws.write_string(1, 0, self._identity_line(), f["identity"])
        total = "+".join(ref for ref, _ in self.counts.values()) or "0"
        missing = sum(v for _, v in self.counts.values())
        ws.write_formula(2, 2, "=" + total, f["count"], missing)
        ws.merge_range(2, 0, 2, 1, "", f["banner"])
        ws.write_formula(
            2,
            0,
            _banner("$C$3", "this workbook"),
            f["banner"],
            _banner_text(missing, "this workbook"),
        )
        row = 4
        if self.marks:
            row = self._fix_list(ws, row)
        for heading, lines in self._instruction_sections():
            ws.write_string(row, 0, heading, f["heading"])
            ws.write_blank(row, 1, None, f["heading"])
            row += 1
            for label, text in lines:
                ws.write_string(row, 0, label, f["label_bold"])
                ws.write_string(row, 1, text, f["label"])
                ws.set_row(row, 15 * _lines(text, 95))
                row += 1
            row += 1
        ws.write_string(row, 0, "Sheets in this workbook", f["heading"])
        ws.write_blank(row, 1, None, f["heading"])
        for plan in self.form.sheets:
            row += 1
            ref, n = self.counts[plan.name]
            ws.write_string(row, 0, plan.name, f["label_bold"])
            ws.write_formula(
                row,
                1,
                f'=IF({ref}=0,"✓ Complete",{ref}&" required answer(s) still missing")',
                f["status"],
                "✓ Complete" if not n else f"{n} required answer(s) still missing",
            )
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.set_footer(f"&L{_footer_text(self.ctx.council)}&RPage &P of &N")
        ws.protect(self.ctx.sheet_password, {"format_columns": True, "format_rows": True})
        ws.activate()

    def _fix_list(self, ws: Any, row: int) -> int:
        ws.write_string(row, 0, "Please fix", self.f["fixhead"])
        ws.write_string(
            row,
            1,
            f"{len(self.marks)} problem(s) were found when this workbook came back. "
            "Each is listed here and marked on its cell.",
            self.f["fixhead"],
        )
        for m in self.marks:
            row += 1
            ws.write_string(
                row,
                0,
                f"{m.sheet}, cell {xl_rowcol_to_cell(m.row - 1, m.col - 1)}",
                self.f["label_bold"],
            )
            ws.write_string(row, 1, m.message, self.f["label"])
            ws.set_row(row, 15 * max(_lines(m.message, 95), _lines(m.sheet, 20)))
        return row + 2

    def _instruction_sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        t, ctx = self.team, self.ctx
        sections = [
            (
                "About this workbook",
                [
                    ("Purpose", self.form.intro),
                    ("UNCRC Article 12", ARTICLE_12),
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
            (
                "How to fill it in",
                [
                    (
                        "1. Answer",
                        "Fill in the cells marked ✎ on each sheet: they are pale yellow with a "
                        "dashed "
                        "border. Everything else is locked so the form cannot break.",
                    ),
                    (
                        "2. Guidance",
                        "Select a cell to see what to write. Where a cell has a list, choose from "
                        "the list rather than typing.",
                    ),
                    (
                        "3. Still to do",
                        "The line at the top of each sheet counts the required answers still "
                        "missing, and the 'Still to do' column says which. Required questions say "
                        "(required).",
                    ),
                    (
                        "4. Privacy",
                        "Never name a child or give anyone's contact details. Describe groups, "
                        "such "
                        "as 'Youth Forum' or 'parents at the drop-in'.",
                    ),
                    (
                        "5. Return it",
                        f"Save the workbook as .xlsx (File > Save), keep its name, and return it "
                        f"to {ctx.return_to} by {ctx.due:%A %d %B %Y}.",
                    ),
                    (
                        "6. Your workbook only",
                        "This workbook is signed for your team. Do not copy answers into "
                        "another team's workbook, or this one into another cycle's.",
                    ),
                ],
            ),
        ]
        for key in self.form.layout.get("framework", []):
            node = self.form.schema["properties"][key]
            items = [
                (f"{n}.", v.get("title", k))
                for n, (k, v) in enumerate(node["properties"].items(), 1)
            ]
            title = node.get("x-framework", node.get("title", key))
            sections.append((f"{title} ({FRAMEWORK_NOTE})", items))
        return sections

    def _lists(self) -> None:
        ws = self.wb.add_worksheet(LISTS_SHEET)
        for c, (name, values) in enumerate(self.form.choice_lists().items()):
            ws.write_string(0, c, name)
            for r, v in enumerate(values, start=1):
                ws.write_string(r, c, v)
            letter = xl_col_to_name(c)
            self.wb.define_name(name, f"={LISTS_SHEET}!${letter}$2:${letter}${len(values) + 1}")
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


def _banner_text(missing: int, where: str) -> str:
    """The banner's text for a given count: the same words its formula produces."""
    if not missing:
        return f"✓ Ready to return: every required answer in {where} is filled in."
    return (
        f"Still to do: {missing} required answer{'' if missing == 1 else 's'} missing in {where}."
    )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _key(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def _items(doc: Mapping[str, Any], path: str, rows: int) -> list[Mapping[str, Any]]:
    """The answers for a table's rows, padded with empty rows to the table's length."""
    given = doc.get(path) if isinstance(doc.get(path), list) else []
    items = [i if isinstance(i, Mapping) else {} for i in given[:rows]]
    return items + [{}] * (rows - len(items))


def _banner(count: str, where: str) -> str:
    return (
        f'=IF({count}=0,"✓ Ready to return: every required answer in {where} is filled in.",'
        f'"Still to do: "&{count}&" required answer"&IF({count}=1,"","s")&" missing in {where}.")'
    )


def _col_title(f: Field) -> str:
    return f.title + (" (required)" if f.required else "")


def _width(f: Field) -> int:
    if f.kind in WIDTHS:
        return WIDTHS[f.kind]
    return 36 if (f.max_length or 0) > 200 else 20


def _lines(text: str, width: int) -> int:
    return max(1, sum(1 + len(part) // max(width, 1) for part in str(text).split("\n")))


def _iso_date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


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
            "error_message": f"Please type {word} from {lo:g} to {hi:g}.",
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
        "identity": {**base, "font_color": "#404040", "text_wrap": False},
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
            "num_format": '"Missing: "0',
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
        "missing": {"bg_color": "#FBE2D5", "font_color": "#9C0006"},
        "fixhead": {**base, "bold": True, "font_color": "#FFFFFF", "bg_color": "#C00000"},
    }
    for kind, num in NUMBER_FORMATS.items() | {("choice", "@")}:
        f[f"input_{kind}"] = {**inp, "num_format": num}
        f[f"input_fix_{kind}"] = {**fix, "num_format": num}
    return {k: wb.add_format(v) for k, v in f.items()}
