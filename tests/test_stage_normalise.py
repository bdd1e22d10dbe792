# ruff: noqa: E501 (the tables are wide on purpose: one case a line)
"""Specification of normalise: what a cell as read becomes, and the notes that say so.

`normalise.normalise(field, cell, date1904)` is called directly on one cell. Each row of a
table below is one case: the field (by its path in the built-in pack, so the pack's real
kind, list and limits apply), the cell as the reader hands it over, the value that goes on
to validation and the catalogue codes of the notes (README, "Problems are errors or
queries": what is tidied is said, as a query; what is wrong is left for validation).

The `cell` column says how the cell holds what was typed:

    text        typed as text: the `typed` column is the text itself (quote it to keep
                spaces or write a line break as \\n)
    number      a number cell with no date format (in a date field: an Excel serial)
    date        a cell formatted as a date: `typed` is the day it shows, dd/mm/yyyy,
                stored as Excel stores it (a serial number, 1900 system)
    iso date    a date cell stored as ISO text (strict .xlsx, .ods)
    logical     TRUE or FALSE
    error       an error value such as #N/A
    formula     a formula (`typed`); whatever value it last showed is not taken
    blank       a cell with nothing in it
    none        no cell at all

To add a case, add a row to the table of the field's kind: `value` and `codes` are read by
tests/tables.py (blank value: None; "quoted": text; a bare number: a number; codes
separated by spaces). Expected values are compared with their type: 12 is not "12".
"""

from __future__ import annotations

import datetime as dt

import pytest
import tables

from participation_xl.normalise import normalise
from participation_xl.pack import Field, load_pack
from participation_xl.read import Cell

PACK = load_pack()
FIELDS: dict[str, Field] = {f.path: f for form in PACK.forms.values() for f in form.fields}
EPOCH_1900, EPOCH_1904 = dt.date(1899, 12, 30), dt.date(1904, 1, 1)


def cell_of(kind: str, typed: str) -> Cell | None:
    """The cell the reader hands over for what was typed, as the `cell` column names it."""
    if kind == "text":
        text = tables.value(typed) if typed.startswith('"') else typed
        return Cell(text, "s")
    if kind == "number":
        return Cell(tables.value(typed), "n")
    if kind == "date":
        day = dt.datetime.strptime(typed, "%d/%m/%Y").date()
        return Cell((day - EPOCH_1900).days, "n", None, True)
    if kind == "iso date":
        return Cell(f"{typed}T00:00:00", "d")
    if kind == "logical":
        return Cell(tables.value(typed), "b")
    if kind == "error":
        return Cell(typed, "e")
    if kind == "formula":
        return Cell(None, "blank", typed.removeprefix("="))
    if kind == "blank":
        return Cell(None, "blank")
    if kind == "none":
        return None
    raise ValueError(f"unknown cell kind {kind!r}")


def check(row: dict[str, str], date1904: bool = False) -> None:
    field = FIELDS[row["field"]]
    value, notes = normalise(field, cell_of(row["cell"], row["typed"]), date1904)
    expected = tables.value(row["value"])
    assert tables.same(value, expected), f"value {value!r}, expected {expected!r}"
    assert sorted(n.code for n in notes) == tables.codes(row["codes"])


COLUMNS = ("case", "field", "cell", "typed", "value", "codes")

CHOICE = r"""
| case                               | field                     | cell    | typed            | value         | codes                            |
|------------------------------------|---------------------------|---------|------------------|---------------|----------------------------------|
| picked from the list               | about.serves_looked_after | text    | Yes              | Yes           |                                  |
| typed in lower case                | about.serves_looked_after | text    | yes              | Yes           | normalise.case                   |
| capitals and spaces                | about.serves_looked_after | text    | "  YES "         | Yes           | normalise.case normalise.trimmed |
| Y for Yes                          | about.serves_looked_after | text    | y                | Yes           | normalise.case                   |
| N for No                           | about.serves_looked_after | text    | N                | No            | normalise.case                   |
| TRUE for Yes                       | about.serves_looked_after | logical | TRUE             | Yes           | normalise.case                   |
| FALSE for No                       | about.serves_looked_after | logical | FALSE            | No            | normalise.case                   |
| not an option: left for validation | about.serves_looked_after | text    | Maybe            | Maybe         |                                  |
| a scale word picked from the list  | promises.listen.rating    | text    | Not yet          | Not yet       |                                  |
| a scale word in capitals           | promises.listen.rating    | text    | NOT YET          | Not yet       | normalise.case                   |
| a scale word with a double space   | promises.listen.rating    | text    | "not  yet"       | Not yet       | normalise.case                   |
| a line break inside an option      | standards.feedback.rating | text    | "Partially\nmet" | Partially met | normalise.case                   |
| Y is only Yes on a Yes/No list     | promises.listen.rating    | text    | y                | y             |                                  |
| n/a is a blank                     | promises.listen.rating    | text    | n/a              |               | normalise.not_applicable         |
| a list of one option               | sign_off.confirmed        | text    | yes              | Yes           | normalise.case                   |
| N is not on a list of one option   | sign_off.confirmed        | text    | N                | N             |                                  |
| a number in a choice is its text   | promises.listen.rating    | number  | 3                | "3"           |                                  |
| nothing typed                      | promises.listen.rating    | blank   |                  |               |                                  |
"""

