"""Markdown tables as test cases, in the manner of pyxform's tests.

A stage's specification is easiest to check when each case is one row of a table: what
goes in, what must come out. `rows(text)` reads a markdown table from a string:

    | field              | typed   | value | codes                 |
    |--------------------|---------|-------|-----------------------|
    | about.youngest_age | "12"    | 12    | normalise.number_text |
    | about.role         |         |       |                       |

- the first line is the header; a `|---|` line under it is optional; blank lines and
  lines starting with `#` (a comment, say which part of the README a group of rows is
  about) are skipped;
- write the table in a raw string (r"..." with three quotes), so that `\\n` reaches the table as
  written and stays inside its cell;
- every cell is stripped; write a literal `|` inside a cell as `\\|`;
- `rows` gives each row as a dict of header -> the cell's text. Turn a cell into a value
  with the helpers below, so that every table writes values the same way.

How a cell is read by `value` (the same in every table):

    (blank)     None: nothing, no value
    ""          the empty string
    "  a\\nb "   a string exactly as written between the quotes (escapes: \\n \\t \\" \\u0007)
    "ab" * 26   a long string, spelt out: string literals joined with + and repeated with *
    12, -3.5    a number (int or float): a bare cell that reads as a number
    TRUE, FALSE a boolean
    anything    else the text as written (trimmed): Yes, 31/02/2027, #N/A

and by `codes`: catalogue codes separated by commas or spaces; blank means no code. Every
code is checked against the message catalogue, so a typo fails the test that uses it.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest

from participation_xl.messages import CATALOGUE

_PIPE = re.compile(r"(?<!\\)\|")
_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def rows(text: str) -> list[dict[str, str]]:
    """The rows of the markdown table in `text`, each a dict of header -> cell text."""
    lines = [ln.strip() for ln in text.strip().splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise ValueError("a table needs at least a header row")
    header = _cells(lines[0])
    if len(set(header)) != len(header) or "" in header:
        raise ValueError(f"a table's headers must be distinct and named: {header}")
    out = []
    for line in lines[1:]:
        if _RULE.match(line):
            continue
        cells = _cells(line)
        if len(cells) != len(header):
            raise ValueError(f"{len(cells)} cells under {len(header)} headers: {line}")
        out.append(dict(zip(header, cells, strict=True)))
    if not out:
        raise ValueError("a table needs at least one row under its header")
    return out


def _cells(line: str) -> list[str]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [c.strip().replace("\\|", "|") for c in _PIPE.split(inner)]


def value(text: str) -> Any:
    """A cell as a value: blank is None, "quoted" is a string, a bare number is a number."""
    if text == "":
        return None
    if text.startswith('"'):
        return _string(ast.parse(text, mode="eval").body)
    if text in ("TRUE", "FALSE"):
        return text == "TRUE"
    if _NUMBER.fullmatch(text):
        return float(text) if "." in text else int(text)
    return text


def _string(node: ast.expr) -> Any:
    """A string expression: literals, + and * only (never evaluated as code)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str | int):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
        left, right = _string(node.left), _string(node.right)
        return left + right if isinstance(node.op, ast.Add) else left * right
    raise ValueError(f"not a string expression: {ast.unparse(node)}")


def codes(text: str) -> list[str]:
    """A cell as a sorted list of catalogue codes (blank: none)."""
    found = sorted(c for c in re.split(r"[,\s]+", text) if c)
    unknown = [c for c in found if c not in CATALOGUE]
    if unknown:
        raise ValueError(f"not codes of the message catalogue: {unknown}")
    return found


def params(text: str, *columns: str) -> list[Any]:
    """The table's rows for pytest.mark.parametrize, each with an id naming the case.

    The id is the row's `case` column when it has one, else its cells joined; `columns`,
    if given, checks the header is exactly these (a table and its test agree)."""

    table = rows(text)
    if columns and tuple(table[0]) != columns:
        raise ValueError(f"the table's headers {tuple(table[0])} are not {columns}")
    return [
        pytest.param(row, id=row.get("case") or " | ".join(v for v in row.values() if v))
        for row in table
    ]


def same(actual: Any, expected: Any) -> bool:
    """Equal and of the same type: 12 is not "12", and 12 is not 12.0 or True."""
    return type(actual) is type(expected) and actual == expected
