"""A record of what was issued (issue 16, part "issued"): generate records each workbook it
writes, and a return from a team removed from the roster after issue is recorded with a
query and never chased."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import random
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from participation_xl.cli import main
from participation_xl.collect import collect
from participation_xl.generate import generate, issued_form
from participation_xl.register import Register
from participation_xl.roster import read_roster
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.status import expected_returns, standing
from participation_xl.workspace import init_workspace, load_workspace, register_path

DUE = dt.date(2027, 3, 31)
FIELDS = ("team_id", "team_name", "service_area", "kind", "provider", "contact_name")


def _workspace(root: Path):
    return init_workspace(root, "C", "2026-27", DUE)


def _fill(ws, team: str, form_id: str, seed: int = 5) -> Path:
    """The team's workbook of the form, filled in validly and put in the returns folder."""
    issued = {issued_form(ws, p): p for p in ws.outbox.rglob("*.xlsx")}
    form = ws.pack.forms[form_id]
    answers = sample_answers(form, random.Random(seed))
    return fill_workbook(
        issued[(team, form_id)], ws.returns_dir / f"{team} {form_id}.xlsx", answers, form
    )


def _drop_from_roster(ws, *gone: str):
    """The coordinator edits the roster: the teams `gone` are removed (a CSV roster)."""
    kept = [t for t in read_roster(ws.roster_path) if t.team_id not in gone]
    path = ws.root / "teams.csv"
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([*FIELDS, "contact_email"])
        for t in kept:
            out.writerow([getattr(t, k) for k in (*FIELDS, "contact_email")])
    config = ws.root / "participation.toml"
    config.write_text(config.read_text().replace('roster = "teams.xlsx"', 'roster = "teams.csv"'))
    return load_workspace(ws.root)


def test_generate_records_every_workbook_it_issues_with_every_column(tmp_path):
    ws = _workspace(tmp_path / "ws")
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    paths = generate(ws)
    after = dt.datetime.now(dt.UTC)
    roster = {t.team_id: t for t in read_roster(ws.roster_path)}
    with Register(register_path(ws)) as reg:
        rows = reg.issued(ws.cycle)
    assert len(rows) == len(paths) == 4  # EH01, SW02: audit; ADV1: audit and six-standards
    by_path = {(ws.root / r.path).resolve(): r for r in rows}
    for path in paths:
        r = by_path[path.resolve()]
        team_id, form_id = issued_form(ws, path) or ("", "")
        assert (r.team_id, r.form, r.cycle) == (team_id, form_id, "2026-27")
        assert (r.team_name, r.kind) == (roster[team_id].team_name, roster[team_id].kind)
        assert r.form_version == ws.pack.forms[form_id].version == "1.0"
        assert r.pack_version == ws.pack.version == "1.0"
        assert r.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        when = dt.datetime.fromisoformat(r.issued_at)
        assert when.utcoffset() == dt.timedelta(0) and before <= when <= after
        assert not Path(r.path).is_absolute()


def test_each_generate_run_adds_its_rows_and_the_latest_is_what_a_team_holds(tmp_path):
    ws = _workspace(tmp_path / "ws")
    generate(ws)
    generate(ws, team_ids=["EH01"])
    with Register(register_path(ws)) as reg:
        every = reg.issued(ws.cycle, latest=False)
        latest = reg.issued(ws.cycle)
    assert len(every) == 5 and len(latest) == 4
    eh01 = [r for r in every if r.team_id == "EH01"]
    assert max(r.id for r in eh01) in {r.id for r in latest}


def test_an_older_register_gains_the_issued_table_on_open(tmp_path):
    path = tmp_path / "register.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE files (id INTEGER PRIMARY KEY, path TEXT NOT NULL, size INTEGER "
               "NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT, outcome TEXT NOT NULL, "
               "reason TEXT NOT NULL DEFAULT '', code TEXT NOT NULL DEFAULT '', "
               "seen_at TEXT NOT NULL)")  # fmt: skip
    db.commit()
    db.close()
    with Register.read_only(path) as reg:  # read-only: an empty stand-in, nothing written
        assert reg.issued("2026-27") == []
    with Register(path) as reg:
        tables = {r[0] for r in reg.db.execute("SELECT name FROM sqlite_master")}
    assert {"issued", "packs"} <= tables


