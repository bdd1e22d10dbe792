"""Pre-fill: a team's answers of the previous cycle, carried into this cycle's workbook.

Only answers to questions that still exist (the same field path in this cycle's form)
are carried, and only what the pack lets carry: a field, section or table marked
`"x-carry": false` in its schema belongs to one year (a date completed, a sign-off, a
log of the year's events) and starts blank. A table marked `"x-carry-from": "<table>"`
is filled from that table of last year's return, column by column of the same key (last
year's action plan becoming this year's "what happened" list).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .counting import value_at
from .pack import Form, Table
from .register import Register
from .workspace import Workspace, register_path

Answers = dict[str, Any]


def previous_returns(ws: Workspace) -> tuple[str, dict[tuple[str, str], Mapping[str, Any]]]:
    """The latest cycle before this one that the register holds, and each team's current
    return of it, by (team id, form id). ("", {}) in a first cycle."""
    with Register.read_only(register_path(ws)) as reg:
        earlier = [c for c in reg.cycles() if c < ws.cycle]
        if not earlier:
            return "", {}
        cycle = earlier[-1]
        docs: dict[tuple[str, str], Mapping[str, Any]] = {
            (s.team_id, s.form): s.document for s in reg.submissions(cycle=cycle)
        }
    return cycle, docs


def carried(form: Form, previous: Mapping[str, Any] | None) -> Answers:
    """The answers to pre-fill `form` with, from last cycle's return (nested like a return
    document; empty when there is none)."""
    if not previous:
        return {}
    out: Answers = {}
    for i in form.inputs:
        value = value_at(previous, i.field.path)
        if i.field.carry and not _blank(value):
            _put(out, i.field.path, value)
    for t in form.tables:
        rows = _carried_rows(t, previous)
        if rows:
            out[t.path] = rows
    return out


def count(answers: Mapping[str, Any]) -> int:
    """How many answers a pre-fill carries (each table cell counts as one)."""
    n = 0
    for value in answers.values():
        if isinstance(value, Mapping):
            n += count(value)
        elif isinstance(value, list):
            n += sum(count(row) for row in value if isinstance(row, Mapping))
        else:
            n += 1
    return n


def _carried_rows(t: Table, previous: Mapping[str, Any]) -> list[Answers]:
    if not t.carry:
        return []
    source = previous.get(t.carry_from or t.path)
    if not isinstance(source, list):
        return []
    rows: list[Answers] = []
    for item in source:
        if not isinstance(item, Mapping):
            continue
        row = {c.key: item[c.key] for c in t.columns if c.carry and not _blank(item.get(c.key))}
        if row:
            rows.append(row)
    return rows[: t.last_row - t.first_row + 1]


def _put(doc: Answers, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    doc[last] = value


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []
