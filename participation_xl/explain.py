"""Queries explained: the team's word on a query, asked for and read back.

DfE COLLECT asks that every query be fixed or explained in a notepad entry. Here a
feedback workbook lists each query still to explain on its own sheet (`Explain queries`),
with an unlocked explanation cell beside it, named `explain.<code>[.<sheet>.<cell>]` at
workbook level. When the team returns that workbook, `collect` reads the cells back (only
this sheet's small box, and only when the sheet is there, so a return without one costs
nothing more), and records each explanation with its query, keyed by the query's code and
the answer's sheet and cell. A later submission that raises the same query on the same
answer finds it already explained.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .issues import Issue
from .messages import Severity, is_notice
from .place import Place, ref
from .read import Cell, RawWorkbook

SHEET = "Explain queries"
NAME_PREFIX = "explain."
MAX_QUERIES = 500  # rows of the sheet; a return with more lists the first 500
MAX_TEXT = 1000  # characters of an explanation (the cell's Excel validation says so too)
HEADER_ROW = 5  # 1-based: the column headings; the queries start on the row below
COLUMNS = ("Where", "Question", "The query", "Suggested wording", "✎ Your explanation")
EXPLAIN_COL = 5  # 1-based: E, the one unlocked column
# Hidden, locked columns holding each row's key: what the explanation is about.
CODE_COL, SHEET_COL, CELL_COL = 7, 8, 9
BOX = (HEADER_ROW + MAX_QUERIES, CELL_COL)  # what the reader keeps of the sheet
# Column widths: 130 units, what A4 landscape prints at 100%, so text stays at 10 points.
WIDTHS = (14, 22, 34, 22, 38)


class Key(NamedTuple):
    """What an explanation is about: a query's code on one answer (sheet and cell; both
    empty for a query about the whole file, such as a late return)."""

    code: str
    sheet: str
    cell: str


@dataclass(frozen=True)
class Query:
    """A query to explain in a feedback workbook, as the team will see it."""

    key: Key
    question: str  # the question in words ('' for the whole file)
    message: str
    suggestion: str = ""  # the pack's suggested wording for this code, if any
    explanation: str = ""  # the team's explanation so far, written back in


def key_of(issue: Issue) -> Key:
    return Key(str(issue.code), issue.place.sheet, issue.place.cell)


def is_query(issue: Issue) -> bool:
    return issue.severity is Severity.QUERY


def to_explain(issue: Issue) -> bool:
    """A query the team is asked to explain (or correct): every query but a notice of what
    the tool itself did (a tidy-up, a re-sent version taken back: `notice` in the
    catalogue). Lateness is asked about, as DfE COLLECT asks."""
    return is_query(issue) and not is_notice(issue.code)


def explanation_of(issue: Issue, explained: Mapping[tuple[str, str, str], str]) -> str | None:
    """The team's explanation of a query, if it gave one; None for anything else."""
    return explained.get(key_of(issue)) if is_query(issue) else None


def unexplained(
    issues: Iterable[Issue], explained: Mapping[tuple[str, str, str], str]
) -> list[Issue]:
    """The queries that still count against a return: those with no explanation."""
    return [i for i in issues if to_explain(i) and key_of(i) not in explained]


def queries_to_ask(
    issues: Iterable[Issue],
    explained: Mapping[tuple[str, str, str], str],
    suggestions: Mapping[str, str],
) -> list[Query]:
    """The queries a feedback workbook lists for explaining, each once, with what the
    team wrote before (so a fresh feedback workbook never loses it)."""
    seen: set[Key] = set()
    out = []
    for i in issues:
        key = key_of(i)
        if not to_explain(i) or key in seen:
            continue
        seen.add(key)
        out.append(
            Query(
                key,
                i.label,
                i.message,
                suggestions.get(key.code, ""),
                explained.get(key, ""),
            )
        )
    return out[:MAX_QUERIES]


# --- defined names ------------------------------------------------------------------------


def name_of(key: Key) -> str:
    """The workbook-level name of a query's explanation cell: `explain.` then the code,
    then (for a query on an answer) the sheet, with anything but letters, digits and _
    made _, and the cell: `explain.privacy.personal_data.About_the_team.C9`. Stable: the
    same query on the same answer has the same name in every feedback workbook."""
    parts = [key.code]
    if key.sheet or key.cell:
        parts += [re.sub(r"[^A-Za-z0-9_]", "_", key.sheet), key.cell.replace("$", "")]
    return NAME_PREFIX + ".".join(p for p in parts if p)


def unique_names(keys: Sequence[Key]) -> list[str]:
    """name_of each key, with _2, _3... on the rare clash (sheets differing only in
    punctuation)."""
    names, used = [], set()
    for key in keys:
        name, n = name_of(key), 1
        while name.lower() in used:  # Excel's names ignore case
            n += 1
            name = f"{name_of(key)}_{n}"
        used.add(name.lower())
        names.append(name)
    return names


def explain_cell(index: int) -> tuple[int, int]:
    """(row, column), 1-based, of the explanation cell of the index-th query (from 0)."""
    return HEADER_ROW + 1 + index, EXPLAIN_COL


# --- reading a returned feedback workbook ---------------------------------------------------


