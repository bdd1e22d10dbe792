"""Property: every figure on the Dashboard, the Matrix and the Overview equals a recount.

Random registers hold valid, invalid (some with an answer off the scale), missing,
rejected, late and resubmitted returns. The recount reads only what a script outside the
tool would read: `export --format jsonl --all`, `status --json`, the roster it wrote and the
JSON Schemas. It shares no code with report.py or counting.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import openpyxl
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from participation_xl import init_workspace, load_workspace
from participation_xl.cli import main
from participation_xl.issues import issue
from participation_xl.pack import builtin_pack_dir
from participation_xl.register import Register
from participation_xl.sample import sample_answers
from participation_xl.workspace import register_path

EXAMPLES = 20
AREAS = ("Early Help", "Advocacy", "SEND")
FATES = ("missing", "rejected", "valid", "invalid", "off_scale", "fixed", "broken")
ON_TIME = "2027-03-20T09:30:00+00:00"
LATE = "2027-04-02T16:45:00+00:00"
_COUNTER = itertools.count()

team_spec = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(("internal", "commissioned")),
        "area": st.sampled_from(AREAS),
        "fates": st.tuples(st.sampled_from(FATES), st.sampled_from(FATES)),
        "late": st.booleans(),
        "seed": st.integers(0, 10**6),
    }
)


def _schema(form: str) -> dict[str, Any]:
    return json.loads((builtin_pack_dir() / "schemas" / f"{form}.schema.json").read_text())


def _rated(form: str, groups: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    """(path, scale) of every rating in the schema's groups, in schema order."""
    schema = _schema(form)

    def deref(node: dict) -> dict:
        while "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]] | {
                k: v for k, v in node.items() if k != "$ref"
            }
        return node

    out = []
    for group in groups:
        for key, prop in schema["properties"][group]["properties"].items():
            rating = deref(deref(prop)["properties"]["rating"])
            out.append((f"{group}.{key}.rating", tuple(rating["enum"])))
    return out


STANDARDS = _rated("six-standards", ("standards",))
FRAMEWORK = _rated("audit", ("promises", "rights"))