TEXT = r"""
| case                                | field                       | cell    | typed                          | value                          | codes                                                             |
|-------------------------------------|-----------------------------|---------|--------------------------------|--------------------------------|-------------------------------------------------------------------|
| typed cleanly                       | about.completed_by          | text    | Sam Jones                      | Sam Jones                      |                                                                   |
| stray spaces at either end          | about.completed_by          | text    | "  Sam Jones "                 | Sam Jones                      | normalise.trimmed                                                 |
| a stray line break at the end       | about.completed_by          | text    | "Sam Jones\n"                  | Sam Jones                      | normalise.trimmed                                                 |
| line breaks inside are kept         | promises.listen.evidence    | text    | "We met.\nThey spoke."         | "We met.\nThey spoke."         |                                                                   |
| an invisible control character      | about.completed_by          | text    | "Sam\u0007 Jones"              | Sam Jones                      | answer.control_chars                                              |
| N/A is a blank                      | about.completed_by          | text    | N/A                            |                                | normalise.not_applicable                                          |
| none, with spaces, is a blank       | about.completed_by          | text    | " none "                       |                                | normalise.not_applicable normalise.trimmed                        |
| only spaces is a blank              | about.completed_by          | text    | "   "                          |                                |                                                                   |
| a number is its text                | about.completed_by          | number  | 12                             | "12"                           |                                                                   |
| a decimal is its text               | about.completed_by          | number  | 12.5                           | "12.5"                         |                                                                   |
| a formula is never the answer       | about.completed_by          | formula | =A1&B1                         |                                | content.formula                                                   |
| a formula that runs a program (DDE) | about.completed_by          | formula | =cmd\|' /c calc'!A0            |                                | content.dde                                                       |
| an error value                      | about.completed_by          | error   | #N/A                           |                                | answer.error_value                                                |
| an empty cell                       | about.completed_by          | blank   |                                |                                |                                                                   |
| no cell at all                      | about.completed_by          | none    |                                |                                |                                                                   |
# Too long: the schema's maxLength is validation's; normalise adds a note only where the
# answer was too long as typed (as the workbook's live check measures it) but not once trimmed.
| as long as allowed (50)             | contract.contract_reference | text    | "R" * 50                       | "R" * 50                       |                                                                   |
| too long: left for validation       | contract.contract_reference | text    | "R" * 51                       | "R" * 51                       |                                                                   |
| too long as typed, not once trimmed | contract.contract_reference | text    | "R" * 49 + "  "                | "R" * 49                       | answer.too_long normalise.trimmed                                 |
# Personal data: only long free text (500 characters or more allowed) is looked at.
| an email address                    | promises.listen.evidence    | text    | Email sam@example.org          | Email sam@example.org          | privacy.personal_data                                             |
| a phone number                      | promises.listen.evidence    | text    | Call 01225 477000              | Call 01225 477000              | privacy.personal_data                                             |
| a mobile number, +44                | promises.listen.evidence    | text    | Ring +44 7700 900123           | Ring +44 7700 900123           | privacy.personal_data                                             |
| DOB                                 | promises.listen.evidence    | text    | Her DOB is on file             | Her DOB is on file             | privacy.personal_data                                             |
| date of birth                       | promises.listen.evidence    | text    | Date of birth: 1/2/2010        | Date of birth: 1/2/2010        | privacy.personal_data                                             |
| all three: one note each            | promises.listen.evidence    | text    | DOB, 01225 477000, a@b.co      | DOB, 01225 477000, a@b.co      | privacy.personal_data privacy.personal_data privacy.personal_data |
| numbers that are not a phone        | promises.listen.evidence    | text    | We met 12 young people in 2027 | We met 12 young people in 2027 |                                                                   |
| a short answer is not looked at     | about.completed_by          | text    | sam@example.org                | sam@example.org                |                                                                   |
"""

