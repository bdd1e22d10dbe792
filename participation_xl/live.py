"""Live checks: the verdict `collect` reaches, as formulas a workbook recalculates.

Every answer cell gets a row on a very hidden sheet of checks. The row's formulas say, as
the team types, what `collect` would say of that cell: blank, wrong in itself (a formula,
the wrong type, off the list, out of bounds, too long, missing when required), or against
a rule of the pack. Status cells, banners and `still_to_do` count those flags, so the
workbook and `collect` cannot disagree about what is still to fix.

The formulas use only functions that Excel (2013 and later) and LibreOffice both
evaluate the same way. Where a rule of `normalise` could not be written so, the rule was
changed to one that can (see normalise's number and date shapes). Before any
recalculation each formula carries the value `collect`'s own code gives for the answers
written, because LibreOffice does not recalculate an .xlsx file on opening.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .examine import answers
from .extract import Extracted, Located
from .messages import Code, Severity, severity
from .normalise import FIRST_DAY, LAST_DAY, NOT_APPLICABLE, normalise
from .pack import Field, Form, Table
from .place import Place, cell_name, ref
from .read import Cell
from .rules import CHECKS, TODAY_FORMULA, comparable

SHEET = "_checks"
BLANK_WORDS = "list._blank_words"  # the words collect reads as a blank answer
_EPOCH = dt.date(1899, 12, 30)  # Excel's day 0, as its serial numbers count
_FIRST, _AFTER_LAST = (FIRST_DAY - _EPOCH).days, (LAST_DAY - _EPOCH).days + 1

# The columns of the checks sheet (0-based).
BLANK, OWN, ERROR, VALUE, FILLED, TEXT, PART1, REST, PART2, PART3, PARSED = range(11)


@dataclass(frozen=True, eq=False)
class Spot:
    """One answer cell the live checks cover (1-based row and column)."""

    field: Field
    sheet: str
    row: int
    col: int
    table: Table | None = None

    # A cell is its place: hashing the whole field, thousands of times, is what cost.
    def __hash__(self) -> int:
        return hash((self.sheet, self.row, self.col))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Spot) and (self.sheet, self.row, self.col) == (
            other.sheet,
            other.row,
            other.col,
        )

    @property
    def a1(self) -> str:
        return cell_name(self.row, self.col)


def answer_spots(form: Form) -> list[Spot]:
    """Every answer cell, sheet by sheet; a table column by column (so that one column's
    checks are consecutive rows, and one conditional format covers the column)."""
    out: list[Spot] = []
    for plan in form.sheets:
        for block in plan.blocks:
            out += [Spot(i.field, i.sheet, i.row, i.col) for i in block.inputs]
            t = block.table
            if t is not None:
                out += [
                    Spot(c, t.sheet, r, t.col_of(c.key), t)
                    for c in t.columns
                    for r in range(t.first_row, t.last_row + 1)
                ]
    return out


@dataclass
class State:
    """What collect says of one answer cell: the checks' values before recalculation."""

    blank: bool = True
    own: bool = False  # an error of the cell itself
    error: bool = False  # any error on the cell: its own, a rule's, a table's rows
    value: Any = ""  # the number or date serial a rule compares, else ""


def written_cell(f: Field, value: Any) -> Cell | None:
    """The cell a value becomes when the generator writes it, as a reader would see it."""
    if value is None or value == "":
        return None
    if f.kind == "date" and isinstance(value, str):
        try:
            return Cell((dt.date.fromisoformat(value) - _EPOCH).days, "n", None, True)
        except ValueError:
            pass
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if f.kind in ("integer", "number") and numeric:
        return Cell(value, "n")
    return Cell(str(value), "s")


