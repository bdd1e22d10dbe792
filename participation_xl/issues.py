"""One issue with a return, from the stage that finds it to the edge that shows it.

An Issue is data: its catalogue code, its place in the workbook, the field path in the
document, the question in words, the values its message names, and the file. Severity and
the plain-English message come from the catalogue when asked for, so what collect
records, the register stores, and status, the reports, the feedback and the emails show
are one thing said one way. Issues are made in reader workers and sent back pickled, so
the type is small (slots) and renders nothing until an edge needs the words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .messages import CATALOGUE, Code, Severity, render
from .place import Place

# Every value a template may name: "" where an issue does not give it.
DEFAULTS = dict.fromkeys(
    (
        "value",
        "options",
        "limit",
        "length",
        "detail",
        "hint",
        "other",
        "fixed",
        "formula",
        "what",
        "today",
    ),
    "",
)
_WHOLE_RETURN = Place()  # no sheet, no cell: the issue is about the whole return


@dataclass(frozen=True, slots=True)
class Issue:
    """A problem or query found in one return (or one row of a coordinator's file)."""

    code: Code
    place: Place = _WHOLE_RETURN  # the sheet and cell the issue is about
    path: str = ""  # the document path ('standards.budget.rating'), '' for the whole return
    label: str = ""  # the question in words, as the message names it
    values: Mapping[str, object] = field(default_factory=dict)  # what the template names
    file: str = ""
    # The message as recorded by a version that kept only its words (a register made
    # before issues were rows, or a rejected file's reason): '' renders from the catalogue.
    text: str = ""

    @property
    def severity(self) -> Severity:
        return CATALOGUE[self.code].severity

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def sheet(self) -> str:
        return self.place.sheet

    @property
    def cell(self) -> str:
        return self.place.cell

    @property
    def message(self) -> str:
        """The plain-English message. One about an answer names its question (which
        promise, standard or table row) exactly once: in the template, or before it."""
        if self.text:
            return self.text
        text = render(self.code, **{**DEFAULTS, "label": self.label, **self.values})
        if self.label and self.place.sheet and "{label}" not in CATALOGUE[self.code].template:
            text = f"'{self.label}': {text}"
        return text

    def in_file(self, file: str) -> Issue:
        """The same issue, named as found in `file`."""
        return Issue(self.code, self.place, self.path, self.label, self.values, file, self.text)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Sent back from every reader worker: as one flat tuple of plain values, which
        # pickles several times faster than the dataclasses and the enum member.
        at = self.place
        flat = (str(self.code), at.sheet, at.row, at.col, at.table_row, self.path)
        return _unpickle, (*flat, self.label, self.values, self.file, self.text)

    def as_json(self) -> dict[str, Any]:
        """The shape `status --json` and `validate --json` give an issue."""
        return {
            "code": str(self.code),
            "severity": self.severity.value,
            "file": self.file,
            "sheet": self.place.sheet,
            "cell": self.place.cell,
            "field": self.label,
            "message": self.message,
        }


_CODES = Code._value2member_map_


def _unpickle(
    code: str,
    sheet: str,
    row: int,
    col: int,
    table_row: int,
    path: str,
    label: str,
    values: Mapping[str, object],
    file: str,
    text: str,
) -> Issue:
    return Issue(_CODES[code], Place(sheet, row, col, table_row), path, label, values, file, text)  # type: ignore[arg-type]


def issue(
    code: Code,
    file: str,
    sheet: str = "",
    cell: str = "",
    label: str = "",
    *,
    field_path: str = "",
    table_row: int = 0,
    **values: Any,
) -> Issue:
    """An issue at a sheet and cell named as text ('B8'); '' for the whole sheet or file."""
    place = (Place.at(sheet, cell, table_row) if cell else None) or Place(sheet, 0, 0, table_row)
    return Issue(Code(code), place, field_path, label, values, file)


def errors(issues: list[Issue]) -> int:
    return sum(1 for i in issues if i.is_error)


__all__ = ["Issue", "errors", "issue"]