EMAIL = r"""
| case                         | field                  | cell | typed               | value             | codes                    |
|------------------------------|------------------------|------|---------------------|-------------------|--------------------------|
| an address, as asked         | contract.contact_email | text | sam@example.org     | sam@example.org   |                          |
| with stray spaces            | contract.contact_email | text | " sam@example.org " | sam@example.org   | normalise.trimmed        |
| not an address: validation's | contract.contact_email | text | Sam at the office   | Sam at the office |                          |
| n/a is a blank               | contract.contact_email | text | n/a                 |                   | normalise.not_applicable |
"""

INTEGER = r"""
| case                                     | field                  | cell    | typed      | value      | codes                                   |
|------------------------------------------|------------------------|---------|------------|------------|-----------------------------------------|
| a whole number                           | about.youngest_age     | number  | 12         | 12         |                                         |
| a whole number stored with .0            | about.youngest_age     | number  | 12.0       | 12         |                                         |
| typed as text                            | about.youngest_age     | text    | 12         | 12         | normalise.number_text                   |
| typed as text, with spaces               | about.youngest_age     | text    | " 12 "     | 12         | normalise.number_text normalise.trimmed |
| a thousands comma                        | commitment.staff_total | text    | 1,000      | 1000       | normalise.number_text                   |
| a thousands space                        | commitment.staff_total | text    | 1 000      | 1000       | normalise.number_text                   |
| a pound sign                             | commitment.staff_total | text    | £12        | 12         | normalise.number_text                   |
| negative, as text: range is validation's | about.youngest_age     | text    | -3         | -3         | normalise.number_text                   |
| negative, as a number                    | about.youngest_age     | number  | -3         | -3         |                                         |
| decimals in a whole-number field         | about.youngest_age     | number  | 12.5       | 12.5       |                                         |
| decimals typed as text: left as typed    | about.youngest_age     | text    | 12.5       | "12.5"     |                                         |
| words                                    | about.youngest_age     | text    | twelve     | twelve     |                                         |
| scientific notation is not tolerated     | commitment.staff_total | text    | 1e3        | 1e3        |                                         |
| n/a is a blank                           | about.youngest_age     | text    | n/a        |            | normalise.not_applicable                |
| a date in a number field                 | about.youngest_age     | date    | 31/03/2027 | 2027-03-31 |                                         |
| an error value                           | about.youngest_age     | error   | #VALUE!    |            | answer.error_value                      |
| a formula                                | about.youngest_age     | formula | =6*2       |            | content.formula                         |
"""

NUMBER = r"""
| case                             | field                       | cell   | typed     | value  | codes                 |
|----------------------------------|-----------------------------|--------|-----------|--------|-----------------------|
| a decimal                        | budget.participation_budget | number | 2.5       | 2.5    |                       |
| a whole amount is a whole number | budget.participation_budget | number | 2500.0    | 2500   |                       |
| pounds and pence typed as text   | budget.participation_budget | text   | £1,250.50 | 1250.5 | normalise.number_text |
| a decimal typed as text          | budget.participation_budget | text   | 2.50      | 2.5    | normalise.number_text |
| negative typed as text           | budget.participation_budget | text   | -10       | -10    | normalise.number_text |
| a leading point is not tolerated | budget.participation_budget | text   | .5        | .5     |                       |
| two points is not a number       | budget.participation_budget | text   | 1.2.3     | 1.2.3  |                       |
"""