def test_a_team_removed_after_issue_has_its_return_recorded_with_a_query_not_chased(tmp_path):
    ws = _workspace(tmp_path / "ws")
    generate(ws)
    _fill(ws, "EH01", "audit")
    _fill(ws, "SW02", "audit", seed=6)
    # EH01 (returned) and ADV1 (nothing returned) are taken off the roster after issue.
    ws = _drop_from_roster(ws, "EH01", "ADV1")
    result = CliRunner().invoke(main, ["-w", str(ws.root), "collect"])
    assert result.exit_code == 0, result.output
    with Register(register_path(ws)) as reg:
        sub = reg.current_submission(ws.cycle, "EH01", "audit")
        assert sub is not None
        codes = [str(i.code) for i in sub.issues]
        assert "identify.not_on_roster" in codes
        expected = {(e.team.team_id, e.form): e for e in expected_returns(ws, reg)}
        counts = standing(ws, reg)
    # The removed team's return is shown and counted; its missing forms are not expected.
    assert set(expected) == {("SW02", "audit"), ("EH01", "audit")}
    eh01 = expected[("EH01", "audit")]
    assert eh01.current is not None and not eh01.on_roster and not eh01.chased
    assert eh01.team.team_name == "Early Help North"
    assert counts["expected"] == 2 and counts["missing"] == 0
    # status --json lists it; the chasers name no removed team.
    result = CliRunner().invoke(main, ["-w", str(ws.root), "status", "--json"])
    assert result.exit_code == 0, result.output
    teams = {(t["team_id"], t["form"]): t for t in json.loads(result.output)["teams"]}
    assert teams[("EH01", "audit")]["status"] in ("valid", "invalid")
    assert "identify.not_on_roster" in [i["code"] for i in teams[("EH01", "audit")]["issues"]]
    assert ("ADV1", "audit") not in teams
    chasers = (ws.reports_dir / "chasers.csv").read_text()
    assert "EH01" not in chasers and "ADV1" not in chasers


def test_a_team_not_on_the_roster_and_not_issued_this_cycle_is_still_rejected(tmp_path):
    ws = _workspace(tmp_path / "ws")
    generate(ws)
    _fill(ws, "EH01", "audit")
    with Register(register_path(ws)) as reg:  # as in a register from before issues were kept
        reg.db.execute("DELETE FROM issued WHERE team_id = 'EH01'")
    ws = _drop_from_roster(ws, "EH01")
    collect(ws)
    with Register(register_path(ws)) as reg:
        assert [f.code for f in reg.files()] == ["identify.unknown_team"]


def test_a_removed_teams_return_can_be_reviewed_and_rebuild_keeps_what_was_issued(tmp_path):
    from participation_xl.rebuild import rebuild
    from participation_xl.review import decide

    ws = _workspace(tmp_path / "ws")
    generate(ws)
    _fill(ws, "EH01", "audit")
    ws = _drop_from_roster(ws, "EH01")
    collect(ws)
    with Register(register_path(ws)) as reg:
        before = reg.issued(ws.cycle, latest=False)
        assert decide(ws, reg, "EH01", "audit", "approve") is not None
    rebuild(ws)
    with Register(register_path(ws)) as reg:
        assert [r[1:] for r in map(_fields, reg.issued(ws.cycle, latest=False))] == [
            r[1:] for r in map(_fields, before)
        ]
        assert reg.kept_packs()  # the kept pack is still known
        sub = reg.current_submission(ws.cycle, "EH01", "audit")
        assert sub is not None and "identify.not_on_roster" in [i.code for i in sub.issues]


def _fields(r) -> tuple:
    return tuple(getattr(r, k) for k in r.__dataclass_fields__)
