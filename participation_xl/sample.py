"""Sample answers and filling, as real teams would: for the demo, the tests and benchmarks.

Answers are made from the schema (so they stay valid as the pack changes), then written
into an issued workbook the way a person would: into the unlocked cells only.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import random
import tomllib
from pathlib import Path
from typing import Any

import openpyxl

from .explain import NAME_PREFIX
from .outputs import atomic_write_bytes
from .pack import Field, Form, Rule, builtin_pack_dir
from .rules import CHECKS, comparable

SENTENCES = [
    "We ran a termly survey and shared the results on posters in the centre.",
    "Young people co-designed our leaflet and chose the wording.",
    "Staff explain decisions in person and follow up with a short letter.",
    "We check back with each young person within four weeks.",
    "Our participation lead reports to the team meeting every month.",
]


def sample_answers(
    form: Form,
    rng: random.Random,
    rows: int | None = None,
    today: dt.date | None = None,
    texts: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A complete, valid set of answers for a form: every field filled, tables with rows,
    and every rule of the pack kept (measured against `today`, by default today).

    `texts`: sample text for free-text answers by field key (the [sample] of the pack's
    demo scenario; by default the built-in pack's)."""
    said = builtin_texts() if texts is None else texts
    doc: dict[str, Any] = {}
    for i in form.inputs:
        _put(doc, i.field.path, _value(i.field, rng, said))
    for t in form.tables:
        n = (
            rows
            if rows is not None
            else rng.randint(max(t.min_items, 1), min(8, t.last_row - t.first_row + 1))
        )
        n = max(t.min_items, min(n, t.last_row - t.first_row + 1))
        doc[t.path] = [{c.key: _value(c, rng, said) for c in t.columns} for _ in range(n)]
    return keep_rules(form, doc, rng, today)


def keep_rules(
    form: Form,
    doc: dict[str, Any],
    rng: random.Random | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """The answers changed, where they break a rule of the pack, to keep it."""
    for rule in form.rules:
        _keep(rule, doc, rng or random.Random(0), today or dt.date.today())
    return doc


def _keep(rule: Rule, doc: dict[str, Any], rng: random.Random, today: dt.date) -> None:
    """Change the rule's field, where it breaks the rule, to a value that keeps it."""
    check = CHECKS[rule.code]
    for row in (doc.get(rule.table) or []) if rule.table else [doc]:
        node, key = _spot(rule, rule.field, row, doc)
        a = comparable(rule.field.kind, _lookup(node, key))
        b: Any = today
        if rule.other is not None:
            b = comparable(rule.other.kind, _lookup(*_spot(rule, rule.other, row, doc)))
        if a is not None and b is not None and not check.holds(a, b):
            fixed = check.example(b, rng)
            _put(node, key, fixed.isoformat() if isinstance(fixed, dt.date) else fixed)


def _spot(rule: Rule, f: Field | None, row: dict[str, Any], doc: dict[str, Any]) -> Any:
    """Where a rule's field is: a column of the row of its table, or a path in the doc."""
    if f is not None and rule.table and f.path.startswith(rule.table + "."):
        return row, f.key
    return doc, f.path if f else ""


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, key = path.split(".")
    for p in parents:
        doc = doc.setdefault(p, {})
    doc[key] = value


@functools.cache
def _builtin_texts() -> dict[str, list[str]]:
    path = builtin_pack_dir() / "workbook_templates" / "demo" / "scenario.toml"
    try:
        with path.open("rb") as fh:
            return dict(tomllib.load(fh).get("sample", {}))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def builtin_texts() -> dict[str, list[str]]:
    """The built-in pack's sample texts by field key (its demo scenario's [sample])."""
    return _builtin_texts()


def _value(f: Field, rng: random.Random, texts: dict[str, list[str]]) -> Any:
    if f.kind == "choice":
        return rng.choice(f.choices)
    if f.kind == "integer":
        lo, hi = int(f.minimum or 0), int(min(f.maximum or 100, 60))
        return rng.randint(lo, max(lo, hi))
    if f.kind == "number":
        return round(rng.uniform(500, 20000), 2)
    if f.kind == "date":
        return (dt.date(2026, 4, 1) + dt.timedelta(days=rng.randint(0, 364))).isoformat()
    if f.kind == "email":
        return f"{rng.choice(['sam', 'alex', 'jo'])}.{rng.randint(1, 99)}@example.org"
    return _text(f, rng, texts)


def _text(f: Field, rng: random.Random, texts: dict[str, list[str]]) -> str:
    if texts.get(f.key):
        text = rng.choice(texts[f.key])
    elif (f.max_length or 0) <= 100:
        text = rng.choice(["Sam Patel", "Alex Jones", "Jo Smith", "Team manager", "Priya Shah"])
    else:
        text = " ".join(rng.sample(SENTENCES, rng.randint(1, 3)))
    return text[: f.max_length] if f.max_length else text


def fill_workbook(issued: str | Path, out: str | Path, answers: dict[str, Any], form: Form) -> Path:
    """Type answers into an issued workbook's unlocked cells with openpyxl, as a team would.

    Dates go in as real dates and numbers as numbers; other values as the team typed them.
    """
    wb = openpyxl.load_workbook(issued)
    for i in form.inputs:
        value = _lookup(answers, i.field.path)
        if value is not None:
            wb[i.sheet].cell(i.row, i.col).value = _typed(i.field, value)
    for t in form.tables:
        for n, item in enumerate(answers.get(t.path) or []):
            for c in t.columns:
                if item.get(c.key) is not None:
                    wb[t.sheet].cell(t.first_row + n, t.col_of(c.key)).value = _typed(
                        c, item[c.key]
                    )
    buf = io.BytesIO()
    wb.save(buf)
    return atomic_write_bytes(out, buf.getvalue())


def fill_explanations(feedback: str | Path, out: str | Path, text: str) -> Path:
    """Type an explanation into every query's explanation cell of a feedback workbook
    (found by its `explain.` defined name), as a team would, and save it as `out`."""
    wb = openpyxl.load_workbook(feedback)
    for name, defined in wb.defined_names.items():
        if name.startswith(NAME_PREFIX):
            for sheet, cell in defined.destinations:
                wb[sheet][cell.replace("$", "")] = text
    buf = io.BytesIO()
    wb.save(buf)
    return atomic_write_bytes(out, buf.getvalue())


def _lookup(doc: dict[str, Any], path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _typed(f: Field, value: Any) -> Any:
    if f.kind == "date" and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value
