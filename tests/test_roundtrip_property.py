"""Property: for any valid answers, generate → fill → collect → export gives them back."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from participation_xl.examine import validate_files
from participation_xl.generate import generate, issued_form
from participation_xl.normalise import NOT_APPLICABLE
from participation_xl.pack import Field
from participation_xl.sample import fill_workbook, keep_rules

_COUNTER = itertools.count()


def _text(f: Field) -> st.SearchStrategy[str]:
    limit = min(f.max_length or 80, 80)
    alphabet = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"))
    return st.text(alphabet, min_size=1, max_size=limit).filter(
        lambda s: (
            s == s.strip()
            and " ".join(s.split()).casefold() not in NOT_APPLICABLE
            and not s.startswith("=")
        )
    )


def _value(f: Field) -> st.SearchStrategy:
    if f.kind == "choice":
        return st.sampled_from(f.choices)
    if f.kind == "integer":
        return st.integers(int(f.minimum or 0), int(f.maximum or 1000))
    if f.kind == "number":
        cents = st.integers(int((f.minimum or 0) * 100), int((f.maximum or 10**6) * 100))
        return cents.map(lambda c: c // 100 if c % 100 == 0 else c / 100)
    if f.kind == "date":
        return st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)).map(dt.date.isoformat)
    if f.kind == "email":
        name = st.text("abcdefghijklmnopqrstuvwxyz0123456789.", min_size=1, max_size=12)
        return name.filter(lambda s: not s.startswith(".")).map(lambda s: f"{s}@example.org")
    return _text(f)


def answers_for(form) -> st.SearchStrategy[dict]:
    """Valid answers: every question filled, each table with 1 to 3 complete rows."""
    parts = {}
    for i in form.inputs:
        parts[i.field.path] = _value(i.field)
    tables = {
        t.path: st.lists(
            st.fixed_dictionaries({c.key: _value(c) for c in t.columns}),
            min_size=max(1, t.min_items),
            max_size=3,
        )
        for t in form.tables
    }
    # Answers that break a rule of the pack (trained staff over total, …) are not valid.
    nested = st.tuples(st.fixed_dictionaries(parts), st.fixed_dictionaries(tables)).map(_nest)
    return nested.map(lambda doc: keep_rules(form, doc))


def _nest(pair) -> dict:
    flat, tables = pair
    doc: dict = {}
    for path, value in flat.items():
        *parents, key = path.split(".")
        node = doc
        for p in parents:
            node = node.setdefault(p, {})
        node[key] = value
    return {**doc, **tables}


@pytest.fixture(scope="module")
def issued_forms(tmp_path_factory):
    from participation_xl import init_workspace

    ws = init_workspace(
        tmp_path_factory.mktemp("prop") / "ws", "Council", "2026-27", dt.date(2027, 3, 31)
    )
    paths = {issued_form(ws, p): p for p in generate(ws, team_ids=["ADV1"])}
    return ws, paths


@pytest.mark.parametrize("form_id", ["audit", "six-standards"])
def test_any_valid_answers_come_back_unchanged(issued_forms, form_id):
    ws, paths = issued_forms
    form = ws.pack.forms[form_id]

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(answers=answers_for(form))
    def round_trip(answers):
        ident = {"form": form_id, "form_version": "1.0", "cycle": "2026-27", "team_id": "ADV1"}
        assert form.validator.is_valid({**ident, **answers})
        out = ws.root / "tmp" / f"{next(_COUNTER)}.xlsx"
        fill_workbook(paths[("ADV1", form_id)], out, answers, form)
        [(_, examined)] = validate_files(ws, [str(out)])
        assert examined.valid, examined.issues
        assert examined.document == {**ident, **answers}

    round_trip()
