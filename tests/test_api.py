"""The Python API: the README's example runs as written, and every method gives what the
matching command gives (the command line is a shell over these same methods)."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import random
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import participation_xl
from participation_xl import (
    Collected,
    ConfigError,
    ParticipationError,
    ReviewError,
    Workspace,
    check_pack,
    run_demo,
    validate_returns,
)
from participation_xl.cli import main
from participation_xl.generate import issued_form
from participation_xl.register import Register
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.status import expected_returns
from participation_xl.workspace import register_path

DUE = dt.date(2027, 3, 31)
README = Path(__file__).resolve().parent.parent / "README.md"


def cli(*args: str, ws: Path | None = None, code: int = 0):
    argv = [*(["-w", str(ws)] if ws else []), *args]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == code, result.output
    return result


def _wrote(output: str) -> list[str]:
    """The file names a command said it wrote."""
    return sorted(Path(m).name for m in re.findall(r"^Wrote (/.*)$", output, re.M))


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    """The demo's workspace, made once through the API; tests work on copies of it."""
    root = tmp_path_factory.mktemp("demo") / "participation-demo"
    result = run_demo(root, libreoffice=False)
    assert isinstance(result.summary, Collected) and result.summary.reports
    return root


def _copy(demo_root: Path, tmp_path: Path, name: str = "participation-demo") -> Path:
    target = tmp_path / name
    shutil.copytree(demo_root, target, symlinks=True)  # file times kept: lateness too
    return target


@pytest.fixture
def demo(demo_root, tmp_path) -> Path:
    return _copy(demo_root, tmp_path)


@pytest.fixture
def returned(tmp_path) -> Path:
    """A new workspace with three returns in the shared folder, not yet collected."""
    ws = Workspace.create(tmp_path / "returned", "Test Council", "2026-27", DUE)
    issued = {issued_form(ws.settings, p): p for p in ws.generate().workbooks}
    for n, (team, form_id) in enumerate(sorted(issued)[:3]):
        form = ws.settings.pack.forms[form_id]
        answers = sample_answers(form, random.Random(n))
        if n == 1:
            answers.popitem()  # one invalid return
        out = ws.settings.returns_dir / f"{team} {form_id}.xlsx"
        fill_workbook(issued[(team, form_id)], out, answers, form)
    return ws.root


