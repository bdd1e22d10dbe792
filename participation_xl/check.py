"""The pack check: proof that each form's layout and schema agree.

It checks the pack as data (every schema field has exactly one input, every input has a
schema field), then generates a sample workbook and inspects it with openpyxl, so what is
proved is what a team actually receives: names resolve to unlocked cells, dropdowns hold
exactly the schema's enum, and Excel validation matches types and bounds.

Each problem is a catalogue code and its values (`Problem`); `check_pack` renders them
in words for the CLI, `pack_problems` gives them as they are, for scripts and tests.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from collections import Counter
from typing import Any, NamedTuple

import jsonschema
import openpyxl
from openpyxl.formula import Tokenizer

from . import live
from .generate import IssueContext, build_workbook
from .messages import CATALOGUE, Code, Severity, render, severity
from .pack import IDENTITY_FIELDS, Field, Form, Pack, _Schema
from .place import Place, parse, sheet_name_allowed
from .roster import Team
from .rules import CHECKS

_SAMPLE_TEAM = Team("CHECK", "Pack check", "Check", "commissioned", "Check", "Check", "c@x.org")
_SAMPLE_CTX = IssueContext(
    "Check", "2026-27", dt.date(2027, 3, 31), "the folder", "pw", b"k", "now"
)
_VALIDATION_TYPES = {
    "choice": "list",
    "integer": "whole",
    "number": "decimal",
    "date": "date",
    "text": "textLength",
    "email": "textLength",
}


class Problem(NamedTuple):
    """One disagreement in the pack: a catalogue code, its values, and the form it is in
    ('' for the pack as a whole). It becomes words only at the edge (`text`)."""

    code: Code
    values: dict[str, Any]
    form: str = ""

    @property
    def text(self) -> str:
        said = render(self.code, **self.values)
        return render(Code.CHECK_IN_FORM, form=self.form, problem=said) if self.form else said


def _problem(code: Code, /, **values: Any) -> Problem:
    return Problem(code, values)


def check_pack(pack: Pack) -> list[str]:
    """Every disagreement between layouts and schemas in the pack, in words; empty when
    they agree."""
    return [p.text for p in pack_problems(pack)]


def pack_problems(pack: Pack) -> list[Problem]:
    """Every disagreement between layouts and schemas in the pack; empty when they agree."""
    problems: list[Problem] = []
    for name in ("roster", "config"):
        problems += _schema_problems(pack.schema(name), f"{name}.schema.json")
    for kind, forms in pack.forms_for_kind.items():
        problems += [
            _problem(Code.CHECK_UNKNOWN_FORM, kind=kind, form=f)
            for f in forms
            if f not in pack.forms
        ]
    problems += _explanations(pack)
    for form in pack.forms.values():
        problems += [p._replace(form=form.id) for p in check_form(form)]
    return problems


_CODES = frozenset(Code)


def _explanations(pack: Pack) -> list[Problem]:
    """Each suggested explanation is for a query code of the catalogue, in plain text."""
    problems = []
    for code, text in pack.explanations.items():
        known = CATALOGUE.get(Code(code)) if code in _CODES else None
        if known is None or known.severity is not Severity.QUERY:
            problems.append(_problem(Code.CHECK_EXPLANATION_CODE, query=code))
        elif not isinstance(text, str) or not text.strip() or len(text) > 1000:
            problems.append(_problem(Code.CHECK_EXPLANATION_TEXT, query=code))
    return problems


def check_form(form: Form) -> list[Problem]:
    """The problems of one form: as data, then as a generated workbook."""
    problems = _schema_problems(form.schema, form.layout.get("schema", form.id))
    if not form.schema.get("$id") or not form.version:
        problems.append(_problem(Code.CHECK_NO_VERSION))
    problems += _coverage(form)
    problems += _sheets(form)
    problems += _tables(form)
    if not problems:
        problems += _workbook(form)
    return problems


def _rules(form: Form, wb: Any) -> list[Problem]:
    """Each rule compiles both ways: collect's check decides a kept and a broken example
    rightly, and the workbook's live check holds the same comparison as a formula that
    parses, on the cell the rule is shown on."""
    problems = []
    checks = wb[live.SHEET] if live.SHEET in wb.sheetnames else None
    rows = {s: n + 2 for n, s in enumerate(live.answer_spots(form))}
    for rule in form.rules:
        check = CHECKS[rule.code]
        b: Any = dt.date(2027, 3, 31) if "date" in check.kinds else 10
        kept = check.example(b, random.Random(0))
        if not check.holds(kept, b) or all(check.holds(x, b) for x in _around(b)):
            problems.append(_problem(Code.CHECK_RULE_CHECK, rule=rule.code, field=rule.field.path))
        spot = next(s for s in rows if s.field.path == rule.field.path)
        formula = checks.cell(rows[spot], live.ERROR + 1).value if checks else None
        if severity(rule.code) is Severity.ERROR and not _parses(formula, check.formula("", "")):
            problems.append(
                _problem(Code.CHECK_RULE_FORMULA, rule=rule.code, field=rule.field.path)
            )
    return problems


def _around(b: Any) -> list[Any]:
    """Values at and either side of b: a real rule is broken by one of them."""
    step: Any = dt.timedelta(days=400) if isinstance(b, dt.date) else 5
    return [b, b + step, b - step]


def _parses(formula: Any, operator: str) -> bool:
    if not isinstance(formula, str) or operator not in formula:
        return False
    try:
        Tokenizer(formula)
    except Exception:  # openpyxl raises several kinds for a formula it cannot read
        return False
    return True


def _schema_problems(schema: dict[str, Any], name: str) -> list[Problem]:
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as err:
        return [_problem(Code.CHECK_SCHEMA_INVALID, name=name, detail=err.message)]
    return []


def schema_leaves(schema: dict[str, Any]) -> list[str]:
    """Every answer path the schema defines (table columns as 'table.column')."""
    nav = _Schema(schema, source=None)  # type: ignore[arg-type]
    out: list[str] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        node = nav.deref(node)
        if node.get("type") == "array":
            walk(node["items"], prefix)
        elif node.get("type") == "object":
            for key, child in node.get("properties", {}).items():
                if prefix or key not in IDENTITY_FIELDS:
                    walk(child, f"{prefix}.{key}" if prefix else key)
        else:
            out.append(prefix)

    walk(schema, "")
    return out


def _coverage(form: Form) -> list[Problem]:
    placed = Counter(f.path for f in form.fields)
    leaves = set(schema_leaves(form.schema))
    problems = [_problem(Code.CHECK_NO_INPUT, field=p) for p in sorted(leaves - set(placed))]
    problems += [_problem(Code.CHECK_NOT_IN_SCHEMA, field=p) for p in sorted(set(placed) - leaves)]
    problems += [_problem(Code.CHECK_INPUTS, field=p, count=n) for p, n in placed.items() if n > 1]
    return problems


def _sheets(form: Form) -> list[Problem]:
    names = [s.name for s in form.sheets]
    problems = [
        _problem(Code.CHECK_SHEET_TWICE, sheet=n) for n, c in Counter(names).items() if c > 1
    ]
    problems += [
        _problem(Code.CHECK_SHEET_NAME, sheet=n) for n in names if not sheet_name_allowed(n)
    ]
    cells = Counter(Place(i.sheet, i.row, i.col) for i in form.inputs)
    problems += [
        _problem(Code.CHECK_SHARED_CELL, place=p.shown()) for p, c in cells.items() if c > 1
    ]
    return problems


def _tables(form: Form) -> list[Problem]:
    problems = []
    for t in form.tables:
        node = form.schema["properties"][t.path]
        rows = t.last_row - t.first_row + 1
        if rows != node.get("maxItems", rows):
            allowed = node.get("maxItems")
            problems.append(
                _problem(Code.CHECK_TABLE_ROWS, table=t.path, rows=rows, allowed=allowed)
            )
        if rows < t.min_items:
            problems.append(_problem(Code.CHECK_TABLE_MIN, table=t.path))
    return problems


def _workbook(form: Form) -> list[Problem]:
    data = build_workbook(form, _SAMPLE_TEAM, _SAMPLE_CTX)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    problems: list[Problem] = []
    for f in form.fields:
        problems += _field_in_workbook(wb, f)
    for name, values in form.choice_lists().items():
        found = [c.value for c in _cells(wb, name) or []]
        if found != list(values):
            problems.append(
                _problem(Code.CHECK_DROPDOWN, name=name, found=found, expected=list(values))
            )
    if not wb.security or not wb.security.lockStructure:
        problems.append(_problem(Code.CHECK_UNPROTECTED))
    return problems + _rules(form, wb)


def _cells(wb: Any, name: str) -> list[Any] | None:
    if name not in wb.defined_names:
        return None
    # openpyxl's own split of a name keeps a sheet's doubled apostrophes: Place parses it.
    found = parse(wb.defined_names[name].attr_text)
    if found is None or found[0] not in wb.sheetnames:
        return None
    sheet, min_row, min_col, max_row, max_col = found
    ws = wb[sheet]
    return [ws.cell(r, c) for r in range(min_row, max_row + 1) for c in range(min_col, max_col + 1)]


def _field_in_workbook(wb: Any, f: Field) -> list[Problem]:
    cells = _cells(wb, f.path)
    if not cells:
        return [_problem(Code.CHECK_NO_NAME, field=f.path)]
    problems = [
        _problem(Code.CHECK_LOCKED, field=f.path, cell=c.coordinate)
        for c in cells
        if c.protection.locked
    ]
    ws = cells[0].parent
    dvs = [dv for dv in ws.data_validations.dataValidation if cells[0].coordinate in dv.sqref]
    if len(dvs) != 1:
        return [*problems, _problem(Code.CHECK_VALIDATIONS, field=f.path, count=len(dvs))]
    dv = dvs[0]
    if dv.type != _VALIDATION_TYPES[f.kind]:
        problems.append(
            _problem(Code.CHECK_VALIDATION_TYPE, field=f.path, found=dv.type, kind=f.kind)
        )
    expected = _expected_bounds(f)
    found = (dv.formula1, dv.formula2) if f.kind != "choice" else (dv.formula1,)
    if expected is not None and not _same_bounds(found, expected):
        problems.append(_problem(Code.CHECK_BOUNDS, field=f.path, found=found, expected=expected))
    return problems


def _expected_bounds(f: Field) -> tuple[str, ...] | None:
    if f.kind == "choice":
        return (f.choices_name,)
    if f.kind in ("integer", "number"):
        return (_num(f.minimum, -1e15), _num(f.maximum, 1e15))
    if f.kind in ("text", "email"):
        return (str(f.max_length or 32767), "None")
    return None  # dates: a fixed sanity range, not from the schema


def _same_bounds(found: tuple[Any, ...], expected: tuple[str, ...]) -> bool:
    """Bounds compared as numbers where they are numbers: Excel keeps 1e15 as
    "1000000000000000.0" beside a whole minimum "0", and both say the same."""
    return all(_as_number(f) == _as_number(e) for f, e in zip(found, expected, strict=True))


def _as_number(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _num(value: float | None, default: float) -> str:
    v = default if value is None else value
    return str(int(v)) if float(v).is_integer() else str(v)
