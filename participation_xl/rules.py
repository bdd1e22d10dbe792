"""Rules that relate one answer to another, declared in the pack as data.

A form's layout lists its rules (`[[rules]]` with a catalogue `code`, the `field` the
problem is shown on and, for a comparison, the `other` field). Each code means one check,
defined here once in two forms that must agree: `holds`, which `collect` evaluates on the
normalised answers, and `formula`, from which the workbook's live check is compiled.
Severity and wording come from the message catalogue, like every other problem.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .messages import Code

Value = int | float | dt.date


@dataclass(frozen=True)
class Check:
    """One kind of rule: which kinds of field it compares, and how, in Python and Excel."""

    kinds: frozenset[str]
    compares: bool  # True: the field against `other`; False: the field against today
    # Both values are of one of `kinds` (two numbers or two dates), which a Callable's
    # type cannot say of a union: Any, so that `a <= b` type-checks.
    holds: Callable[[Any, Any], bool]
    formula: Callable[[str, str], str]  # Excel: TRUE where the rule is broken
    example: Callable[[Any, random.Random], Value]  # a value that holds against `b`


def _at_most(b: float, rng: random.Random) -> Value:
    return rng.randint(0, int(b)) if isinstance(b, int) else rng.uniform(0, b)


def _up_to(b: dt.date, rng: random.Random) -> Value:
    return b - dt.timedelta(days=rng.randint(0, 200))


def _later(b: dt.date, rng: random.Random) -> Value:
    return b + dt.timedelta(days=rng.randint(1, 365))


_NUMBERS = frozenset({"integer", "number"})
_DATES = frozenset({"date"})

CHECKS: dict[str, Check] = {
    # the field can be no more than the other (trained staff <= total staff)
    Code.RULE_MORE_THAN: Check(
        _NUMBERS, True, lambda a, b: a <= b, lambda a, b: f"{a}>{b}", _at_most
    ),
    # a date that has happened cannot be after today (today: the collect date, live TODAY())
    Code.RULE_IN_FUTURE: Check(_DATES, False, lambda a, b: a <= b, lambda a, b: f"{a}>{b}", _up_to),
    # a later date must be after the earlier one (a contract ends after it starts)
    Code.RULE_NOT_AFTER: Check(_DATES, True, lambda a, b: a > b, lambda a, b: f"{a}<={b}", _later),
    Code.RULE_NOT_AFTER_QUERY: Check(
        _DATES, True, lambda a, b: a > b, lambda a, b: f"{a}<={b}", _later
    ),
}

TODAY_FORMULA = "TODAY()"


def shown(value: Any) -> str:
    """A value as a message shows it: dates day first, whole numbers without '.0'."""
    if isinstance(value, dt.date):
        return f"{value:%d/%m/%Y}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def comparable(kind: str, value: Any) -> Value | None:
    """The normalised answer as a value a rule compares, or None if it is not one."""
    if kind in _NUMBERS:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return value if ok else None
    if kind in _DATES and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None
