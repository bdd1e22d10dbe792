"""Normalise what people type, and say so: every change is recorded as a query.

Teams type "yes" for "Yes", "1,200" as text, dates as 31/3/27, and "n/a" for blanks. The
value is cleaned where the meaning is unambiguous, and the change is shown to the team and
the coordinator rather than made silently. Nothing is ever dropped without a note.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

from .messages import Code
from .pack import Field
from .read import Cell

EXCEL_CELL_LIMIT = 32767
NOT_APPLICABLE = {"n/a", "na", "n.a.", "n.a", "none", "nil", "-", "--", "—", "–", "not applicable"}
_LONGEST_NA = max(map(len, NOT_APPLICABLE))
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Dates typed as text: day first (3/2/2027 is 3 February) or year first, with "/", "-" or
# "." between the parts. Exactly these shapes, because the workbook's live check (a
# formula Excel and LibreOffice both evaluate) must reach the same verdict.
_DAY_FIRST = re.compile(r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4}|[0-9]{2})")
_YEAR_FIRST = re.compile(r"([0-9]{4})[/.-]([0-9]{1,2})[/.-]([0-9]{1,2})")
FIRST_DAY, LAST_DAY = dt.date(1990, 1, 1), dt.date(2100, 12, 31)  # dates a form takes
# Numbers typed as text, once "£", "," and spaces are gone: the same shapes as the live check.
_WHOLE = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# One pass over long text: which kinds of personal data it seems to hold, by group name.
_EMAIL_RE = r"(?P<email>[\w.+-]+@[\w-]+\.[\w.-]+)"
_PHONE_RE = r"(?P<phone>(?<!\d)(?:\+44\s?|0)(?:\d[\s-]?){9,10}(?!\d))"
_DOB_RE = r"(?P<dob>\b(?:d\.?o\.?b\.?|date of birth|born)\b)"
_PERSONAL = re.compile(f"{_EMAIL_RE}|{_PHONE_RE}|{_DOB_RE}", re.IGNORECASE)
# Long free text is most of a return, and trying every pattern at every letter is most
# of the cost: the cheap checks in _privacy rule a pattern out before it is tried.
_PHONE = re.compile(_PHONE_RE)
_DOB = re.compile(_DOB_RE, re.IGNORECASE)
_NOT_DIGIT = re.compile(r"\D+")
_PERSONAL_WORDS = {"email": "an email address", "phone": "a phone number", "dob": "a date of birth"}


@dataclass(frozen=True)
class Note:
    """A query or error about one cell's value: a catalogue code and its values."""

    code: Code
    values: dict[str, Any]


_NO_NOTES: tuple[Note, ...] = ()  # shared: most cells need no note, and a list costs


def normalise(
    field: Field, cell: Cell | None, date1904: bool = False
) -> tuple[Any, Sequence[Note]]:
    """The value to validate for this cell (None when blank), and what was done to it."""
    if cell is not None and cell.formula is not None:
        return _formula(cell)  # even with no cached value: the formula itself is the problem
    if cell is None or cell.value is None or cell.kind == "blank":
        return None, _NO_NOTES
    value: str | float | int | None = cell.value  # None again if cleaning leaves nothing
    if cell.kind == "s" and field.kind in ("text", "choice") and _untouched(str(value)):
        if field.kind == "choice" and value in field.choices:
            return value, _NO_NOTES  # most answers: a choice picked from the list
        if field.kind == "text":  # or text, typed cleanly: long text may hold personal data
            return value, (_privacy(str(value)) if (field.max_length or 0) >= 500 else _NO_NOTES)
    if cell.kind == "d" and field.kind == "date":  # a date typed as a date: the day
        day = _iso(str(value))
        if isinstance(day, dt.date) and FIRST_DAY <= day <= LAST_DAY:
            return day.isoformat(), _NO_NOTES
    if cell.kind == "e":  # an error value (#N/A, #VALUE!) is not an answer
        return None, [Note(Code.ANSWER_ERROR_VALUE, {"value": value})]
    value, notes = _as_typed(cell, date1904)
    if isinstance(value, str):
        value, more = _clean_text(value)
        notes += more
        if value is None:
            return None, notes
    if field.kind == "date" and isinstance(value, int | float) and not isinstance(value, bool):
        value, more = _serial(value, date1904)
        notes += more
    value, more = _CONVERTERS.get(field.kind, _text)(field, value)
    notes += more
    if isinstance(value, str) and field.kind == "text" and (field.max_length or 0) >= 500:
        notes += _privacy(value)
    return value, notes + _too_long_as_typed(field, cell.value, value)