def verdict(
    form: Form,
    ident: Mapping[str, Any],
    cells: Mapping[tuple[str, int, int], Cell],
    today: dt.date | None,  # None: no date to compare with, so rules against today are off
    where: list[Spot] | None = None,
) -> dict[Spot, State]:
    """Run collect's own examination on the cells as written, and say it per cell."""
    found = located(form, cells)
    _, issues = answers(form, dict(ident), found, False, "", today)
    errors: dict[tuple[str, str], set[str]] = {}
    for i in issues:
        if i.is_error and i.sheet:
            errors.setdefault((i.sheet, i.cell), set()).add(i.code)
    out: dict[Spot, State] = {}
    for s in where if where is not None else answer_spots(form):
        cell = cells.get((s.sheet, s.row, s.col))
        codes = errors.get((s.sheet, s.a1), set())
        own = {c for c in codes if not c.startswith("rule.") and c != Code.ANSWER_MIN_ROWS}
        value, notes = normalise(s.field, cell) if cell else (None, ())
        bad = any(severity(n.code) is Severity.ERROR for n in notes)
        state = State(value is None and not bad, bool(own), bool(codes))
        number = comparable(s.field.kind, value) if not (state.blank or own) else None
        if isinstance(number, dt.date):
            number = (number - _EPOCH).days
        state.value = "" if number is None else number
        out[s] = state
    return out


def located(form: Form, cells: Mapping[tuple[str, int, int], Cell]) -> Extracted:
    inputs = [
        Located(i.field, i.sheet, i.row, i.col, cells.get((i.sheet, i.row, i.col)))
        for i in form.inputs
    ]
    tables: dict[str, list[list[Located] | None]] = {}
    first: dict[str, Located] = {}
    for t in form.tables:
        rows: list[list[Located] | None] = []
        for r in range(t.first_row, t.last_row + 1):
            row = [
                Located(c, t.sheet, r, t.col_of(c.key), cells.get((t.sheet, r, t.col_of(c.key))))
                for c in t.columns
            ]
            rows.append(row if any(loc.cell for loc in row) else None)
        tables[t.path] = rows
        c = t.columns[0]
        first[t.path] = Located(c, t.sheet, t.first_row, t.col_of(c.key), None)
    return Extracted(inputs, tables, first)


