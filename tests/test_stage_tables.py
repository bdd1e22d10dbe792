"""The table reader the stage specifications are written with (tests/tables.py).

To add a case, add a row to CELLS (how one cell is read) or a test for a table's shape.
"""

from __future__ import annotations

import pytest
import tables

CELLS = r"""
| case                   | cell       | value            |
|------------------------|------------|------------------|
| a blank cell is None   |            |                  |
| "" is the empty string | ""         | ""               |
| quotes keep spaces     | "  a "     | "  a "           |
| an escaped line break  | "a\nb"     | "a" + "\n" + "b" |
| a repeated string      | "ab" * 3   | "ababab"         |
| a whole number         | 12         | 12               |
| a negative decimal     | -3.5       | -3.5             |
| TRUE is a boolean      | TRUE       | TRUE             |
| other text as written  | 31/02/2027 | "31/02/2027"     |
| an escaped pipe        | a \| b     | "a \| b"         |
"""


@pytest.mark.parametrize("row", tables.params(CELLS, "case", "cell", "value"))
def test_cell_values(row):
    assert tables.same(tables.value(row["cell"]), tables.value(row["value"]))


def test_cell_types_are_told_apart():
    assert [type(tables.value(t)) for t in ("12", '"12"', "12.0", "TRUE", "")] == [
        int,
        str,
        float,
        bool,
        type(None),
    ]


def test_a_table_without_its_rule_line_and_with_comments():
    text = """
    | a | b |
    # a comment about the rows below
    | 1 |   |
    """
    assert tables.rows(text) == [{"a": "1", "b": ""}]


def test_codes_are_sorted_and_checked_against_the_catalogue():
    assert tables.codes("normalise.trimmed, normalise.case") == [
        "normalise.case",
        "normalise.trimmed",
    ]
    assert tables.codes("") == []
    with pytest.raises(ValueError, match="not codes"):
        tables.codes("normalise.tidied")


@pytest.mark.parametrize(
    "text",
    [
        "| a | b |\n| 1 |",  # a row short of a cell
        "| a | a |\n| 1 | 2 |",  # two columns of one name
        "| a |",  # no rows
        '| a |\n| "a" + __import__("os").name |',  # never code: only string literals, + and *
    ],
)
def test_a_malformed_table_is_refused(text):
    with pytest.raises(ValueError):
        [tables.value(cell) for row in tables.rows(text) for cell in row.values()]