def _twins(root: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Two identical copies of a workspace: one for the command line, one for the API."""
    return _copy(root, tmp_path, "by-cli"), _copy(root, tmp_path, "by-api")


def _without_times(doc):
    """A status document with the review decision times taken out (they differ by run)."""
    text = re.sub(r'"at": "[^"]*"', '"at": ""', json.dumps(doc))
    return json.loads(text)


# --- the README ------------------------------------------------------------------------------


def _readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Scripting it in Python", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_runs_as_written(demo, monkeypatch, capsys):
    monkeypatch.chdir(demo.parent)
    exec(compile(_readme_example(), "README.md", "exec"), {"__name__": "__readme__"})
    said = capsys.readouterr().out.splitlines()
    now = Workspace.open(demo).status()
    valid = sum(t.status == "valid" for t in now.teams)
    assert said[0] == f"0 new file(s); {valid} valid returns"  # all collected by the demo
    chased = [
        f"{t.team_id} {t.form}: {t.status}{' (late)' if t.late else ''}"
        for t in now.teams
        if t.status != "valid" or t.late
    ]
    assert said[1:] == chased and any(": missing" in line for line in chased)
    assert (demo.parent / "returns.csv").read_text(encoding="utf-8").startswith("team_id,")
    team = now.team("EH01", "audit")
    assert team is not None and team.review is not None and team.review.state == "approved"


def test_the_package_exports_the_api_and_its_types():
    assert participation_xl.Workspace is Workspace
    for name in participation_xl.__all__:
        assert hasattr(participation_xl, name), name
    for name in ("Status", "TeamStatus", "Collected", "Generated", "Validation", "Decided"):
        assert name in participation_xl.__all__


# --- every method against its command --------------------------------------------------------


def test_create_makes_what_init_makes(tmp_path):
    cli(
        "init",
        str(tmp_path / "by-cli"),
        "--council",
        "C",
        "--cycle",
        "2026-27",
        "--due",
        "31/03/2027",
    )
    ws = Workspace.create(tmp_path / "by-api", "C", "2026-27", DUE)
    assert ws.root == (tmp_path / "by-api").resolve() and ws.due == DUE and ws.cycle == "2026-27"

    def shape(root: Path) -> list[str]:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*"))

    assert shape(tmp_path / "by-cli") == shape(ws.root)

    def config(root: Path) -> list[str]:
        lines = (root / "participation.toml").read_text(encoding="utf-8").splitlines()
        return [x for x in lines if not x.startswith("sheet_password")]

    assert config(tmp_path / "by-cli") == config(ws.root)
    with pytest.raises(ConfigError) as err:
        Workspace.create(tmp_path / "by-api", "C", "2026-27", DUE)
    assert err.value.code == "workspace.exists"


def test_generate_writes_what_the_command_writes(tmp_path):
    roots = []
    for name in ("by-cli", "by-api"):
        roots.append(Workspace.create(tmp_path / name, "C", "2026-27", DUE).root)
    said = cli("generate", "--team", "EH01", "--team", "ADV1", "--emails", ws=roots[0]).output
    done = Workspace.open(roots[1]).generate(teams=["EH01", "ADV1"], emails=True)
    assert f"Wrote {len(done.workbooks)} workbook(s) for {done.teams} team(s)" in said
    assert (
        f"Wrote {len(done.drafts)} draft email(s) in {done.drafts_dir}".replace("by-api", "by-cli")
        in said
    )
    for root in roots:
        assert (root / "outbox").is_dir()

    def outbox(root: Path) -> list[str]:
        return sorted(str(p.relative_to(root)) for p in (root / "outbox").rglob("*.*"))

    assert outbox(roots[0]) == outbox(roots[1])
    assert done.teams == 2 and done.warnings == [] and len(done.drafts) == 2
    assert Workspace.open(roots[1]).generate().drafts == []


def test_generate_takes_one_team_as_a_bare_id(tmp_path):
    ws = Workspace.create(tmp_path / "ws", "C", "2026-27", DUE)
    one = ws.generate(teams="EH01")
    assert one.teams == 1 and one.workbooks
    assert {issued_form(ws.settings, p)[0] for p in one.workbooks} == {"EH01"}


def test_collect_records_and_reports_what_the_command_does(returned, tmp_path):
    by_cli, by_api = _twins(returned, tmp_path)
    said = cli("collect", ws=by_cli).output
    seen: list[tuple[int, int]] = []
    done = Workspace.open(by_api).collect(progress=lambda n, total: seen.append((n, total)))
    s = done.seen
    assert (
        f"Read {sum(s.values())} new file(s): {s['accepted']} accepted, {s['rejected']} "
        f"rejected, {s['duplicate']} duplicate, {s['ignored']} ignored, {s['pending']} pending."
    ) in said
    st = done.standing
    assert (
        f"{st['expected']} returns expected; {st['valid']} valid, {st['invalid']} invalid" in said
    )
    assert _wrote(said) == sorted(p.name for p in done.reports) and done.report_error == ""
    assert seen[-1] == (3, 3)  # the progress callback heard the end of the run
    assert Workspace.open(by_cli).status().as_json() == Workspace.open(by_api).status().as_json()


def test_collect_without_report_and_with_recheck(returned, tmp_path):
    by_cli, by_api = _twins(returned, tmp_path)
    said = cli("collect", "--no-report", ws=by_cli).output
    done = Workspace.open(by_api).collect(report=False)
    assert _wrote(said) == [] and done.reports == []
    assert not list((by_api / "reports").iterdir())
    again = Workspace.open(by_api).collect(recheck=True, report=False)
    assert sum(again.seen.values()) == 0 and not again.again  # nothing rejected to recheck


def test_a_report_that_cannot_be_written_leaves_the_collect_done(returned, tmp_path):
    by_cli, by_api = _twins(returned, tmp_path)
    for root in (by_cli, by_api):
        shutil.rmtree(root / "reports")
        (root / "reports").write_text("in the way")
    said = cli("collect", ws=by_cli, code=2).output
    done = Workspace.open(by_api).collect()
    assert done.report_error and done.report_error.replace("by-api", "by-cli") in said
    assert done.seen["accepted"] == 3 and done.reports == []
    assert sum(t.status != "missing" for t in Workspace.open(by_api).status().teams) == 3


def test_status_is_what_status_json_prints(demo):
    ws = Workspace.open(demo)
    now = ws.status()
    assert now.as_json() == json.loads(cli("status", "--json", ws=demo).output)
    # The table's counts agree with the library's own view of each expected return.
    with Register.read_only(register_path(ws.settings)) as reg:
        expected = expected_returns(ws.settings, reg)
    assert len(expected) == len(now.teams)
    for r, t in zip(expected, now.teams, strict=True):
        assert (t.team_id, t.form, t.status, t.late, t.file) == (
            r.team.team_id,
            r.form,
            r.status,
            r.late,
            r.file,
        )
        cur = r.current
        assert (t.errors, t.queries) == ((cur.errors, cur.queries) if cur else (None, None))
        assert t.to_explain == (len(r.to_explain) if r.status == "valid" else 0)
        assert t.rejected_reason == (r.rejected.reason if r.status == "rejected" else "")
    table = cli("status", ws=demo).output
    for t in now.teams:
        assert re.search(rf"^{t.team_id} .* {re.escape(t.form)} +{t.status}", table, re.M)


def test_write_reports_writes_what_report_writes(demo, tmp_path):
    by_cli, by_api = _twins(demo, tmp_path)
    said = cli("report", ws=by_cli).output
    done = Workspace.open(by_api).write_reports()
    assert _wrote(said) == sorted(p.name for p in done.paths) and done.warnings == []


@pytest.mark.parametrize(("fmt", "include_invalid"), [("jsonl", False), ("csv", True)])
def test_export_gives_what_export_prints(demo, tmp_path, fmt, include_invalid):
    ws = Workspace.open(demo)
    args = ["export", "--format", fmt, *(["--all"] if include_invalid else [])]
    out = io.StringIO()
    done = ws.export(fmt, include_invalid, out)
    printed = cli(*args, ws=demo).stdout_bytes.decode("utf-8")  # .output makes \r\n \n
    assert out.getvalue() == printed and done.output is None
    cli(*args, "-o", str(tmp_path / "by-cli"), ws=demo)
    to_file = ws.export(fmt, include_invalid, tmp_path / "by-api")
    assert (tmp_path / "by-cli").read_bytes() == (tmp_path / "by-api").read_bytes()
    assert to_file.count == done.count > 0 and to_file.output == tmp_path / "by-api"
    with pytest.raises(ValueError, match="jsonl, csv") as err:
        ws.export("xml")
    assert isinstance(err.value, ParticipationError) and err.value.code == "export.format"


def test_review_decisions_are_the_commands(demo, tmp_path):
    by_cli, by_api = _twins(demo, tmp_path)
    cli("review", "approve", "EH01", "audit", "--note", "Good", ws=by_cli)
    cli("review", "return", "EH02", "audit", "--note", "Please add dates", ws=by_cli)
    cli("review", "return", "SW01", "audit", "--note", "Taken back", ws=by_cli)
    said = cli("review", "undo", "SW01", "audit", ws=by_cli).output
    ws = Workspace.open(by_api)
    approved = ws.approve("EH01", "audit", note="Good")
    sent = ws.send_back("EH02", "audit", "Please add dates")
    ws.send_back("SW01", "audit", "Taken back")
    undone = ws.undo("SW01", "audit")
    assert approved.review is not None and approved.review.word == "Approved"
    assert sent.review is not None and sent.review.state == "returned"
    assert undone.review is None and "no decision stands" in said
    assert _without_times(Workspace.open(by_cli).status().as_json()) == _without_times(
        ws.status().as_json()
    )
    with pytest.raises(ReviewError) as err:
        ws.undo("YS01", "audit")
    assert err.value.code == "review.no_submission"


def test_rebuild_rebuilds_as_the_command_does(demo, tmp_path):
    by_cli, by_api = _twins(demo, tmp_path)
    said = cli("rebuild", ws=by_cli).output
    done = Workspace.open(by_api).rebuild()
    assert f"{done.files} file(s) from {done.runs} collect run(s)" in said
    assert done.set_aside is not None and done.set_aside.is_file()
    assert Workspace.open(by_cli).status().as_json() == Workspace.open(by_api).status().as_json()


def test_validate_gives_what_validate_json_prints(demo, tmp_path, monkeypatch):
    files = sorted(str(p) for p in (demo / "returns").iterdir())
    ws = Workspace.open(demo)
    checked = ws.validate(files)
    result = cli("validate", "--json", *files, ws=demo, code=1)
    assert checked.as_json() == json.loads(result.output) and checked.signatures_checked
    assert {v.verdict for v in checked.files} >= {"valid", "invalid", "rejected"}
    monkeypatch.chdir(tmp_path)  # no workspace here or above: no signature to check
    outside = validate_returns(files)
    assert not outside.signatures_checked
    assert outside.as_json() == json.loads(cli("validate", "--json", *files, code=1).output)


def test_check_pack_finds_what_pack_check_finds(pack_copy, demo):
    good = check_pack()
    said = cli("pack", "check").output
    assert good.ok and f"{good.name} {good.version}: {len(good.forms)} form(s)" in said
    assert Workspace.open(demo).check_pack() == good
    schema = pack_copy / "schemas" / "audit.schema.json"
    data = json.loads(schema.read_text(encoding="utf-8"))
    data["properties"]["inclusion"]["properties"]["extra"] = {"type": "string"}
    schema.write_text(json.dumps(data), encoding="utf-8")
    bad = check_pack(pack_copy)
    result = cli("pack", "check", str(pack_copy), code=2)
    assert not bad.ok and [f"  - {p}" for p in bad.problems] == result.stderr.splitlines()[:-1]


def test_find_is_none_outside_a_workspace_and_open_says_what_to_do(demo, tmp_path):
    with contextlib.chdir(tmp_path):
        assert Workspace.find() is None
        with pytest.raises(ConfigError, match="participation-xl init"):
            Workspace.open()
    inner = demo / "reports"
    found = Workspace.find(inner)
    assert found is not None and found.root == demo.resolve()
    assert repr(found) == f"Workspace({str(demo.resolve())!r})"


def test_a_scripts_status_carries_the_issues_themselves(demo):
    """The API gives a script the one Issue type (its Code and Place), not the JSON's words."""
    from participation_xl.issues import Issue
    from participation_xl.messages import Code
    from participation_xl.place import Place

    now = Workspace.open(demo).status()
    found = [i for t in now.teams for i in t.issues]
    assert found and all(isinstance(i.issue, Issue) for i in found)
    assert all(isinstance(i.code, Code) and isinstance(i.issue.place, Place) for i in found)
    placed = [i for i in found if i.issue.place.cell]
    assert placed
    for i in placed:
        as_json = i.as_json()
        assert (as_json["sheet"], as_json["cell"]) == (i.issue.place.sheet, i.issue.place.cell)