def read_explanations(raw: RawWorkbook) -> dict[Key, str]:
    """Each explanation typed into a returned feedback workbook, by its query's key.
    Nothing (and no work) for a workbook without the sheet. A formula is never taken as
    an explanation: its cached value can say anything."""
    cells = raw.cells.get(SHEET)
    if not cells:
        return {}
    out: dict[Key, str] = {}
    for row in range(HEADER_ROW + 1, HEADER_ROW + 1 + MAX_QUERIES):
        code = _text(cells.get((row, CODE_COL)))
        if not code:
            break  # the rows are written from the top, with no gaps
        text = _text(cells.get((row, EXPLAIN_COL)))
        if text:
            key = Key(code, _text(cells.get((row, SHEET_COL))), _text(cells.get((row, CELL_COL))))
            out[key] = text[:MAX_TEXT]
    return out


def _text(cell: Cell | None) -> str:
    if cell is None or cell.value is None or cell.formula or cell.kind == "e":
        return ""
    value = cell.value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def answered(found: Mapping[Key, str], issues: Iterable[Issue]) -> dict[Key, str]:
    """The explanations that answer a query this submission raises; any other (a query
    since fixed, a key typed over) is not kept."""
    queries = {key_of(i) for i in issues if to_explain(i)}
    return {k: v for k, v in found.items() if k in queries}


def _height(texts: Sequence[str], widths: Sequence[int]) -> float:
    """Points for a row of wrapped 10-point text (about 1.1 characters a unit of width),
    with a line to spare for typing; Excel caps a row at 409."""
    lines = max(-(-len(t) // max(1, int(w * 1.1))) for t, w in zip(texts, widths, strict=True))
    return min(409, 13 * (max(lines, 1) + 1) + 2)


# --- writing the sheet ------------------------------------------------------------------------


def write_sheet(
    wb: Any, formats: Mapping[str, Any], queries: Sequence[Query], password: str
) -> Any:
    """The `Explain queries` sheet of a feedback workbook: one row per query, with the
    explanation cell (unlocked, named) beside it, and a live count still to explain."""
    ws = wb.add_worksheet(SHEET)
    ws.hide_gridlines(2)
    widths = WIDTHS
    for col, width in enumerate(widths):
        ws.set_column(col, col, width)
    ws.set_column(CODE_COL - 1, CELL_COL - 1, 12, None, {"hidden": True})
    f = formats
    ws.write_string(0, 0, "Queries to explain", f["title"])
    intro = (
        "Each answer below was accepted, but needs a second look. If it is wrong, correct it "
        "on its sheet. If it is right, say why in the ✎ cell beside it (for example 'This is "
        "the service's public phone number, not a family's'); the suggested wording, where "
        "there is one, shows what is usually acceptable. An explained query stays explained "
        "when you send the workbook again."
    )
    ws.merge_range(1, 0, 1, len(widths) - 1, intro, f["help"])
    ws.set_row(1, 54)
    first, last = explain_cell(0)[0], explain_cell(len(queries) - 1)[0]
    span = Place(SHEET, first, EXPLAIN_COL).span(Place(SHEET, last, EXPLAIN_COL))
    todo = sum(1 for q in queries if not q.explanation)
    ws.merge_range(2, 0, 2, len(widths) - 1, "", f["banner"])
    ws.write_formula(
        2,
        0,
        f'=IF(COUNTBLANK({span})=0,"✓ Every query is explained.",'
        f'"✗ "&COUNTBLANK({span})&" of {len(queries)} still to explain or correct.")',
        f["banner"],
        "✓ Every query is explained."
        if not todo
        else f"✗ {todo} of {len(queries)} still to explain or correct.",
    )
    for c, title in enumerate(COLUMNS):
        ws.write_string(HEADER_ROW - 1, c, title, f["colhead"])
    for c, title in zip((CODE_COL, SHEET_COL, CELL_COL), ("Code", "Sheet", "Cell"), strict=True):
        ws.write_string(HEADER_ROW - 1, c - 1, title, f["colhead"])
    names = unique_names([q.key for q in queries])
    for n, (q, name) in enumerate(zip(queries, names, strict=True)):
        row, ecol = explain_cell(n)
        r = row - 1
        where = f"{q.key.sheet}, cell {q.key.cell}" if q.key.sheet else "The whole return"
        for c, text in enumerate((where, q.question, q.message, q.suggestion)):
            ws.write_string(r, c, text, f["label_bold" if c == 0 else "label"])
        if q.explanation:
            ws.write_string(r, ecol - 1, q.explanation, f["input_text"])
        else:
            ws.write_blank(r, ecol - 1, None, f["input_text"])
        ws.data_validation(
            r,
            ecol - 1,
            r,
            ecol - 1,
            {
                "validate": "length",
                "criteria": "<=",
                "value": MAX_TEXT,
                "input_title": "Your explanation",
                "input_message": "Why the answer is right as it is (up to 1,000 characters).",
                "error_title": "Too long",
                "error_message": "Please keep the explanation to 1,000 characters.",
            },
        )
        for c, text in ((CODE_COL, q.key.code), (SHEET_COL, q.key.sheet), (CELL_COL, q.key.cell)):
            ws.write_string(r, c - 1, text, f["label"])
        wb.define_name(name, "=" + ref(SHEET, row, EXPLAIN_COL))
        texts = (where, q.question, q.message, q.suggestion, q.explanation)
        ws.set_row(r, _height(texts, widths))
    ws.freeze_panes(HEADER_ROW, 0)
    ws.repeat_rows(HEADER_ROW - 1)
    ws.set_paper(9)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    ws.print_area(0, 0, last - 1, len(widths) - 1)
    ws.protect(password, {"format_columns": True, "format_rows": True})
    return ws


__all__ = [
    "NAME_PREFIX",
    "SHEET",
    "Key",
    "Query",
    "answered",
    "name_of",
    "queries_to_ask",
    "read_explanations",
    "unexplained",
    "write_sheet",
]
