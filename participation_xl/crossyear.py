"""Cross-year queries: a return against the same team's return of the previous cycle.

Which comparisons a form has is pack data (`[[cross_year]]` in its layout, parsed and
checked by pack.py). `collect` raises them in the coordinator's process, as it records
each accepted return: the previous cycle is the latest earlier cycle present in the
register, and its current documents are read once per run with one query, only for the
forms that declare cross-year queries (a pack or a cycle without them costs nothing).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .issues import Issue
from .messages import Code
from .pack import CrossYear, Form, Pack
from .place import Place
from .register import Register


class Previous:
    """The previous cycle's current returns of the forms with cross-year queries, read
    from the register when first asked for, once per cycle."""

    def __init__(self, reg: Register, pack: Pack) -> None:
        self.reg, self.pack = reg, pack
        self.forms = {f.id: f for f in pack.forms.values() if f.cross_year}
        # cycle -> (the previous cycle, (team, form) -> its current document)
        self._of: dict[str, tuple[str, dict[tuple[str, str], Any]]] = {}

    def issues(self, identity: dict[str, str], doc: dict[str, Any], known: Iterable[Issue],
               file: str) -> list[Issue]:  # fmt: skip
        """The cross-year queries a return raises, none where its answer already has an
        error of its own (that is what the team must fix first)."""
        form = self.forms.get(identity.get("form", ""))
        if form is None:
            return []
        before, docs = self._cycle_before(identity.get("cycle", ""))
        old = docs.get((identity.get("team_id", ""), form.id))
        if not isinstance(old, dict):
            return []
        wrong = {i.path for i in known if i.is_error}
        out: list[Issue] = []
        for query in form.cross_year:
            out.extend(_raised(self.pack, form, query, doc, old, before, file, wrong))
        return out

    def _cycle_before(self, cycle: str) -> tuple[str, dict[tuple[str, str], Any]]:
        if cycle not in self._of:
            self._of[cycle] = self._load(cycle)
        return self._of[cycle]

    def _load(self, cycle: str) -> tuple[str, dict[tuple[str, str], Any]]:
        row = self.reg.db.execute(
            "SELECT MAX(cycle) FROM submissions WHERE cycle < ?", (cycle,)
        ).fetchone()
        before = row[0] if row and row[0] else ""
        if not before or not self.forms:
            return before, {}
        marks = ", ".join("?" * len(self.forms))
        rows = self.reg.db.execute(
            "SELECT team_id, form, document FROM submissions "  # noqa: S608 (marks only)
            f"WHERE cycle = ? AND current = 1 AND form IN ({marks})",
            (before, *self.forms),
        )
        return before, {(r[0], r[1]): json.loads(r[2]) for r in rows}


def _raised(
    pack: Pack,
    form: Form,
    query: CrossYear,
    doc: dict[str, Any],
    old: dict[str, Any],
    before: str,
    file: str,
    wrong: set[str],
) -> list[Issue]:
    if query.kind == "fell":
        return _fell(pack, form, query, doc, old, before, file, wrong)
    return _emptied(form, query, doc, old, before, file)


def _fell(
    pack: Pack,
    form: Form,
    query: CrossYear,
    doc: dict[str, Any],
    old: dict[str, Any],
    before: str,
    file: str,
    wrong: set[str],
) -> list[Issue]:
    """Each rated answer lower on the [report.ratings] scale than last cycle's (an
    answer off the scale, this year or last, is never a rating: no query)."""
    ratings = pack.report.ratings
    if ratings is None:
        return []
    rank = dict.fromkeys(ratings.not_met, 0) | dict.fromkeys(ratings.partly_met, 1)
    rank |= dict.fromkeys(ratings.met, 2)
    out = []
    for path in query.paths:
        now, was = _at(doc, path), _at(old, path)
        if path in wrong or now not in rank or was not in rank or rank[now] >= rank[was]:
            continue
        i = form.input_of(path)
        place = Place(i.sheet, i.row, i.col) if i else Place()
        label = i.name if i else path
        values = {"value": now, "before": was, "cycle": before}
        out.append(Issue(Code(query.code), place, path, label, values, file))
    return out


def _emptied(
    form: Form,
    query: CrossYear,
    doc: dict[str, Any],
    old: dict[str, Any],
    before: str,
    file: str,
) -> list[Issue]:
    """A table with no rows this cycle after one with some (pointing at its first cell).
    Raised even beside a table's own error (too few rows): the query says what changed."""
    now, was = _at(doc, query.table), _at(old, query.table)
    if now or not isinstance(was, list) or not was:
        return []
    table = next(t for t in form.tables if t.path == query.table)
    place = Place(table.sheet, table.first_row, table.first_col)
    values = {"count": len(was), "cycle": before}
    return [Issue(Code(query.code), place, query.table, table.title, values, file)]


def _at(doc: Any, path: str) -> Any:
    for part in path.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc
