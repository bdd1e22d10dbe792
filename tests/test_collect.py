"""collect, validate, status and export: the coordinator's main job, end to end."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import threading
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from hostile_corpus import edited

from participation_xl.cli import main
from participation_xl.collect import collect
from participation_xl.pack import compile_check
from participation_xl.register import Register
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.status import status
from participation_xl.workspace import register_path


@pytest.fixture
def cycle(workspace):
    """A workspace with workbooks issued to the starter roster, and a way to return them."""
    from participation_xl.generate import generate, issued_form

    paths = {issued_form(workspace, p): p for p in generate(workspace)}
    return workspace, paths


def _filled(cycle, team, form, name=None, seed=1, edit=None, rows=None):
    ws, paths = cycle
    answers = sample_answers(ws.pack.forms[form], random.Random(seed), rows=rows)
    if edit:
        edit(answers)
    target = ws.returns_dir / (name or f"{team} {form}.xlsx")
    fill_workbook(paths[(team, form)], target, answers, ws.pack.forms[form])
    return target, answers


def _status(ws):
    with Register(register_path(ws)) as reg:
        return status(ws, reg)


def _row(ws, team, form):
    return next(t for t in _status(ws)["teams"] if t["team_id"] == team and t["form"] == form)


def _export(ws, *args):
    result = CliRunner().invoke(main, ["-w", str(ws.root), "export", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _folder_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --- the round trip ---------------------------------------------------------------------


@pytest.mark.parametrize("team,form", [("EH01", "audit"), ("ADV1", "six-standards")])
def test_round_trip_returns_the_same_answers(cycle, team, form):
    ws, _ = cycle
    _, answers = _filled(cycle, team, form)
    collect(ws)
    assert _row(ws, team, form)["status"] == "valid", _row(ws, team, form)["issues"]
    docs = [json.loads(line) for line in _export(ws, "--format", "jsonl").splitlines()]
    doc = next(d for d in docs if d["team_id"] == team and d["form"] == form)
    identity = {"form": form, "form_version": "1.0", "cycle": "2026-27", "team_id": team}
    assert doc == {**identity, **answers}
    assert ws.pack.forms[form].validator.is_valid(doc)


def test_every_file_outcome_is_recorded_and_the_folder_is_never_touched(cycle):
    ws, _ = cycle
    _filled(cycle, "EH01", "audit")
    (ws.returns_dir / "~$EH01 audit.xlsx").write_bytes(b"lock")
    (ws.returns_dir / "notes.xlsx").write_bytes(b"not a workbook at all")
    before = _folder_hashes(ws.returns_dir)
    collect(ws)
    assert _folder_hashes(ws.returns_dir) == before
    outcomes = {f["path"]: f["outcome"] for f in _status(ws)["files"]}
    assert outcomes == {
        "EH01 audit.xlsx": "accepted",
        "~$EH01 audit.xlsx": "ignored",
        "notes.xlsx": "rejected",
    }


def test_a_second_collect_is_a_no_op(cycle):
    ws, _ = cycle
    _filled(cycle, "EH01", "audit")
    first = collect(ws)
    assert first.seen["accepted"] == 1
    before = _status(ws)
    second = collect(ws)
    assert sum(second.seen.values()) == 0
    assert _status(ws) == before


def test_a_resubmission_becomes_current_and_keeps_history(cycle):
    ws, _ = cycle
    path, _ = _filled(cycle, "EH01", "audit", seed=1, edit=lambda a: a["about"].pop("role"))
    collect(ws)
    assert _row(ws, "EH01", "audit")["status"] == "invalid"
    _, _fixed = _filled(cycle, "EH01", "audit", seed=2)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    collect(ws)
    assert _row(ws, "EH01", "audit")["status"] == "valid"
    with Register(register_path(ws)) as reg:
        assert reg.history_counts(ws.cycle) == {("EH01", "audit"): 1}
        assert len(reg.submissions(ws.cycle, current_only=False)) == 2


def test_deleting_a_return_from_the_folder_loses_nothing(cycle):
    ws, _ = cycle
    path, _ = _filled(cycle, "EH01", "audit")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    collect(ws)
    path.unlink()
    collect(ws)
    assert _row(ws, "EH01", "audit")["status"] == "valid"
    archived = list((ws.state_dir / "archive").rglob(f"{sha}.xlsx"))
    assert len(archived) == 1 and hashlib.sha256(archived[0].read_bytes()).hexdigest() == sha


def test_a_byte_identical_copy_is_a_duplicate(cycle):
    ws, _ = cycle
    path, _ = _filled(cycle, "EH01", "audit")
    shutil.copy(path, ws.returns_dir / "EH01 audit (1).xlsx")
    collect(ws)
    outcomes = {f["path"]: f["outcome"] for f in _status(ws)["files"]}
    assert outcomes["EH01 audit (1).xlsx"] == "duplicate"


def test_missing_returns_are_listed(cycle):
    ws, _ = cycle
    collect(ws)
    assert {t["status"] for t in _status(ws)["teams"]} == {"missing"}


# --- hard cases ---------------------------------------------------------------------------


def _issues(ws, team, form):
    return _row(ws, team, form)["issues"]


def test_an_empty_never_filled_template_is_invalid_with_every_required_answer_named(cycle):
    ws, paths = cycle
    shutil.copy(paths[("ADV1", "six-standards")], ws.returns_dir / "blank.xlsx")
    collect(ws)
    row = _row(ws, "ADV1", "six-standards")
    assert row["status"] == "invalid"
    required = [i for i in row["issues"] if "is required" in i["message"]]
    assert len(required) == 15  # 4 contract + 1 budget + 4 sign-off + 6 ratings
    first = next(i for i in required if i["field"] == "Name of the commissioned service")
    assert (first["sheet"], first["cell"], first["severity"]) == ("Provider", "B8", "error")


def test_answers_pasted_over_dropdowns_are_caught_with_their_cell(cycle):
    ws, _ = cycle
    _filled(
        cycle,
        "ADV1",
        "six-standards",
        edit=lambda a: a["standards"]["feedback"].update(rating="Mostly met"),
    )
    collect(ws)
    issue = next(i for i in _issues(ws, "ADV1", "six-standards") if "Mostly met" in i["message"])
    assert issue["sheet"] == "Six Standards" and issue["cell"] == "B8"
    assert "Met, Partially met, Not met" in issue["message"]


def test_what_people_type_is_normalised_and_each_change_is_a_query(cycle):
    ws, _ = cycle

    def sloppy(a):
        a["commitment"].update(has_lead="yes", staff_total="12", lead_name="  Sam  ")
        a["taking_part"]["method_other"] = "n/a"
        a["you_said_we_did"][0]["date"] = "3/2/2027"

    _filled(cycle, "EH01", "audit", edit=sloppy)
    collect(ws)
    row = _row(ws, "EH01", "audit")
    assert row["status"] == "valid", row["issues"]
    messages = [i["message"] for i in row["issues"] if i["severity"] == "query"]
    # Each message names its question first, then says what was done.
    expected = {
        "Does your team have a named participation lead?": "'yes' was read as 'Yes'.",
        "How many staff are in your team?": "The number '12' was typed as text and was read as 12.",
        "Name of your participation lead": "Spaces at the start or end were removed.",
        "Anything else? Say which": "'n/a' was read as a blank answer.",
        "You Said, We Did, row 1: Date": (
            "The date '3/2/2027' was typed as text and was read as 03/02/2027 (day first)."
        ),
    }
    for text in expected.values():
        assert any(m.endswith(text) for m in messages), (text, messages)
    assert (
        "'You Said, We Did, row 1: Date': " + expected["You Said, We Did, row 1: Date"] in messages
    )
    doc = json.loads(_export(ws, "--format", "jsonl").splitlines()[0])
    assert (
        doc["commitment"]["staff_total"] == 12 and doc["you_said_we_did"][0]["date"] == "2027-02-03"
    )


def test_a_formula_in_an_answer_cell_is_not_trusted(cycle):
    ws, _ = cycle
    _filled(
        cycle,
        "ADV1",
        "six-standards",
        edit=lambda a: a["contract"].update(service_name='=HYPERLINK("http://x","y")'),
    )
    collect(ws)
    issues = _issues(ws, "ADV1", "six-standards")
    assert any(
        i["cell"] == "B8" and "formula" in i["message"] and i["severity"] == "error" for i in issues
    )
    assert not any(i["cell"] == "B8" and "is required" in i["message"] for i in issues)


def test_control_characters_and_over_long_text(cycle):
    # openpyxl refuses to write either, so the file is written as Excel would store them:
    # a control character escaped as _x0007_, and a string over the cell limit.
    ws, _ = cycle
    src, _ = _filled(
        cycle,
        "ADV1",
        "six-standards",
        name="clean.xlsx",
        edit=lambda a: (
            a["budget"].update(budget_notes="CONTROL-HERE")
            or a["standards"]["feedback"].update(evidence="LONG-HERE")
        ),
    )

    def hostile(parts):
        for name, data in parts.items():
            data = data.replace(b"CONTROL-HERE", b"Travel_x0007_ and food")
            parts[name] = data.replace(b"LONG-HERE", b"x" * 40000)

    _rewrite_zip(src, ws.returns_dir / "hostile.xlsx", hostile)
    src.unlink()
    collect(ws)
    messages = [i["message"] for i in _issues(ws, "ADV1", "six-standards")]
    assert (
        "'What the budget pays for': Invisible control characters were removed from the answer."
        in messages
    )
    assert any("over Excel's limit of 32,767" in m for m in messages)


def test_personal_data_in_free_text_is_a_query_not_dropped(cycle):
    ws, _ = cycle
    _filled(
        cycle,
        "ADV1",
        "six-standards",
        edit=lambda a: a["standards"]["feedback"].update(
            evidence="Ask Jamie (jamie@example.org, 07700 900123) about it."
        ),
    )
    collect(ws)
    queries = [
        i for i in _issues(ws, "ADV1", "six-standards") if i["code"] == "privacy.personal_data"
    ]
    assert len(queries) == 2
    doc = json.loads(_export(ws, "--format", "jsonl", "--all").splitlines()[0])
    assert "jamie@example.org" in doc["standards"]["feedback"]["evidence"]


def test_a_workbook_from_the_wrong_team_folder_is_recorded_for_its_own_team(cycle):
    ws, _paths = cycle
    (ws.returns_dir / "SW02 Children in Care Team").mkdir()
    _filled(cycle, "EH01", "audit", name="SW02 Children in Care Team/audit.xlsx")
    collect(ws)
    assert _row(ws, "EH01", "audit")["status"] == "valid"
    assert _row(ws, "SW02", "audit")["status"] == "missing"
    assert any(
        "folder named for another team" in i["message"] for i in _issues(ws, "EH01", "audit")
    )


def _rewrite_zip(src: Path, dest: Path, change) -> Path:
    dest.write_bytes(edited(src.read_bytes(), change))
    return dest


def test_an_edited_identity_is_rejected(cycle):
    ws, paths = cycle

    def tamper(parts):
        for name, data in parts.items():
            if b">EH01<" in data and "sharedStrings" in name:
                parts[name] = data.replace(b">EH01<", b">SW02<")

    _rewrite_zip(paths[("EH01", "audit")], ws.returns_dir / "tampered.xlsx", tamper)
    collect(ws)
    files = {f["path"]: f for f in _status(ws)["files"]}
    assert files["tampered.xlsx"]["outcome"] == "rejected"
    assert "identity has been changed" in files["tampered.xlsx"]["reason"]


def test_a_team_removed_from_the_roster_after_issue_is_accepted_with_a_query(cycle):
    # Issue 16: identified against what was issued, not only the roster (a team never
    # issued a workbook this cycle is still rejected: tests/test_issued.py).
    ws, _ = cycle
    _filled(cycle, "EH01", "audit")
    wb = openpyxl.load_workbook(ws.roster_path)
    wb["Teams"].delete_rows(2)  # EH01 leaves the roster
    wb.save(ws.roster_path)
    collect(ws)
    doc = _status(ws)
    assert doc["files"][0]["outcome"] == "accepted"
    eh01 = next(t for t in doc["teams"] if t["team_id"] == "EH01")
    assert "identify.not_on_roster" in [i["code"] for i in eh01["issues"]]


def test_answers_moved_by_inserted_rows_are_caught(cycle):
    ws, paths = cycle
    wb = openpyxl.load_workbook(paths[("EH01", "audit")])
    sheet = wb["About the team"]
    sheet.protection.sheet = False
    sheet.insert_rows(8, 2)  # openpyxl does not move names: they now point at wrong cells
    wb.save(ws.returns_dir / "moved.xlsx")
    collect(ws)
    file = _status(ws)["files"][0]
    assert file["outcome"] == "rejected" and "have moved" in file["reason"]


def test_macros_and_external_links_are_flagged_never_run(cycle):
    ws, _paths = cycle
    src, _ = _filled(cycle, "EH01", "audit", name="clean.xlsx")

    def add_active(parts):
        parts["xl/vbaProject.bin"] = b"\xd0\xcf\x11\xe0 not really a macro project"
        parts["xl/externalLinks/externalLink1.xml"] = (
            b'<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>'
        )

    _rewrite_zip(src, ws.returns_dir / "active.xlsx", add_active)
    src.unlink()
    collect(ws)
    messages = [i["message"] for i in _issues(ws, "EH01", "audit")]
    assert any("contains macros. They were not run" in m for m in messages)
    assert any("links to other files" in m for m in messages)


@pytest.mark.parametrize(
    "data,outcome,needle",
    [
        (b"", "rejected", "empty"),
        (b"plain words, not a workbook", "rejected", "CSV or text"),
        (b"\x89PNG\r\n\x1a\n" + bytes(200), "rejected", "not an Excel workbook"),
    ],
)
def test_files_that_are_not_workbooks(cycle, data, outcome, needle):
    ws, _ = cycle
    (ws.returns_dir / "bad.xlsx").write_bytes(data)
    collect(ws)
    file = _status(ws)["files"][0]
    assert file["outcome"] == outcome and needle in file["reason"], file


def test_a_truncated_file_is_pending_and_retried(cycle):
    ws, _ = cycle
    src, _ = _filled(cycle, "EH01", "audit", name="whole.xlsx")
    data = src.read_bytes()
    src.unlink()
    partial = ws.returns_dir / "syncing.xlsx"
    partial.write_bytes(data[: len(data) // 2])
    collect(ws)
    assert _status(ws)["files"][0]["outcome"] == "pending"
    partial.write_bytes(data)
    collect(ws)
    assert _status(ws)["files"][0]["outcome"] == "accepted"


def test_two_collects_at_once_leave_a_consistent_register(cycle):
    ws, _ = cycle
    for seed, (team, form) in enumerate([("EH01", "audit"), ("SW02", "audit"), ("ADV1", "audit")]):
        _filled(cycle, team, form, seed=seed)
    errors = []

    def run():
        try:
            collect(ws)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Register(register_path(ws)) as reg:
        subs = reg.submissions(ws.cycle, current_only=False)
        assert len(subs) == 3
        assert reg.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# --- the other commands -----------------------------------------------------------------


def test_validate_exits_1_for_an_invalid_file_and_records_nothing(cycle):
    ws, paths = cycle
    good, _ = _filled(cycle, "EH01", "audit")
    runner = CliRunner()
    ok = runner.invoke(main, ["-w", str(ws.root), "validate", str(good)])
    assert ok.exit_code == 0 and ": valid" in ok.output
    bad = runner.invoke(
        main, ["-w", str(ws.root), "validate", "--json", str(paths[("ADV1", "six-standards")])]
    )
    assert bad.exit_code == 1
    result = json.loads(bad.output)
    assert result[0]["valid"] is False and result[0]["issues"]
    assert not register_path(ws).exists() or not _status(ws)["files"]


def test_status_json_has_the_contract_keys(cycle):
    ws, _ = cycle
    _filled(cycle, "ADV1", "six-standards", edit=lambda a: a["sign_off"].pop("role"))
    collect(ws)
    result = CliRunner().invoke(main, ["-w", str(ws.root), "status", "--json"])
    doc = json.loads(result.output)
    assert set(doc) == {"teams", "files"}
    team = next(t for t in doc["teams"] if t["form"] == "six-standards")
    assert set(team) == {
        "team_id",
        "team_name",
        "form",
        "status",
        "late",
        "file",
        "review",
        "issues",
    }
    assert team["review"] is None
    assert set(team["issues"][0]) == {
        "code",
        "file",
        "sheet",
        "cell",
        "field",
        "message",
        "severity",
        "explanation",
    }
    assert set(doc["files"][0]) == {"path", "sha256", "outcome", "reason"}
    assert len(doc["teams"]) == 4


def test_status_table_and_collect_summary(cycle):
    ws, _ = cycle
    _filled(cycle, "EH01", "audit")
    runner = CliRunner()
    out = runner.invoke(main, ["-w", str(ws.root), "collect", "--no-report"]).output
    assert "1 accepted" in out and "1 valid" in out and "3 missing" in out
    table = runner.invoke(main, ["-w", str(ws.root), "status"]).output
    assert "EH01" in table and "valid" in table and "missing" in table


def test_csv_export_flattens_and_neutralises_formulas(cycle):
    ws, _ = cycle
    _filled(
        cycle,
        "ADV1",
        "six-standards",
        edit=lambda a: a["budget"].update(budget_notes="@SUM(1+1) and -2"),
    )
    collect(ws)
    text = _export(ws, "--format", "csv")
    rows = list(__import__("csv").DictReader(io.StringIO(text)))
    assert rows[0]["budget.budget_notes"] == "'@SUM(1+1) and -2"
    assert rows[0]["standards.feedback.rating"] in ("Met", "Partially met", "Not met")


@pytest.mark.parametrize("form_id", ["audit", "six-standards"])
def test_the_fast_validity_check_agrees_with_jsonschema(pack, form_id):
    # Compiled validation is only a shortcut: it must never call an invalid return valid.
    form = pack.forms[form_id]
    rng = random.Random(5)
    ident = {"form": form_id, "form_version": "1.0", "cycle": "2026-27", "team_id": "T1"}
    for n in range(40):
        doc = {**ident, **sample_answers(form, rng, rows=n % 4)}
        bad = [None, "", "2027-02-30", "x@", -5, "Maybe", {}]
        if n % 2:
            section = rng.choice([k for k, v in doc.items() if isinstance(v, dict)])
            key = rng.choice(sorted(doc[section]))
            doc[section][key] = rng.choice(bad)
        rows = [v for v in doc.values() if isinstance(v, list) and v]
        if n % 3 == 0 and rows:  # a table row: where choices come from shared definitions
            item = rng.choice(rng.choice(rows))
            item[rng.choice(sorted(item))] = rng.choice(bad)
        assert form.is_valid(doc) == form.validator.is_valid(doc), doc


def test_inlined_references_keep_their_siblings():
    # The fast check inlines "$ref"s; a sibling that overlaps the definition must still apply.
    schema = {
        "$defs": {"short": {"type": "string", "maxLength": 3}},
        "properties": {"a": {"$ref": "#/$defs/short", "maxLength": 5, "title": "A"}},
    }
    check = compile_check(schema)
    assert check({"a": "abc"}) and not check({"a": "abcd"}) and not check({"a": 7})


def test_hostile_files_are_rejected_and_the_good_return_beside_them_is_collected(cycle):
    ws, paths = cycle
    _filled(cycle, "EH01", "audit", name="good.xlsx")
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><sst>&b;</sst>'
    )
    _rewrite_zip(
        paths[("SW02", "audit")],
        ws.returns_dir / "laughs.xlsx",
        lambda p: p.__setitem__("xl/sharedStrings.xml", laughs),
    )
    _rewrite_zip(
        paths[("SW02", "audit")],
        ws.returns_dir / "bomb.xlsx",
        lambda p: p.__setitem__("xl/worksheets/sheet2.xml", b"<" + bytes(40 << 20)),
    )
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptionInfo".encode("utf-16-le") + bytes(4000)
    (ws.returns_dir / "encrypted.xlsx").write_bytes(ole)
    far, _ = _filled(cycle, "ADV1", "audit", name="far.xlsx")
    wb = openpyxl.load_workbook(far)
    wb["About the team"].protection.sheet = False
    wb["About the team"].cell(1048576, 16384).value = "far away"
    wb.save(far)
    collect(ws)
    files = {f["path"]: f for f in _status(ws)["files"]}
    assert "could harm the reader" in files["laughs.xlsx"]["reason"]
    assert "far larger than a return" in files["bomb.xlsx"]["reason"]
    assert "password to open" in files["encrypted.xlsx"]["reason"]
    assert files["good.xlsx"]["outcome"] == files["far.xlsx"]["outcome"] == "accepted"
    assert _row(ws, "EH01", "audit")["status"] == _row(ws, "ADV1", "audit")["status"] == "valid"


def test_a_second_run_waits_then_says_clearly_that_one_is_running(workspace):
    from participation_xl.errors import BusyError
    from participation_xl.workspace import run_lock

    with (
        run_lock(workspace),
        pytest.raises(BusyError, match="Another collect or report is running"),
        run_lock(workspace, wait=0.3),
    ):
        pass


def test_a_workspace_on_a_network_share_gets_a_warning(workspace, monkeypatch):
    from participation_xl import collect as collect_module

    monkeypatch.setattr(collect_module, "_fs_type", lambda path: "cifs")
    summary = collect(workspace)
    assert any("network share" in w for w in summary.warnings)
    monkeypatch.setattr(collect_module, "_fs_type", lambda path: "ext4")
    assert collect(workspace).warnings == []


def test_collect_says_when_a_locked_report_was_written_beside_it(cycle, monkeypatch):
    ws, _ = cycle
    import participation_xl.outputs as outputs

    real = outputs.os.replace

    def locked(src, dst):
        if str(dst).endswith("register.xlsx"):
            raise PermissionError("open in Excel")
        return real(src, dst)

    monkeypatch.setattr(outputs.os, "replace", locked)
    result = CliRunner().invoke(main, ["-w", str(ws.root), "collect"])
    assert result.exit_code == 0, result.output
    assert "was locked (open in Excel?)" in result.output and "register (" in result.output