DATE = r"""
| case                                | field                | cell     | typed          | value         | codes                                 |
|-------------------------------------|----------------------|----------|----------------|---------------|---------------------------------------|
| a date typed as a date              | about.date_completed | date     | 31/03/2027     | 2027-03-31    |                                       |
| a date stored as ISO text           | about.date_completed | iso date | 2027-03-31     | 2027-03-31    |                                       |
| an Excel serial with no date format | about.date_completed | number   | 46477          | 2027-03-31    | normalise.date_serial                 |
| a number that is no plausible date  | about.date_completed | number   | 5              | 5             |                                       |
# Dates typed as text: day first, or year first; "/", "-" or "." between; 2- or 4-digit year.
| dd/mm/yyyy                          | about.date_completed | text     | 31/03/2027     | 2027-03-31    | normalise.date_text                   |
| d/m/yy                              | about.date_completed | text     | 31/3/27        | 2027-03-31    | normalise.date_text                   |
| day first: 1/4 is 1 April           | about.date_completed | text     | 1/4/2027       | 2027-04-01    | normalise.date_text                   |
| dashes                              | about.date_completed | text     | 31-03-2027     | 2027-03-31    | normalise.date_text                   |
| dots                                | about.date_completed | text     | 31.03.2027     | 2027-03-31    | normalise.date_text                   |
| year first with slashes             | about.date_completed | text     | 2027/3/31      | 2027-03-31    | normalise.date_text                   |
| ISO as text needs no note           | about.date_completed | text     | 2027-03-31     | 2027-03-31    |                                       |
| with stray spaces                   | about.date_completed | text     | " 31/03/2027 " | 2027-03-31    | normalise.date_text normalise.trimmed |
| 29 February in a leap year          | about.date_completed | text     | 29/02/2028     | 2028-02-29    | normalise.date_text                   |
| 68 is 2068                          | about.date_completed | text     | 1/1/68         | 2068-01-01    | normalise.date_text                   |
# Not a date: left as typed, for validation to say so.
| an impossible day, 31 February      | about.date_completed | text     | 31/02/2027     | 31/02/2027    |                                       |
| 29 February in a common year        | about.date_completed | text     | 29/02/2027     | 29/02/2027    |                                       |
| month first (US) is not a date      | about.date_completed | text     | 03/31/2027     | 03/31/2027    |                                       |
| a date in words is not tolerated    | about.date_completed | text     | 31 March 2027  | 31 March 2027 |                                       |
# Out of range: a form takes dates from 1990 to 2100, however they were typed.
| before 1990, as text                | about.date_completed | text     | 31/12/1989     |               | answer.date_range                     |
| after 2100, as text                 | about.date_completed | text     | 1/1/2101       |               | answer.date_range                     |
| 69 is 1969                          | about.date_completed | text     | 1/1/69         |               | answer.date_range                     |
| before 1990, typed as a date        | about.date_completed | date     | 01/01/1980     |               | answer.date_range                     |
| after 2100, typed as a date         | about.date_completed | date     | 01/01/2101     |               | answer.date_range                     |
| before 1990, stored as ISO text     | about.date_completed | iso date | 1980-03-31     |               | answer.date_range                     |
| the first day a form takes          | about.date_completed | date     | 01/01/1990     | 1990-01-01    |                                       |
| the last day a form takes           | about.date_completed | date     | 31/12/2100     | 2100-12-31    |                                       |
| an error value                      | about.date_completed | error    | #N/A           |               | answer.error_value                    |
| a formula                           | about.date_completed | formula  | =TODAY()       |               | content.formula                       |
| n/a is a blank                      | about.date_completed | text     | n/a            |               | normalise.not_applicable              |
"""

SPECS = {
    "choice": CHOICE,
    "text": TEXT,
    "email": EMAIL,
    "integer": INTEGER,
    "number": NUMBER,
    "date": DATE,
}


@pytest.mark.parametrize("row", tables.params(CHOICE, *COLUMNS))
def test_choice(row):
    check(row)


@pytest.mark.parametrize("row", tables.params(TEXT, *COLUMNS))
def test_text(row):
    check(row)


@pytest.mark.parametrize("row", tables.params(EMAIL, *COLUMNS))
def test_email(row):
    check(row)


@pytest.mark.parametrize("row", tables.params(INTEGER, *COLUMNS))
def test_integer(row):
    check(row)


@pytest.mark.parametrize("row", tables.params(NUMBER, *COLUMNS))
def test_number(row):
    check(row)


@pytest.mark.parametrize("row", tables.params(DATE, *COLUMNS))
def test_date(row):
    check(row)


# Excel keeps a date as a serial number counted from 1900, or, in a workbook made on an old
# Mac, from 1904: the same day has two serials, and the workbook says which system it uses.
SERIALS = r"""
| day        | 1900 system | 1904 system |
|------------|-------------|-------------|
| 2027-03-31 | 46477       | 45015       |
| 1990-01-01 | 32874       | 31412       |
| 2024-02-29 | 45351       | 43889       |
| 2100-12-31 | 73415       | 71953       |
"""


@pytest.mark.parametrize("row", tables.params(SERIALS, "day", "1900 system", "1904 system"))
@pytest.mark.parametrize("formatted", [True, False], ids=["date format", "no format"])
def test_serials_in_both_date_systems(row, formatted):
    field = FIELDS["about.date_completed"]
    day = dt.date.fromisoformat(row["day"])
    assert (day - EPOCH_1900).days == tables.value(row["1900 system"])  # the table is right
    assert (day - EPOCH_1904).days == tables.value(row["1904 system"])
    expected = [] if formatted else ["normalise.date_serial"]
    for column, date1904 in (("1900 system", False), ("1904 system", True)):
        cell = Cell(tables.value(row[column]), "n", None, formatted)
        value, notes = normalise(field, cell, date1904)
        assert (value, [n.code for n in notes]) == (row["day"], expected)


def test_every_kind_of_field_has_a_table():
    """A pack with a new kind of field needs a table here before it ships."""
    assert {f.kind for f in FIELDS.values()} <= set(SPECS)
    for kind, spec in SPECS.items():
        assert {FIELDS[r["field"]].kind for r in tables.rows(spec)} == {kind}, kind
