"""Two cycles end to end, through the command line as a coordinator types it: issue, fill,
collect; a new cycle; generate, fill, collect; then the compliance Trend shows both cycles
with the returns behind each figure, and a cross-year query is raised on the service whose
standard fell and on the team whose "You Said, We Did" log emptied."""

from __future__ import annotations

import json
import random
from pathlib import Path

import openpyxl
from click.testing import CliRunner

from participation_xl.cli import main
from participation_xl.pack import META_SHEET
from participation_xl.sample import fill_workbook, sample_answers

FIRST, SECOND = "2026-27", "2027-28"


def run(ws: Path, *args: str) -> str:
    result = CliRunner().invoke(main, [args[0], "-w", str(ws), *args[1:]])
    assert result.exit_code == 0, result.output
    return result.output


def start_next_cycle(ws: Path, cycle: str, due: str) -> None:
    """The second cycle's start, as a coordinator starts it: `new-cycle`."""
    run(ws, "new-cycle", cycle, "--due", due)


def issued(ws: Path, cycle: str) -> dict[tuple[str, str], Path]:
    """Every workbook in the outbox issued for `cycle`, by (team, form), from its identity."""
    out = {}
    for path in sorted((ws / "outbox").rglob("*.xlsx")):
        wb = openpyxl.load_workbook(path, read_only=True)
        meta = {r[0]: r[1] for r in wb[META_SHEET].iter_rows(values_only=True) if r[0]}
        wb.close()
        if meta.get("cycle") == cycle:
            out[(str(meta["team_id"]), str(meta["form"]))] = path
    return out


def fill_all(ws: Path, cycle: str, change=None) -> int:
    """Fill every issued workbook with valid answers (`change` edits a team's answers)
    and put it in the returns folder, one folder per cycle; how many were returned."""
    from participation_xl import load_pack

    pack = load_pack()
    books = issued(ws, cycle)
    for n, ((team, form_id), path) in enumerate(sorted(books.items())):
        form = pack.forms[form_id]
        answers = sample_answers(form, random.Random(n), rows=2)
        if change:
            change(team, form_id, answers)
        target = ws / "returns" / cycle / f"{team}-{form_id}.xlsx"
        target.parent.mkdir(parents=True, exist_ok=True)
        fill_workbook(path, target, answers, form)
    return len(books)


def all_met(team: str, form: str, answers: dict) -> None:
    for row in (answers.get("standards") or {}).values():
        row["rating"] = "Met"


def test_two_cycles_end_to_end(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    CliRunner().invoke(main, ["init", str(ws), "--council", "Lundy", "--cycle", FIRST,
                              "--due", "31/03/2027"])  # fmt: skip
    run(ws, "generate")
    first = fill_all(ws, FIRST, all_met)
    run(ws, "collect")

    start_next_cycle(ws, SECOND, "31/03/2028")
    run(ws, "generate")
    books = issued(ws, SECOND)
    reviewed = sorted(t for t, f in books if f == "six-standards")
    fell, emptied = reviewed[0], sorted(t for t, _ in books)[0]

    def this_year(team: str, form: str, answers: dict) -> None:
        all_met(team, form, answers)
        if team == fell and form == "six-standards":
            answers["standards"]["budget"]["rating"] = "Not met"
            answers["standards"]["budget"]["action"] = "Agree a budget line with finance."
            answers["standards"]["budget"]["owner"] = "Service manager"
        if team == emptied and form == "audit":
            answers["you_said_we_did"] = []

    second = fill_all(ws, SECOND, this_year)
    run(ws, "collect")

    status = json.loads(run(ws, "status", "--json"))
    codes = {(t["team_id"], t["form"]): {i["code"] for i in t["issues"]} for t in status["teams"]}
    assert "year.fell" in codes[(fell, "six-standards")]
    assert "year.emptied" in codes[(emptied, "audit")]
    raised = [k for k, c in codes.items() if c & {"year.fell", "year.emptied"}]
    assert sorted(raised) == sorted({(fell, "six-standards"), (emptied, "audit")})
    issue = next(i for t in status["teams"] for i in t["issues"] if i["code"] == "year.fell")
    assert issue["severity"] == "query" and issue["sheet"] and issue["cell"]
    assert FIRST in issue["message"] and "Not met" in issue["message"]

    # The team explains it like any other query, on its feedback workbook.
    feedback = openpyxl.load_workbook(ws / "reports" / "feedback" / f"{fell}-six-standards.xlsx")
    assert any(n.startswith("explain.year.fell.") for n in feedback.defined_names)

    trend = _sheet_rows(ws / "reports" / "compliance.xlsx", "Trend")
    head = trend.index(next(r for r in trend if r[0] == "Measure"))
    rows = {r[0]: dict(zip(trend[head], r, strict=True)) for r in trend[head + 1 :] if r[0]}
    audits = sum(f == "audit" for _, f in books)
    received = next(r for m, r in rows.items() if m.endswith("returns received"))
    assert (received[FIRST], received[f"Returns behind it ({FIRST})"]) == (audits, audits)
    assert received[f"{SECOND} so far"] == received[f"Returns behind it ({SECOND})"] == audits
    assert first == second
    budget = next(r for m, r in rows.items() if m.startswith("Standard 6: share Met"))
    assert budget[FIRST] == 1 and budget[f"Returns behind it ({SECOND})"] == len(reviewed)
    assert budget[f"Change since {FIRST}"] < 0  # one service of the reviews fell


def _sheet_rows(path: Path, sheet: str) -> list[tuple]:
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = [tuple(r) for r in wb[sheet].iter_rows(values_only=True)]
    wb.close()
    return rows
