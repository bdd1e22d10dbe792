"""The counting rule every figure in the reports follows, in one place.

Each expected return (a team and a form) counts exactly once, in one of three places:

- a **counted** return: accepted and valid; only these count in rating columns;
- **Invalid return**: accepted, but with errors to fix;
- **No return**: nothing received, or only files that were rejected.

So for any rated answer, the rating columns + "Invalid return" + "No return" = the returns
expected, and percentages are of the returns expected. An answer that is not on its scale
is never counted or shown as a rating: it is an invalid answer (the return is invalid, and
the reason is on the Issues sheet).

The Overview, Dashboard, Matrix, heat map and every breakdown by area call `outcome` and
`answer_word`; a later rule (for example "a return must be approved to count") changes
`outcome` alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .status import Expected

COUNTED = "Valid"
INVALID_RETURN = "Invalid return"
NO_RETURN = "No return"
INVALID_ANSWER = "Invalid answer"  # shown in a Matrix cell; counted as INVALID_RETURN
OUTCOMES = (COUNTED, INVALID_RETURN, NO_RETURN)

RULE = (
    "Counting rule: each expected return counts once. Only valid returns count in the "
    "rating columns; a return with errors counts as 'Invalid return'; no return, or only "
    "a rejected file, counts as 'No return'. Ratings + Invalid return + No return = "
    "expected; percentages are of the number expected."
)
APPROVAL_NEEDED = (
    " A valid return counts only once the coordinator has approved it ([review] "
    "require_approval = true in participation.toml); until then it counts as 'No return'."
)
APPROVAL_NOT_NEEDED = (
    " A valid return counts without the coordinator's approval ([review] "
    "require_approval = false in participation.toml)."
)


def rule(require_approval: bool = False) -> str:
    """The counting rule as written on each sheet that counts, with the review setting."""
    return RULE + (APPROVAL_NEEDED if require_approval else APPROVAL_NOT_NEEDED)


def outcome(e: Expected) -> str:
    """Where one expected return counts: COUNTED, INVALID_RETURN or NO_RETURN."""
    if e.current is None:  # missing, or every file the team sent was rejected
        return NO_RETURN
    if not e.current.valid:
        return INVALID_RETURN
    return COUNTED if e.counts else NO_RETURN  # not yet approved, when approval is needed


def value_at(doc: Any, path: str) -> Any:
    """The value at a dotted path of a document, or None (the one walk every stage uses)."""
    for part in path.split("."):
        doc = doc.get(part) if isinstance(doc, Mapping) else None
    return doc


def shown_answer(e: Expected, path: str, scale: Sequence[str]) -> str:
    """What a Matrix cell shows for one rated answer: the rating of a counted return, or
    why it is not counted. An answer off the scale is never shown as a rating."""
    kind = outcome(e)
    if kind == NO_RETURN:
        return NO_RETURN
    assert e.current is not None
    value = value_at(e.current.document, path)
    if value not in scale:
        return INVALID_ANSWER
    return value if kind == COUNTED else INVALID_RETURN


def answer_word(e: Expected, path: str, scale: Sequence[str]) -> str:
    """The column one rated answer counts in: a scale word, INVALID_RETURN or NO_RETURN."""
    word = shown_answer(e, path, scale)
    return INVALID_RETURN if word == INVALID_ANSWER else word


def columns(scale: Sequence[str]) -> tuple[str, ...]:
    """The count columns of a rated answer, in order; they add up to the number expected."""
    return (*scale, INVALID_RETURN, NO_RETURN)


def tally(words: Iterable[str], scale: Sequence[str]) -> list[int]:
    """How many of `words` fall in each of `columns(scale)`."""
    counts = Counter(words)
    return [counts[w] for w in columns(scale)]


def percentages(counts: Sequence[int]) -> list[float]:
    """Shares of the total, rounded to whole percent so that they add to exactly 100%
    (largest remainder); all 0 when the total is 0."""
    total = sum(counts)
    if not total:
        return [0.0] * len(counts)
    exact = [100 * n / total for n in counts]
    whole = [int(x) for x in exact]
    short = 100 - sum(whole)
    by_remainder = sorted(range(len(counts)), key=lambda k: (whole[k] - exact[k], k))
    for k in by_remainder[:short]:
        whole[k] += 1
    return [w / 100 for w in whole]
