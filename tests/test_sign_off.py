"""Sign-off: each built-in form ends with a required sign-off, defined in the pack."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from participation_xl.collect import collect
from participation_xl.generate import generate, issued_form
from participation_xl.register import Register
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.status import status
from participation_xl.workspace import register_path

SIGN_OFF = ("signed_by", "role", "date_signed", "confirmed")


@pytest.mark.parametrize("form_id", ["audit", "six-standards"])
def test_each_form_ends_with_a_required_sign_off(pack, form_id):
    form = pack.forms[form_id]
    last = form.sheets[-1]
    assert {i.field.path.split(".")[0] for b in last.blocks for i in b.inputs} == {"sign_off"}
    node = form.schema["properties"]["sign_off"]
    assert "sign_off" in form.schema["required"]
    assert sorted(node["required"]) == sorted(SIGN_OFF)
    confirm = form.input_of("sign_off.confirmed").field
    assert confirm.kind == "choice" and confirm.choices == ("Yes",)
    assert "accurate" in confirm.title


@pytest.mark.parametrize("form_id", ["audit", "six-standards"])
def test_a_return_not_signed_off_is_invalid_with_each_missing_answer_named(workspace, form_id):
    paths = {issued_form(workspace, p): p for p in generate(workspace)}
    form = workspace.pack.forms[form_id]
    answers = sample_answers(form, random.Random(1), today=dt.date(2027, 1, 10))
    del answers["sign_off"]
    fill_workbook(paths[("ADV1", form_id)], workspace.returns_dir / "ADV1.xlsx", answers, form)
    collect(workspace)
    with Register(register_path(workspace)) as reg:
        row = next(
            r
            for r in status(workspace, reg)["teams"]
            if (r["team_id"], r["form"]) == ("ADV1", form_id)
        )
    assert row["status"] == "invalid"
    missing = {(i["code"], i["sheet"]) for i in row["issues"]}
    assert missing == {("answer.required", form.sheets[-1].name)}
    assert len(row["issues"]) == len(SIGN_OFF)
