"""Pack versions within one cycle (issue 16, part "issued"): a pack version published
mid-cycle, with returns on both versions. Each is read and validated with the version it
was issued from; generate names the teams holding the older version; the reports and the
export show both under the new field path, and a removed field's answers are kept."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import random
import re
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from participation_xl.cli import main
from participation_xl.generate import issued_form
from participation_xl.pack import load_pack, upgraded
from participation_xl.register import Register
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.workspace import init_workspace, load_workspace, register_path

DUE = dt.date(2027, 3, 31)


def run(ws: Path, *args: str):
    result = CliRunner().invoke(main, ["-w", str(ws), *args])
    assert result.exit_code == 0, result.output
    return result.output


def _workspace(root: Path, pack: Path):
    ws = init_workspace(root, "C", "2026-27", DUE)
    config = ws.root / "participation.toml"
    config.write_text(config.read_text().replace('pack = ""', f"pack = {json.dumps(str(pack))}"))
    return load_workspace(ws.root)


def _fill(ws, team: str, form_id: str, blank: tuple[str, ...] = ()) -> Path:
    """The workbook the team holds now, filled as the team would (some answers left out)."""
    issued = {issued_form(ws, p): p for p in ws.outbox.rglob("*.xlsx")}
    # The form the workbook was issued from: its identity says which version.
    path = issued[(team, form_id)]
    form = _form_of(ws, path, form_id)
    answers = sample_answers(form, random.Random(7))
    for dotted in blank:
        head, key = dotted.split(".")
        answers[head].pop(key, None)
    return fill_workbook(path, ws.returns_dir / f"{team} {form_id}.xlsx", answers, form)


def _form_of(ws, path: Path, form_id: str):
    """The form a workbook was laid out from: the kept pack of its version."""
    with Register(register_path(ws)) as reg:
        rel = str(path.resolve().relative_to(ws.root.resolve()))
        row = next(r for r in reg.issued(ws.cycle) if r.path == rel)  # what it holds now
        folder = next(
            k[4] for k in reg.kept_packs() if k[1] == form_id and k[2] == row.form_version
        )
    return load_pack(ws.state_dir / folder).forms[form_id]


def _publish_version_2(pack: Path) -> None:
    """The council publishes pack 2.0 mid-cycle: the audit's 'Your role' is renamed
    'Your job title' (about.role -> about.job_title) and 'Do you work with young people
    with a disability?' is removed, as the audit's layout declares."""
    path = pack / "schemas/audit.schema.json"
    schema = json.loads(path.read_text())
    schema["x-form-version"] = "2.0"
    schema["properties"]["form_version"]["const"] = "2.0"
    about = schema["properties"]["about"]
    about["properties"] = {
        ("job_title" if k == "role" else k): (
            {**v, "title": "Your job title"} if k == "role" else v
        )
        for k, v in about["properties"].items()
        if k != "serves_disabled"
    }
    about["required"] = [
        "job_title" if k == "role" else k for k in about["required"] if k != "serves_disabled"
    ]
    path.write_text(json.dumps(schema, indent=2))
    layout = pack / "workbook_templates/audit.toml"
    layout.write_text(
        layout.read_text().replace(
            'schema = "audit.schema.json"\n',
            'schema = "audit.schema.json"\n'
            'renamed = { "about.role" = "about.job_title" }\n'
            'removed = ["about.serves_disabled"]\n',
        )
    )
    meta = pack / "workbook_templates/pack.toml"
    meta.write_text(re.sub(r'(?m)^version = "1.0"$', 'version = "2.0"', meta.read_text()))


@pytest.fixture
def two_versions(tmp_path, pack_copy):
    """Issued on 1.0 to every team; 2.0 published; SW02 issued again on 2.0. EH01 returns
    on 1.0, ADV1 returns on 1.0 without its role (required in 1.0), SW02 returns on 2.0."""
    ws = _workspace(tmp_path / "ws", pack_copy)
    run(ws.root, "generate")
    _publish_version_2(pack_copy)
    ws = load_workspace(ws.root)
    said = run(ws.root, "generate", "--team", "SW02")
    _fill(ws, "EH01", "audit")
    _fill(ws, "ADV1", "audit", blank=("about.role",))
    _fill(ws, "SW02", "audit")
    collected = run(ws.root, "collect")
    return ws, said, collected


def test_generate_names_the_teams_holding_an_older_version(two_versions):
    _, said, _ = two_versions
    line = next(x for x in said.splitlines() if "older version" in x)
    assert "EH01 (audit version 1.0)" in line and "ADV1 (audit version 1.0)" in line
    assert "SW02" not in line and "six-standards" not in line  # unchanged form: same version
    assert line.startswith("2 workbook(s)")


def test_both_versions_are_kept_and_each_return_is_validated_by_its_own(two_versions):
    ws, _, _ = two_versions
    kept = sorted(p.name for p in (ws.state_dir / "packs").iterdir())
    assert kept == ["1.0", "2.0"]
    with Register(register_path(ws)) as reg:
        assert [f.code for f in reg.files() if f.outcome != "accepted"] == []
        subs = {s.team_id: s for s in reg.submissions(ws.cycle)}
    eh01, adv1, sw02 = subs["EH01"], subs["ADV1"], subs["SW02"]
    assert (eh01.form_version, sw02.form_version) == ("1.0", "2.0")
    assert eh01.valid and "role" in eh01.document["about"]  # 1.0's field, by 1.0's schema
    assert sw02.valid and "job_title" in sw02.document["about"], [
        (i.code, i.path, i.values) for i in sw02.issues
    ]
    assert "serves_disabled" not in sw02.document["about"]
    # 1.0 still requires 'Your role': ADV1 left it blank, an error at 1.0's own cell.
    assert not adv1.valid
    missing = [i for i in adv1.issues if i.is_error and i.path == "about.role"]
    assert missing and missing[0].place.sheet == "About the team"
    # The answer to the question 2.0 removed is kept and flagged, never dropped.
    notes = [i for i in eh01.issues if i.code == "version.removed_answer"]
    assert [i.path for i in notes] == ["about.serves_disabled"]
    assert eh01.document["about"]["serves_disabled"] in ("Yes", "No")


def test_the_export_and_reports_show_both_versions_under_the_new_field_path(two_versions):
    ws, _, _ = two_versions
    lines = run(ws.root, "export", "--format", "jsonl", "--all").splitlines()
    docs = {d["team_id"]: d for d in map(json.loads, lines)}
    for team in ("EH01", "SW02"):
        assert docs[team]["about"]["job_title"], team
        assert "role" not in docs[team]["about"]
    assert docs["EH01"]["about"]["serves_disabled"] in ("Yes", "No")  # kept, old path
    rows = {
        r["team_id"]: r
        for r in csv.DictReader(io.StringIO(run(ws.root, "export", "--format", "csv")))
    }
    assert rows["EH01"]["about.job_title"] and rows["SW02"]["about.job_title"]
    # The register workbook's Audit sheet: one 'Your job title' column, filled for both.
    book = openpyxl.load_workbook(ws.reports_dir / "register.xlsx", read_only=True)
    sheet = list(book["Audit"].iter_rows(values_only=True))
    head = next(i for i, r in enumerate(sheet) if "Your job title" in r)
    col = sheet[head].index("Your job title")
    team_col = next(i for i, v in enumerate(sheet[head]) if v in ("Team ID", "Team id", "Team"))
    shown = {r[team_col]: r[col] for r in sheet[head + 1 :] if r[team_col]}
    assert shown.get("EH01") and shown.get("SW02"), shown


def test_a_rename_moves_answers_in_table_rows_and_never_overwrites(pack):
    form = pack.forms["audit"]
    form = dataclasses.replace(form, renamed={"log.said": "log.heard", "a.b": "c.d"})
    doc = {"form_version": "0.9", "log": [{"said": 1}, {"said": 2, "heard": 3}], "a": {"b": 4}}
    out = upgraded(doc, form)
    # A row that has the new field already keeps both: nothing typed is overwritten.
    assert out["log"] == [{"heard": 1}, {"said": 2, "heard": 3}] and out["c"] == {"d": 4}
    assert doc["log"][0] == {"said": 1}  # the stored document is left as it was