def _get(doc: Any, path: str) -> Any:
    for part in path.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def _put(doc: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        doc = doc[part]
    doc[last] = value


# --- building a random register ---------------------------------------------------------


def _build(root: Path, teams: list[dict[str, Any]]) -> Any:
    ws = init_workspace(root, "Property Council", "2026-27", dt.date(2027, 3, 31))
    lines = ["team_id,team_name,service_area,kind,provider,contact_name,contact_email"]
    for n, t in enumerate(teams):
        provider = f"Provider {n}" if t["kind"] == "commissioned" else ""
        lines.append(f"T{n},Team {n},{t['area']},{t['kind']},{provider},Name,t{n}@example.org")
    (root / "teams.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = root / "participation.toml"
    cfg.write_text(cfg.read_text().replace('roster = "teams.xlsx"', 'roster = "teams.csv"'))
    ws = load_workspace(root)
    with Register(register_path(ws)) as reg, reg.transaction():
        for n, t in enumerate(teams):
            for form, fate in zip(ws.forms_for(t["kind"]), t["fates"], strict=False):
                _record(ws, reg, f"T{n}", form, fate, t["late"], random.Random(t["seed"]))
    return ws


def _record(ws, reg, team: str, form: str, fate: str, late: bool, rng: random.Random) -> None:
    if fate == "missing":
        return
    now = dt.datetime.now(dt.UTC).isoformat()
    if fate == "rejected":
        reg.add_file(
            f"{team}-{form}-bad.xlsx",
            1,
            1,
            None,
            "rejected",
            "Not a workbook.",
            "read.not_a_workbook",
            now,
            ws.cycle,
            team,
            form,
        )
        return
    # A resubmission: "fixed" is invalid then valid, "broken" valid then invalid.
    steps = {"fixed": ["invalid", "valid"], "broken": ["valid", "invalid"]}.get(fate, [fate])
    for k, step in enumerate(steps):
        received = LATE if late and k == len(steps) - 1 else ON_TIME.replace("09", f"1{k}")
        _submit(ws, reg, team, form, step, received, rng, now, k)


def _late(issues) -> bool:
    """Late as collect judges it: it adds the status.late query to a late return."""
    return any(i.code == "status.late" for i in issues)


def _submit(ws, reg, team, form, step, received, rng, now, k) -> None:
    f = ws.pack.forms[form]
    head = {"form": form, "form_version": f.version, "cycle": ws.cycle, "team_id": team}
    doc = head | sample_answers(f, rng, rows=1)
    rated = STANDARDS if form == "six-standards" else FRAMEWORK
    for path, scale in rated:
        _put(doc, path, rng.choice(scale))
    issues = []
    if step in ("invalid", "off_scale"):
        if step == "off_scale":
            _put(doc, rng.choice(rated)[0], "Mostly" if form == "six-standards" else "Often")
        issues.append(issue("answer.choice", "x.xlsx", "S", "C5", "f"))
    if received == LATE:
        issues.append(issue("status.late", "x.xlsx", received="02/04/2027", due="31/03/2027"))
    name = f"{team}-{form}-{k}.xlsx"
    sha = hashlib.sha256(json.dumps([name, received, doc]).encode()).hexdigest()
    identity = {"team_id": team, "form": form, "form_version": f.version, "cycle": ws.cycle}
    file_id = reg.add_file(name, 1, k + 1, sha, "accepted", "", "", now, ws.cycle)
    valid = not any(i.is_error for i in issues)
    reg.add_submission(
        file_id, sha, name, identity, valid, doc, issues, received, now, late=_late(issues)
    )
    reg.refresh_current(ws.cycle, team, form)


# --- the recount: status --json, export --all, the roster --------------------------------


def _cli(ws, *args: str) -> str:
    result = CliRunner().invoke(main, ["-w", str(ws.root), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _recount_word(state: str, doc: dict | None, path: str, scale: tuple[str, ...]) -> str:
    if state in ("missing", "rejected"):
        return "No return"
    value = _get(doc, path)
    if value not in scale:
        return "Invalid answer"
    return value if state == "valid" else "Invalid return"


def _column(word: str) -> str:
    return "Invalid return" if word == "Invalid answer" else word


def _expected_counts(words: list[str], scale: tuple[str, ...]) -> dict[str, int]:
    counts = Counter(_column(w) for w in words)
    return {w: counts[w] for w in (*scale, "Invalid return", "No return")}


# --- reading the workbooks back -----------------------------------------------------------


def _table(wb, sheet: str, name: str) -> list[dict[str, Any]]:
    ws = wb[sheet]
    cells = [[c.value for c in row] for row in ws[ws.tables[name].ref]]
    return [dict(zip(cells[0], row, strict=True)) for row in cells[1:]]


def _check_row(row: dict[str, Any], want: dict[str, int], total: int, where: str) -> None:
    got = {w: row[w] for w in want}
    assert got == want, f"{where}: {got} != recount {want}"
    assert row["Services expected" if "Services expected" in row else "Teams expected"] == total
    assert sum(want.values()) == total, where
    shares = [row[f"{w} %"] for w in want] if f"{next(iter(want))} %" in row else []
    if shares and total:
        assert round(sum(shares), 6) == 1, f"{where}: percentages add to {sum(shares)}"
        for w, share in zip(want, shares, strict=True):
            assert abs(share - want[w] / total) <= 0.01, f"{where}: {w} % is {share}"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(teams=st.lists(team_spec, min_size=1, max_size=7))
def test_every_figure_equals_an_independent_recount(tmp_path, teams):
    ws = _build(tmp_path / f"ws{next(_COUNTER)}", teams)
    _cli(ws, "report")
    state = {
        (t["team_id"], t["form"]): t["status"]
        for t in json.loads(_cli(ws, "status", "--json"))["teams"]
    }
    docs = {
        (d["team_id"], d["form"]): d
        for d in map(json.loads, _cli(ws, "export", "--format", "jsonl", "--all").splitlines())
    }
    roster = {f"T{n}": t for n, t in enumerate(teams)}
    register = openpyxl.load_workbook(ws.reports_dir / "register.xlsx")
    compliance = openpyxl.load_workbook(ws.reports_dir / "compliance.xlsx")

    # Overview: valid + invalid return + no return = expected, overall and by area and kind.
    outcome = {"valid": "Valid", "invalid": "Invalid return"}
    words = {k: outcome.get(s, "No return") for k, s in state.items()}
    overall = {r["Status"]: r["Returns"] for r in _table(register, "Overview", "StatusCounts")}
    assert overall == {w: Counter(words.values())[w] for w in overall}
    assert sum(overall.values()) == len(state)
    for name, key, label in (("ByServiceArea", "area", "Service area"), ("ByKind", "kind", "Kind")):
        for row in _table(register, "Overview", name):
            group = row[label]
            mine = [w for (team, _), w in words.items() if roster[team][key] == group]
            assert row["Expected"] == len(mine)
            for w in ("Valid", "Invalid return", "No return"):
                assert row[w] == mine.count(w), (name, group, w)

    # Dashboard and Matrix: each standard, overall, by area, and each service's cell.
    services = [(team, s) for (team, form), s in state.items() if form == "six-standards"]
    matrix = {r["Team ID"]: r for r in _table(compliance, "Matrix", "Matrix")}
    overall_rows = _table(compliance, "Dashboard", "StandardsOverall")
    by_area = _table(compliance, "Dashboard", "StandardsByArea")
    for n, (path, scale) in enumerate(STANDARDS):
        cells = {
            t: _recount_word(s, docs.get((t, "six-standards")), path, scale) for t, s in services
        }
        short = f"Standard {n + 1}"
        if services:
            _check_row(
                overall_rows[n], _expected_counts(list(cells.values()), scale), len(services), short
            )
        for t, word in cells.items():
            assert matrix[t][short] == word, (t, short)
        for row in (r for r in by_area if r["Standard"] == short):
            mine = [w for t, w in cells.items() if roster[t]["area"] == row["Service area"]]
            _check_row(row, _expected_counts(mine, scale), len(mine), f"{short} in area")
    assert set(matrix) == {t for t, _ in services} or (not services and len(matrix) == 1)

    # The promises and rights heat map: valid audits only, in schema order.
    audits = [(team, s) for (team, form), s in state.items() if form == "audit"]
    heat = _table(compliance, "Dashboard", "Ratings")
    for row, (path, scale) in zip(heat, FRAMEWORK, strict=True):
        cells = [_recount_word(s, docs.get((t, "audit")), path, scale) for t, s in audits]
        _check_row(row, _expected_counts(cells, scale), len(audits), path)