class Checks:
    """The sheet of live checks for one workbook: where each flag is, and its formulas."""

    def __init__(
        self, form: Form, states: Mapping[Spot, State], where: list[Spot] | None = None
    ) -> None:
        self.form = form
        self.spots = where if where is not None else answer_spots(form)
        self.states = states
        self.row = {s: n + 2 for n, s in enumerate(self.spots)}  # row 1: headings
        self.at = {(s.sheet, s.row, s.col): s for s in self.spots}

    # -- references other sheets use ------------------------------------------------

    def flag(self, spot: Spot, col: int) -> str:
        return ref(SHEET, self.row[spot], col + 1)

    def error(self, spot: Spot, relative_row: bool = False) -> str:
        """The error flag of a cell; with a relative row, for a format over a column."""
        return Place(SHEET, self.row[spot], ERROR + 1).ref(not relative_row, fixed_col=True)

    def blank(self, spot: Spot) -> str:
        return self.flag(spot, BLANK)

    def filled(self, spot: Spot) -> str:
        """The flag that a table row holds something (on the row's first-column spot)."""
        assert spot.table is not None
        first = self.at[(spot.sheet, spot.row, spot.table.first_col)]
        return self.flag(first, FILLED)

    def count(self, sheet: str) -> tuple[str, int]:
        """A formula counting the answer cells of a sheet with an error, and its value."""
        mine = [s for s in self.spots if s.sheet == sheet]
        if not mine:
            return "0", 0
        top = Place(SHEET, self.row[mine[0]], ERROR + 1)
        bottom = Place(SHEET, self.row[mine[-1]], ERROR + 1)
        formula = f"SUMPRODUCT(--({top.to(bottom)}))"
        return formula, sum(self.states[s].error for s in mine)

    # -- writing the sheet --------------------------------------------------------------

    def write(self, wb: Any, password: str) -> None:
        ws = wb.add_worksheet(SHEET)
        as_written(ws)
        heads = ["Blank", "Own error", "Error", "Value", "Row filled", "Text", "Part 1"]
        for c, text in enumerate([*heads, "Rest", "Part 2", "Part 3", "Parsed"]):
            ws.write_string(0, c, text)
        for s in self.spots:
            for col, formula, value in self._formulas(s):
                ws.write_formula(self.row[s] - 1, col, "=" + formula, None, value)
        ws.protect(password)
        ws.very_hidden()

    def _formulas(self, s: Spot) -> Iterable[tuple[int, str, Any]]:
        st = self.states[s]
        x = ref(s.sheet, s.row, s.col)
        me = self._local(s)
        kind = s.field.kind
        if kind in ("integer", "number", "date"):
            yield TEXT, _text_of(x, kind), ""
        if kind == "date":
            yield PART1, f'IFERROR(LEFT({me(TEXT)},FIND("/",{me(TEXT)})-1),"")', ""
            yield REST, f'IFERROR(MID({me(TEXT)},FIND("/",{me(TEXT)})+1,999),"")', ""
            yield PART2, f'IFERROR(LEFT({me(REST)},FIND("/",{me(REST)})-1),"")', ""
            yield PART3, f'IFERROR(MID({me(REST)},FIND("/",{me(REST)})+1,999),"")', ""
        if kind in ("integer", "number", "date"):
            yield PARSED, _parsed(x, kind, me), ""
        yield BLANK, _blank(x), st.blank
        extra = self._extra_terms(s)
        own = me(OWN) if extra else me(ERROR)  # with nothing more to add, one flag serves
        if extra:
            yield OWN, self._own(s, x, me), st.own
        if kind in ("integer", "number", "date"):
            yield VALUE, f'IF(OR({me(BLANK)},{own}),"",{me(PARSED)})', st.value
        t = s.table
        if t is not None and s.col == t.first_col:
            row = [self.at[(s.sheet, s.row, t.col_of(c.key))] for c in t.columns]
            yield (
                FILLED,
                "OR(" + ",".join(f"NOT({self.blank(o)})" for o in row) + ")",
                any(not self.states[o].blank for o in row),
            )
        error = "OR(" + ",".join([me(OWN), *extra]) + ")" if extra else self._own(s, x, me)
        yield ERROR, error, st.error

    def _local(self, s: Spot) -> Any:
        row = self.row[s]
        return lambda col: cell_name(row, col + 1, False, fixed_col=True)

    def _own(self, s: Spot, x: str, me: Any) -> str:
        return (
            f"IF(OR(_xlfn.ISFORMULA({x}),ISERROR({x})),TRUE,"
            f"IF({me(BLANK)},{self._required(s)},{_bad(s.field, x, me)}))"
        )

    def _required(self, s: Spot) -> str:
        f = s.field
        if f.required:
            need = "TRUE"
        elif f.required_when:
            path, values = f.required_when
            sibling, choices = self._sibling(s, path)
            need = _one_of(sibling, values, set(choices) == {"Yes", "No"})
            need = f"AND(NOT(_xlfn.ISFORMULA({sibling})),{need})"
        else:
            return "FALSE"
        return f"AND({self.filled(s)},{need})" if s.table else need

    def _sibling(self, s: Spot, path: str) -> tuple[str, tuple[str, ...]]:
        """The cell whose answer makes this one required, and that answer's choices."""
        if s.table is not None:
            key = path.rsplit(".", 1)[-1]
            column = next(c for c in s.table.columns if c.key == key)
            return ref(s.sheet, s.row, s.table.col_of(key)), column.choices
        i = self.form.input_of(path)
        assert i is not None, path
        return ref(i.sheet, i.row, i.col), i.field.choices

    def _extra_terms(self, s: Spot) -> list[str]:
        """What else makes this cell wrong: a rule of the pack, a table's too few rows."""
        terms = []
        for rule in self.form.rules:
            check = CHECKS[rule.code]
            if rule.field.path != s.field.path or severity(rule.code) is not Severity.ERROR:
                continue
            mine = self.flag(s, VALUE)
            other = self._rule_other(s, rule.other) if rule.other else TODAY_FORMULA
            given = f'{mine}<>""' + (f',{other}<>""' if rule.other else "")
            terms.append(f"AND({given},{check.formula(mine, other)})")
        t = s.table
        if t is not None and (s.row, s.col) == (t.first_row, t.first_col) and t.min_items:
            top = Place(SHEET, self.row[s], FILLED + 1)
            bottom = Place(SHEET, top.row + t.last_row - t.first_row, FILLED + 1)
            terms.append(f"SUMPRODUCT(--({top.span(bottom)}))<{t.min_items}")
        return terms

    def _rule_other(self, s: Spot, other: Field) -> str:
        if s.table is not None and other.path.startswith(s.table.path + "."):
            o = self.at[(s.sheet, s.row, s.table.col_of(other.key))]
        else:
            i = self.form.input_of(other.path)
            assert i is not None, other.path
            o = self.at[(i.sheet, i.row, i.col)]
        return self.flag(o, VALUE)