def _too_long_as_typed(field: Field, typed: Any, value: Any) -> list[Note]:
    """The live check measures the cell as typed (spaces and all); so does this."""
    limit = field.max_length
    if not limit or not isinstance(typed, str) or len(typed) <= limit:
        return []
    if isinstance(value, str) and len(value) > limit:
        return []  # the schema says so already
    return [Note(Code.ANSWER_TOO_LONG, {"length": len(typed), "limit": limit})]


def _untouched(text: str) -> bool:
    """Text that no rule below would change or query: printable, trimmed, not "n/a"."""
    return (
        text.isprintable()
        and len(text) <= EXCEL_CELL_LIMIT
        and not text[0].isspace()
        and not text[-1].isspace()
        and (len(text) > _LONGEST_NA or text.casefold() not in NOT_APPLICABLE)
    )


def _formula(cell: Cell) -> tuple[Any, list[Note]]:
    # A formula's cached value can say anything: it is not taken as the answer.
    text = "=" + str(cell.formula).lstrip("=")
    shown = text if len(text) <= 60 else text[:57] + "..."
    dde = "|" in text or re.search(r"\b(?:DDE|DDEAUTO|CALL|REGISTER|EXEC)\b", text, re.I)
    return None, [Note(Code.CONTENT_DDE if dde else Code.CONTENT_FORMULA, {"formula": shown})]


def _as_typed(cell: Cell, date1904: bool) -> tuple[Any, list[Note]]:
    """The cell's value as the team saw it: numbers formatted as dates become dates."""
    value = cell.value
    if cell.kind == "d":
        return _iso(str(value)), []
    if cell.kind == "b" or isinstance(value, bool):
        return ("Yes" if value else "No"), [
            Note(Code.NORMALISE_CASE, {"value": value, "fixed": "Yes" if value else "No"})
        ]
    if cell.kind == "n" and cell.is_date_format and isinstance(value, int | float):
        # The day the team sees, even outside the years a form takes: the range check
        # then names it as shown (01/01/1980), never as a serial number they did not type.
        return _excel_day(value, date1904) or value, []
    if cell.kind == "e":
        return str(value), []
    return value, []


def _serial(value: float, date1904: bool) -> tuple[Any, list[Note]]:
    """A date typed where Excel kept only its serial number (no date format)."""
    day = _day(value, date1904)
    if day is None:
        return value, []  # not plausibly a date: validation will say so
    return day, [
        Note(
            Code.NORMALISE_DATE_SERIAL, {"value": _plain(float(value)), "fixed": f"{day:%d/%m/%Y}"}
        )
    ]


@functools.lru_cache(maxsize=4096)
def _day(value: float, date1904: bool) -> dt.date | None:
    # Cached: the same few hundred dates recur across thousands of returns.
    day = _excel_day(value, date1904)
    return day if day is not None and FIRST_DAY <= day <= LAST_DAY else None


def _excel_day(value: float, date1904: bool) -> dt.date | None:
    """The day an Excel serial number stands for, in the workbook's date system."""
    try:
        epoch = CALENDAR_MAC_1904 if date1904 else CALENDAR_WINDOWS_1900
        moment: dt.datetime = from_excel(value, epoch)  # openpyxl's stub says Any
        return moment.date()
    except (ValueError, OverflowError, TypeError):
        return None


@functools.lru_cache(maxsize=4096)
def _iso(text: str) -> Any:
    # Cached: the same few hundred dates recur across thousands of returns.
    try:
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        return text


def _clean_text(value: str) -> tuple[str | None, list[Note]]:
    notes: list[Note] = []
    if not value.isprintable() and _CONTROL.search(value):  # isprintable: a fast "no"
        value = _CONTROL.sub("", value)
        notes.append(Note(Code.ANSWER_CONTROL_CHARS, {}))
    if len(value) > EXCEL_CELL_LIMIT:
        notes.append(Note(Code.ANSWER_EXCEL_LIMIT, {"length": len(value)}))
    stripped = value.strip()
    if stripped != value and stripped:
        notes.append(Note(Code.NORMALISE_TRIMMED, {}))
    if " ".join(stripped.split()).casefold() in NOT_APPLICABLE:
        return None, [*notes, Note(Code.NORMALISE_NOT_APPLICABLE, {"value": stripped})]
    return (stripped or None), notes


def _choice(field: Field, value: Any) -> tuple[Any, list[Note]]:
    text = " ".join(str(value).split())
    if text in field.choices:  # a line break or a double space inside is said, as all tidying
        return text, (
            [] if text == value else [Note(Code.NORMALISE_CASE, {"value": value, "fixed": text})]
        )
    by_fold = {c.casefold(): c for c in field.choices}
    fixed = by_fold.get(text.casefold())
    if fixed is None and set(field.choices) == {"Yes", "No"}:
        fixed = {"y": "Yes", "n": "No"}.get(text.casefold())
    if fixed is None:
        return text, []
    return fixed, [Note(Code.NORMALISE_CASE, {"value": value, "fixed": fixed})]


def _number(field: Field, value: Any) -> tuple[Any, list[Note]]:
    notes: list[Note] = []
    if isinstance(value, str):
        cleaned = re.sub(r"[£,\s]", "", value)
        if not (_WHOLE if field.kind == "integer" else _DECIMAL).fullmatch(cleaned):
            return value, []
        number: float = float(cleaned)
        notes.append(Note(Code.NORMALISE_NUMBER_TEXT, {"value": value, "fixed": _plain(number)}))
        value = number
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.date):
        return value.isoformat(), []
    return value, notes


def _plain(number: float) -> str:
    return str(int(number)) if number.is_integer() else str(number)


def _date(field: Field, value: Any) -> tuple[Any, list[Note]]:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return _in_range(value, f"{value:%d/%m/%Y}", [])
    if isinstance(value, str):
        day = _date_text(value.strip())
        if day is None:
            return value, []  # not a date: validation will say so
        notes = []
        if value.strip() != day.isoformat():
            notes = [Note(Code.NORMALISE_DATE_TEXT, {"value": value, "fixed": f"{day:%d/%m/%Y}"})]
        return _in_range(day, value, notes)
    return _plain(value) if isinstance(value, float) else value, []  # a bare number: invalid


def _in_range(day: dt.date, shown: str, notes: list[Note]) -> tuple[Any, list[Note]]:
    if FIRST_DAY <= day <= LAST_DAY:
        return day.isoformat(), notes
    return None, [Note(Code.ANSWER_DATE_RANGE, {"value": shown})]


def _date_text(text: str) -> dt.date | None:
    """A date typed as text, day first or year first; None if it is not one."""
    if m := _DAY_FIRST.fullmatch(text):
        day, month, year = map(int, m.groups())
        if len(m.group(3)) == 2:  # as strptime's %y: 69-99 are 1900s, 00-68 are 2000s
            year += 1900 if year >= 69 else 2000
    elif m := _YEAR_FIRST.fullmatch(text):
        year, month, day = map(int, m.groups())
    else:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _text(field: Field, value: Any) -> tuple[Any, list[Note]]:
    if isinstance(value, dt.date):
        return value.isoformat(), []
    if isinstance(value, float):
        return _plain(value), []
    return (value if isinstance(value, str) else str(value)), []


def _privacy(value: str) -> list[Note]:
    if "@" in value:
        found = dict.fromkeys(m.lastgroup for m in _PERSONAL.finditer(value) if m.lastgroup)
    else:  # no email, and phone and date-of-birth matches cannot overlap: search apart
        found = {}
        # A phone number starts "0" or "+44" and has at least 9 digits.
        if (
            ("0" in value or "+44" in value)
            and len(_NOT_DIGIT.sub("", value)) >= 9
            and _PHONE.search(value)
        ):
            found["phone"] = None
        if _dob_hint(value.casefold()) and _DOB.search(value):
            found["dob"] = None
        if not found:
            return []  # most text
    return [
        Note(Code.PRIVACY_PERSONAL_DATA, {"what": _PERSONAL_WORDS[k]})
        for k in _PERSONAL_WORDS
        if k in found
    ]


def _dob_hint(folded: str) -> bool:
    # Every spelling _DOB finds (dob, d.o.b, d.ob, do.b, date of birth, born) holds one of
    # these: five substring tests in C, a fraction of the cost of the regular expression.
    return any(
        ("dob" in folded, "d.o" in folded, "do." in folded, "birth" in folded, "born" in folded)
    )


_CONVERTERS = {"choice": _choice, "integer": _number, "number": _number, "date": _date}
