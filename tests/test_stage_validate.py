# ruff: noqa: E501 (the tables are wide on purpose: one case a line)
"""Specification of validation: which catalogue code the schema's verdict becomes, where.

`validate.schema_problems(validator, document)` is called directly on a normalised
document: a complete, valid set of answers for the form (from `sample.sample_answers`)
with the changes in the `document` column made to it. Each change is `path = value`,
several separated by `;`; a path names a field of the built-in pack (`action_plan.0.owner`
is the owner on the first row of the action plan), and a blank value removes the answer,
as a blank cell does. The `problems` column lists what must be found, each as `path code`,
separated by `;` (blank: the document is valid). Nothing else may be found.

Values are read by tests/tables.py: a bare number is a number, "quoted" is text, so
`about.youngest_age = "12"` is the text 12 (the schema wants a whole number).

To add a case, add a row: the form, the changes, and every problem they must give.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from typing import Any

import pytest
import tables

from participation_xl.pack import load_pack
from participation_xl.sample import sample_answers
from participation_xl.validate import schema_problems

PACK = load_pack()
TODAY = dt.date(2026, 12, 2)
IDENT = {"form_version": "1.0", "cycle": "2026-27", "team_id": "T1"}

SPEC = r"""
| case                                      | form          | document                                                                                                                     | problems                                                                                       |
|-------------------------------------------|---------------|------------------------------------------------------------------------------------------------------------------------------|------------------------------------------------------------------------------------------------|
| every answer as the form asks             | audit         |                                                                                                                              |                                                                                                |
| every answer as the form asks             | six-standards |                                                                                                                              |                                                                                                |
# Required: a blank (a key left out) or empty text.
| a required answer left blank              | audit         | about.completed_by =                                                                                                         | about.completed_by answer.required                                                             |
| empty text is no answer                   | audit         | about.completed_by = ""                                                                                                      | about.completed_by answer.required                                                             |
| two answers left blank                    | audit         | about.role = ; sign_off.date_signed =                                                                                        | about.role answer.required; sign_off.date_signed answer.required                               |
| an optional answer left blank             | audit         | taking_part.method_other =                                                                                                   |                                                                                                |
| a required answer in a table row          | audit         | action_plan.0.owner =                                                                                                        | action_plan.0.owner answer.required                                                            |
| a table with no rows where one is needed  | audit         | action_plan = []                                                                                                             | action_plan answer.min_rows                                                                    |
# Types: what normalise could not read as the kind of answer asked for.
| text in a whole-number field              | audit         | about.youngest_age = "12"                                                                                                    | about.youngest_age answer.integer                                                              |
| decimals in a whole-number field          | audit         | about.youngest_age = 12.5                                                                                                    | about.youngest_age answer.integer                                                              |
| text in a number field                    | six-standards | budget.participation_budget = lots                                                                                           | budget.participation_budget answer.number                                                      |
| a number where a date is asked            | audit         | about.date_completed = 46477                                                                                                 | about.date_completed answer.date                                                               |
# Choices (enum): only the options of the list, exactly.
| not one of the options                    | audit         | about.serves_looked_after = Maybe                                                                                            | about.serves_looked_after answer.choice                                                        |
| a scale word in the wrong case            | audit         | promises.listen.rating = always                                                                                              | promises.listen.rating answer.choice                                                           |
| another list's option                     | six-standards | standards.feedback.rating = Always                                                                                           | standards.feedback.rating answer.choice                                                        |
| an option in a table row                  | audit         | you_said_we_did.1.level = Told                                                                                               | you_said_we_did.1.level answer.choice                                                          |
# Limits: maxLength, minimum and maximum.
| as long as allowed (100)                  | audit         | about.completed_by = "x" * 100                                                                                               |                                                                                                |
| one character too long                    | audit         | about.completed_by = "x" * 101                                                                                               | about.completed_by answer.too_long                                                             |
| the lowest allowed                        | audit         | about.youngest_age = 0                                                                                                       |                                                                                                |
| below the lowest allowed                  | audit         | about.youngest_age = -1                                                                                                      | about.youngest_age answer.too_small                                                            |
| the highest allowed                       | audit         | about.youngest_age = 0; about.oldest_age = 25                                                                                |                                                                                                |
| above the highest allowed                 | audit         | about.oldest_age = 26                                                                                                        | about.oldest_age answer.too_large                                                              |
| no staff at all is below the minimum of 1 | audit         | commitment.staff_total = 0; commitment.staff_trained = 0                                                                     | commitment.staff_total answer.too_small                                                        |
| a negative budget                         | six-standards | budget.participation_budget = -0.5                                                                                           | budget.participation_budget answer.too_small                                                   |
# Formats: dates as ISO yyyy-mm-dd (normalise has turned what was typed into one), emails.
| not a date                                | audit         | about.date_completed = 31/03/2027                                                                                            | about.date_completed answer.date                                                               |
| no such day                               | audit         | about.date_completed = 2027-02-31                                                                                            | about.date_completed answer.date                                                               |
| a date in a table row                     | audit         | action_plan.1.target_date = soon                                                                                             | action_plan.1.target_date answer.date                                                          |
| not an email address                      | six-standards | contract.contact_email = Sam at the office                                                                                   | contract.contact_email answer.email                                                            |
# Conditional: required because of another answer (if ... then required).
| a lead, but no lead named                 | audit         | commitment.has_lead = Yes; commitment.lead_name =                                                                            | commitment.lead_name answer.required_when                                                      |
| no lead, and none named                   | audit         | commitment.has_lead = No; commitment.lead_name =                                                                             |                                                                                                |
| a standard not met needs an action        | six-standards | standards.feedback.rating = Not met; standards.feedback.action =                                                             | standards.feedback.action answer.required_when                                                 |
| partially met needs owner and target date | six-standards | standards.budget.rating = Partially met; standards.budget.owner = ; standards.budget.target_date =                           | standards.budget.owner answer.required_when; standards.budget.target_date answer.required_when |
| a standard met needs no action            | six-standards | standards.feedback.rating = Met; standards.feedback.action = ; standards.feedback.owner = ; standards.feedback.target_date = |                                                                                                |
| a standard met needs evidence             | six-standards | standards.equality.rating = Met; standards.equality.evidence =                                                               | standards.equality.evidence answer.required_when                                               |
| not met needs no evidence                 | six-standards | standards.equality.rating = Not met; standards.equality.evidence =                                                           |                                                                                                |
| evidence sent needs the date it was sent  | audit         | impact.evidence_sent_to = Both; impact.evidence_date =                                                                       | impact.evidence_date answer.required_when                                                      |
"""


def _document(form_id: str, changes: str) -> dict[str, Any]:
    doc = sample_answers(PACK.forms[form_id], random.Random(7), rows=2, today=TODAY)
    doc = {**copy.deepcopy(doc), **IDENT, "form": form_id}
    for change in filter(None, (c.strip() for c in changes.split(";"))):
        path, _, text = (part.strip() for part in change.partition("="))
        *parents, key = (int(p) if p.isdigit() else p for p in path.split("."))
        node: Any = doc
        for part in parents:
            node = node[part]
        if text == "":
            node.pop(key, None)  # a blank answer is left out of the document
        else:
            node[key] = [] if text == "[]" else tables.value(text)
    return doc


def _problems(text: str) -> list[tuple[str, str]]:
    pairs = [p.split() for p in text.split(";") if p.strip()]
    return sorted((path, *tables.codes(code)) for path, code in pairs)


@pytest.mark.parametrize("row", tables.params(SPEC, "case", "form", "document", "problems"))
def test_schema_problems(row):
    form = PACK.forms[row["form"]]
    document = _document(row["form"], row["document"])
    found = sorted(
        (".".join(map(str, p.path)), p.code) for p in schema_problems(form.validator, document)
    )
    assert found == _problems(row["problems"])


def test_every_code_is_said_once_per_place():
    """jsonschema reports a missing key once per `required` list: each is said once."""
    form = PACK.forms["audit"]
    document = _document("audit", "about.role = ; about.completed_by = ")
    found = [(p.path, p.code) for p in schema_problems(form.validator, document)]
    assert len(found) == len(set(found)) == 2