def as_written(ws: Any) -> None:
    """Have XlsxWriter take this sheet's formulas as written. Each formula is otherwise run
    through some 200 regular expressions that add prefixes to newer Excel functions; ours
    use none but ISFORMULA, written with its prefix, and the checks of one audit are
    10,000 formulas (0.8 s of a 1.3 s build, measured). Without the hook, only slower."""
    if callable(getattr(ws, "_prepare_formula", None)):
        ws._prepare_formula = _prepared


def _prepared(formula: str, expand_future_functions: bool = False) -> str:
    return formula[1:] if formula.startswith("=") else formula


def _tidy(x: str) -> str:
    """The text of a cell as collect compares it: tabs and line breaks as spaces, trimmed,
    runs of spaces as one."""
    return f'TRIM(SUBSTITUTE(SUBSTITUTE(SUBSTITUTE({x},CHAR(9)," "),CHAR(10)," "),CHAR(13)," "))'


def _blank(x: str) -> str:
    return (
        f"IF(OR(_xlfn.ISFORMULA({x}),ISERROR({x})),FALSE,"
        f'OR({_tidy(x)}="",SUMPRODUCT(--(UPPER({_tidy(x)})={BLANK_WORDS}))>0))'
    )


def blank_words() -> list[str]:
    """The words the live check reads as blank, as it compares them (in capitals)."""
    return sorted({w.upper() for w in NOT_APPLICABLE})


def _digits_gone(text: str) -> str:
    for d in "0123456789":
        text = f'SUBSTITUTE({text},"{d}","")'
    return text


def _text_of(x: str, kind: str) -> str:
    if kind == "date":  # the separators "." and "-" read as "/"
        return f'SUBSTITUTE(SUBSTITUTE({_tidy(x)},".","/"),"-","/")'
    return f'SUBSTITUTE(SUBSTITUTE(SUBSTITUTE({_tidy(x)},"£",""),",","")," ","")'


def _parsed(x: str, kind: str, me: Any) -> str:
    """The number or date a cell holds, typed as one or as text; "" if none."""
    if kind != "date":
        return f'IF(ISNUMBER({x}),{x},IFERROR(VALUE({me(TEXT)}),""))'
    p1, p2, p3 = me(PART1), me(PART2), me(PART3)
    shape = (
        f"AND(LEN({p1})>0,LEN({p2})>0,LEN({p2})<=2,LEN({p3})>0,"
        f'{_digits_gone(f"{p1}&{p2}&{p3}")}="",'
        f"OR(AND(LEN({p1})=4,LEN({p3})<=2),AND(LEN({p1})<=2,OR(LEN({p3})=4,LEN({p3})=2))))"
    )
    year = (
        f"IF(LEN({p1})=4,VALUE({p1}),"
        f"IF(LEN({p3})=2,VALUE({p3})+IF(VALUE({p3})>=69,1900,2000),VALUE({p3})))"
    )
    day = f"IF(LEN({p1})=4,VALUE({p3}),VALUE({p1}))"
    month = f"VALUE({p2})"
    ok = (
        f"AND({year}>={FIRST_DAY.year},{year}<={LAST_DAY.year},{month}>=1,{month}<=12,"
        f"{day}>=1,DAY(DATE({year},{month},{day}))={day})"
    )
    text = f'IF({shape},IF({ok},DATE({year},{month},{day}),""),"")'
    return f'IF(ISNUMBER({x}),INT({x}),IFERROR({text},""))'


def _bad(f: Field, x: str, me: Any) -> str:
    """TRUE where a non-blank answer is wrong in itself, as the schema would say."""
    too_long = f"LEN({x})>{f.max_length}" if f.max_length else "FALSE"
    if f.kind == "text":
        return too_long
    if f.kind == "email":  # the schema's email check: an "@" in it
        return f'OR(ISERROR(FIND("@",{x})),{too_long})'
    if f.kind == "choice":
        yes, no = "Yes" in f.choices, "No" in f.choices
        listed = _one_of(x, f.choices, set(f.choices) == {"Yes", "No"})
        return f"IF(ISLOGICAL({x}),IF({x},{_tf(not yes)},{_tf(not no)}),NOT({listed}))"
    if f.kind == "date":
        return (
            f"IF(ISNUMBER({x}),OR({x}<{_FIRST},{x}>={_AFTER_LAST}),"
            f'OR(ISLOGICAL({x}),{me(PARSED)}=""))'
        )
    return _bad_number(f, x, me)


def _bad_number(f: Field, x: str, me: Any) -> str:
    bounds = []
    if f.minimum is not None:
        bounds.append(f"{me(PARSED)}<{_num(f.minimum)}")
    if f.maximum is not None:
        bounds.append(f"{me(PARSED)}>{_num(f.maximum)}")
    text = me(TEXT)
    signless = f'IF(LEFT({text},1)="-",MID({text},2,999),{text})'
    if f.kind == "integer":
        whole = f"{me(PARSED)}<>INT({me(PARSED)})"
        shape = f'AND(LEN({signless})>0,{_digits_gone(signless)}="")'
        numeric = [whole, *bounds]
    else:
        one_dot_gone = f'SUBSTITUTE({signless},".","",1)'
        shape = (
            f'AND(LEN({signless})>0,LEFT({signless},1)<>".",RIGHT({signless},1)<>".",'
            f'{_digits_gone(one_dot_gone)}="")'
        )
        numeric = bounds
    out_of = "OR(" + ",".join(numeric) + ")" if numeric else "FALSE"
    dated = f'LEFT(CELL("format",{x}),1)="D"'
    return (
        f"IF(ISNUMBER({x}),IF({dated},TRUE,{out_of}),"
        f"IF(ISLOGICAL({x}),TRUE,IF({shape},{out_of},TRUE)))"
    )


def _one_of(x: str, values: Iterable[str], yes_no: bool) -> str:
    """TRUE where a cell holds one of the values, in any case, as collect reads choices."""
    text = f"UPPER({_tidy(x)})"
    tests = [f"{text}={_string(v.upper())}" for v in values]
    if yes_no:
        tests += [f'{text}="{v[0].upper()}"' for v in values if v in ("Yes", "No")]
    return "OR(" + ",".join(tests) + ")"


def _string(text: str) -> str:
    """Text as a formula's string literal: in double quotes, with quotes doubled."""
    return '"' + text.replace('"', '""') + '"'


def _tf(flag: bool) -> str:
    return "TRUE" if flag else "FALSE"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)
