"""Export the current submissions as schema-valid JSON documents, or as a flat CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from .issued import as_now
from .register import Register, Submission
from .roster import Team
from .workspace import Workspace

# OWASP CSV injection: a cell starting with one of these is run as a formula by spreadsheets.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
META_COLUMNS = (
    "team_id",
    "team_name",
    "service_area",
    "kind",
    "form",
    "form_version",
    "cycle",
    "status",
    "file",
    "sha256",
    "received_at",
)


def submissions(ws: Workspace, reg: Register, include_invalid: bool = False) -> list[Submission]:
    """The current submission of every team and form; valid ones only unless asked."""
    found = [s for s in reg.submissions(ws.cycle) if s.valid or include_invalid]
    return as_now(ws.pack, found)  # an earlier form version's answers under today's paths


def write_jsonl(subs: Iterable[Submission], out: TextIO) -> int:
    """One document per line, exactly as validated against its form's schema."""
    n = 0
    for s in subs:
        out.write(json.dumps(s.document, ensure_ascii=False, sort_keys=False) + "\n")
        n += 1
    return n


def flatten(doc: Any, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}, 't': [{'x': 2}]} -> {'a.b': 1, 't[1].x': 2}."""
    if isinstance(doc, dict):
        out: dict[str, Any] = {}
        for k, v in doc.items():
            out |= flatten(v, f"{prefix}.{k}" if prefix else k)
        return out
    if isinstance(doc, list):
        out = {}
        for i, v in enumerate(doc, 1):
            out |= flatten(v, f"{prefix}[{i}]")
        return out
    return {prefix: doc}


def neutralise(value: Any) -> Any:
    """Prefix text that a spreadsheet would run as a formula with an apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_csv(
    subs: Iterable[Submission], out: TextIO, teams: Mapping[str, Team] | None = None
) -> int:
    """One row per team and form, answers flattened to columns, formulas neutralised.
    The team's name, service area and kind come from the roster (`teams`, by team id);
    blank for a team no longer on it."""
    rows = []
    columns: dict[str, None] = {}
    teams = teams or {}
    for s in subs:
        team = teams.get(s.team_id)
        row = {
            "team_id": s.team_id,
            "team_name": team.team_name if team else "",
            "service_area": team.service_area if team else "",
            "kind": team.kind if team else "",
            "form": s.form,
            "form_version": s.form_version,
            "cycle": s.cycle,
            "status": "valid" if s.valid else "invalid",
            "file": s.file_name,
            "sha256": s.sha256,
            "received_at": s.received_at,
        }
        answers = {k: v for k, v in flatten(s.document).items() if k not in row}
        columns |= dict.fromkeys(answers)
        rows.append(row | answers)
    writer = csv.DictWriter(out, [*META_COLUMNS, *columns], extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: neutralise(v) for k, v in row.items()})
    return len(rows)
