"""Cross-field rules are pack data: collect checks them, and the pack check proves them.

Each case is a table of answers and the codes collect must give, by the cell they are on.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from participation_xl.check import check_pack
from participation_xl.errors import PackError
from participation_xl.examine import answers
from participation_xl.live import located, written_cell
from participation_xl.pack import load_pack
from participation_xl.sample import sample_answers

TODAY = dt.date(2026, 12, 2)
IDENT = {"form": "audit", "form_version": "1.0", "cycle": "2026-27", "team_id": "T1"}


def _codes(pack, form_id, change) -> dict[str, set[str]]:
    """Collect's codes, by field path, for valid sample answers with `change` applied."""
    form = pack.forms[form_id]
    doc = sample_answers(form, random.Random(2), rows=2, today=TODAY)
    change(doc)
    cells = {}
    for i in form.inputs:
        node = doc
        for part in i.field.parts:
            node = node.get(part) if isinstance(node, dict) else None
        if (c := written_cell(i.field, node)) is not None:
            cells[(i.sheet, i.row, i.col)] = c
    for t in form.tables:
        for n, item in enumerate(doc.get(t.path, [])):
            for col in t.columns:
                if (c := written_cell(col, item.get(col.key))) is not None:
                    cells[(t.sheet, t.first_row + n, t.col_of(col.key))] = c
    _, issues = answers(form, {**IDENT, "form": form_id}, located(form, cells), False, "", TODAY)
    out: dict[str, set[str]] = {}
    for i in issues:
        out.setdefault(i.label, set()).add(i.code)
    return out


@pytest.mark.parametrize(
    ("form_id", "change", "field", "code"),
    [
        (
            "audit",
            lambda d: d["commitment"].update(staff_total=5, staff_trained=15),
            "How many of them had participation training in the last 12 months?",
            "rule.more_than",
        ),
        (
            "audit",
            lambda d: d["about"].update(youngest_age=18, oldest_age=4),
            "Youngest age you work with",
            "rule.more_than",
        ),
        (
            "audit",
            lambda d: d["about"].update(date_completed="2031-01-01"),
            "Date completed",
            "rule.in_future",
        ),
        (
            "audit",
            lambda d: d["action_plan"][1].update(target_date="2019-06-01"),
            "Action plan for next year, row 2: Target date",
            "rule.not_after_query",
        ),
        (
            "six-standards",
            lambda d: d["contract"].update(contract_start="2026-04-01", contract_end="2025-04-01"),
            "Contract end date",
            "rule.not_after",
        ),
    ],
)
def test_a_broken_rule_is_reported_on_its_field(pack, form_id, change, field, code):
    assert code in _codes(pack, form_id, change).get(field, set())


def test_valid_sample_answers_keep_every_rule(pack):
    for form_id in pack.forms:
        codes = _codes(pack, form_id, lambda d: None)
        assert not [c for cs in codes.values() for c in cs if c.startswith("rule.")], codes


def test_a_rule_is_not_judged_on_an_answer_that_is_itself_wrong(pack):
    codes = _codes(pack, "audit", lambda d: d["commitment"].update(staff_total="lots"))
    assert "answer.integer" in codes["How many staff are in your team?"]
    trained = "How many of them had participation training in the last 12 months?"
    assert "rule.more_than" not in codes.get(trained, set())


def test_rules_are_pack_data_and_the_pack_check_proves_them(pack):
    assert {r.code for r in pack.forms["audit"].rules} >= {"rule.more_than", "rule.in_future"}
    assert check_pack(pack) == []


def test_a_rule_with_an_unknown_code_or_field_is_refused(pack_copy):
    path = pack_copy / "workbook_templates/audit.toml"
    text = path.read_text()
    path.write_text(text.replace('code = "rule.more_than"', 'code = "rule.bigger"', 1))
    with pytest.raises(PackError, match="needs a code"):
        load_pack(pack_copy)
    path.write_text(text.replace('other = "commitment.staff_total"', 'other = "about.role"'))
    with pytest.raises(PackError, match="kind integer or number"):
        load_pack(pack_copy)
