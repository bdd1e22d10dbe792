"""Proof that the template pack is data: whole cycles through the CLI on packs other than
the built-in one.

(a) A second pack, made from the built-in one as a council would edit it: the Six
    Standards review renamed (new form id and title), its scale worded differently, its
    framework named differently, and a sheet name with an apostrophe.
(b) The example pack shipped in examples/lundy: a small form of another shape (a Lundy
    model self-assessment), with its own scale, log, Instructions text and [report].

Each runs `pack check`, `generate`, filling as a team would, `collect`, `report` and
`export`, and the reports are checked against the pack's words and a recount of the export.
"""

# ruff: noqa: E501 (the table of pack.toml faults reads best one fault a line)

from __future__ import annotations

import json
import random
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from participation_xl.cli import main
from participation_xl.errors import PackError
from participation_xl.generate import outbox_path
from participation_xl.messages import Code
from participation_xl.pack import builtin_pack_dir, load_pack
from participation_xl.roster import read_roster, write_starter_roster
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.workspace import load_workspace

ROOT = Path(__file__).resolve().parent.parent
LUNDY = ROOT / "examples" / "lundy"
NEW_FORM = "service-review"
NEW_TITLE = "Service participation review"
NEW_FRAMEWORK = "Service Participation Standards"
SCALE = {"Met": "Fully in place", "Partially met": "Partly in place", "Not met": "Not in place"}
APOSTROPHE_SHEET = "Team's details"

ROSTER = [
    ("IN1", "Early Help North", "Early Help", "internal", "", "Sam Patel", "sam@example.org"),
    ("CO1", "Advocacy", "Advocacy", "commissioned", "Voice Ltd", "Jo Smith", "jo@example.org"),
    ("CO2", "Young Carers", "Youth", "commissioned", "Carers Ltd", "Eve Ward", "eve@example.org"),
    ("CO3", "Wellbeing", "Health", "commissioned", "Mind Ltd", "Raj Gill", "raj@example.org"),
]


def run(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def _second_pack(folder: Path) -> Path:
    """The built-in pack edited as data: the review renamed and re-worded."""
    src = builtin_pack_dir()
    for sub in ("schemas", "workbook_templates"):
        shutil.copytree(src / sub, folder / sub)
    old_schema = folder / "schemas" / "six-standards.schema.json"
    text = old_schema.read_text(encoding="utf-8")
    text = text.replace("Partially met", SCALE["Partially met"]).replace(
        "Not met", SCALE["Not met"]
    )
    text = text.replace('"Met"', f'"{SCALE["Met"]}"').replace("six-standards", NEW_FORM)
    schema = json.loads(text)
    schema["title"] = NEW_TITLE
    (folder / "schemas" / f"{NEW_FORM}.schema.json").write_text(json.dumps(schema, indent=1))
    old_schema.unlink()
    templates = folder / "workbook_templates"
    layout = (templates / "six-standards.toml").read_text(encoding="utf-8")
    layout = layout.replace('form = "six-standards"', f'form = "{NEW_FORM}"')
    layout = layout.replace("six-standards.schema.json", f"{NEW_FORM}.schema.json")
    layout = layout.replace('short_name = "Six Standards review"', 'short_name = "Service review"')
    layout = layout.replace('name = "Provider"', f'name = "{APOSTROPHE_SHEET}"')
    (templates / f"{NEW_FORM}.toml").write_text(layout, encoding="utf-8")
    (templates / "six-standards.toml").unlink()
    meta = (templates / "pack.toml").read_text(encoding="utf-8")
    meta = meta.replace('"six-standards"', f'"{NEW_FORM}"')
    meta = meta.replace('framework = "Six Standards"', f'framework = "{NEW_FRAMEWORK}"')
    for old, new in SCALE.items():
        meta = meta.replace(f'["{old}"]', f'["{new}"]')
    (templates / "pack.toml").write_text(meta, encoding="utf-8")
    shutil.rmtree(templates / "demo")  # the built-in demo's story names the old form
    return folder


def _workspace(tmp: Path, pack_dir: Path, roster: list[tuple[str, ...]]) -> Path:
    root = tmp / "ws"
    run("init", str(root), "--council", "Example Council", "--cycle", "2026-27",
        "--due", "31/03/2027")  # fmt: skip
    config = root / "participation.toml"
    text = config.read_text().replace('pack = ""', f"pack = {json.dumps(str(pack_dir))}")
    # Which forms go to which kind of team: the pack's own, as a council setting it up would.
    text = re.sub(r"^(internal|commissioned) = \[.*\]\n", "", text, flags=re.M)
    config.write_text(text)
    write_starter_roster(root / "teams.xlsx", roster)
    return root


def _fill(root: Path, edits: dict[tuple[str, str], Any]) -> None:
    """Every issued workbook filled and put in returns/, as each team would."""
    ws = load_workspace(root)
    rng = random.Random(14)
    for team in read_roster(ws.roster_path):
        for form_id in ws.forms_for(team.kind):
            form = ws.pack.forms[form_id]
            answers = sample_answers(form, rng, texts={})
            if (team.team_id, form_id) in edits:
                edits[(team.team_id, form_id)](answers)
            issued = outbox_path(ws, team, form_id)
            fill_workbook(issued, ws.returns_dir / f"{team.team_id} {form_id}.xlsx", answers, form)


def _cycle(root: Path, pack_dir: Path) -> list[dict[str, Any]]:
    """pack check, generate, (filled), collect, report, export: the exported documents."""
    run("pack", "check", str(pack_dir))
    run("-w", str(root), "collect")
    run("-w", str(root), "report")
    out = root / "export.jsonl"
    run("-w", str(root), "export", "--format", "jsonl", "-o", str(out))
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _table(path: Path, sheet: str, name: str) -> list[dict[str, Any]]:
    ws = openpyxl.load_workbook(path)[sheet]
    ref = ws.tables[name].ref
    rows = [[c.value for c in row] for row in ws[ref]]
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def _texts(path: Path, sheet: str) -> str:
    ws = openpyxl.load_workbook(path)[sheet]
    return " ".join(str(c.value) for row in ws.iter_rows() for c in row if c.value is not None)


# --- (a) a second pack: renamed form, reworded scale, an apostrophe in a sheet name ------


@pytest.fixture(scope="module")
def second(tmp_path_factory) -> tuple[Path, list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("second")
    pack_dir = _second_pack(tmp / "pack")
    root = _workspace(tmp, pack_dir, ROSTER)
    run("-w", str(root), "generate")

    def not_in_place_without_action(answers: dict[str, Any]) -> None:
        answers["standards"]["budget"] = {"rating": SCALE["Not met"]}

    _fill(root, {("CO3", NEW_FORM): not_in_place_without_action})
    return root, _cycle(root, pack_dir)


def test_the_second_pack_is_issued_under_its_new_form_and_sheet_names(second):
    root, _ = second
    ws = load_workspace(root)
    team = next(t for t in read_roster(ws.roster_path) if t.team_id == "CO1")
    wb = openpyxl.load_workbook(outbox_path(ws, team, NEW_FORM))
    assert APOSTROPHE_SHEET in wb.sheetnames
    assert wb["Instructions"]["A1"].value == NEW_TITLE


def test_the_compliance_standards_sheets_show_the_new_form_and_count_by_its_words(second):
    root, documents = second
    compliance = root / "reports" / "compliance.xlsx"
    assert _texts(compliance, "Dashboard").startswith(NEW_FRAMEWORK)
    assert "Service review" in _texts(compliance, "Matrix")
    ratings = load_pack(load_workspace(root).pack.dir).report.ratings
    assert ratings is not None
    overall = _table(compliance, "Dashboard", "StandardsOverall")
    reviews = [d for d in documents if d["form"] == NEW_FORM]
    assert len(reviews) == 2  # CO3's review is invalid: not exported, counted as such
    by_label = {ratings.label(k): k for k in reviews[0]["standards"]}
    for row in overall:
        key = by_label[row["Standard"]]
        recount = Counter(d["standards"][key]["rating"] for d in reviews)
        for word in SCALE.values():
            assert row[word] == recount[word], (row["Standard"], word)
        assert row["Invalid return"] == 1 and row["Services expected"] == 3
        assert "Met" not in row and "Not met" not in row  # the old words are gone


def test_the_exceptions_find_a_not_in_place_rating_without_an_action(second):
    root, _ = second
    rows = _table(root / "reports" / "compliance.xlsx", "Exceptions", "Exceptions")
    found = [
        (r["Team ID"], r["Form"], r["Standard"], r["Rating"])
        for r in rows
        if r["Exception"] == "No action plan"
    ]
    assert ("CO3", NEW_FORM, "Standard 6", SCALE["Not met"]) in found
    matrix = _table(root / "reports" / "compliance.xlsx", "Matrix", "Matrix")
    colours = openpyxl.load_workbook(root / "reports" / "compliance.xlsx")["Matrix"]
    fills = {c.value: c.fill.fgColor.rgb for row in colours.iter_rows() for c in row if c.value}
    assert fills.get(SCALE["Not met"], "").endswith("FFC7CE")  # red: the pack says not met
    assert any(SCALE["Met"] in r.values() for r in matrix)


def test_the_register_names_the_new_form(second):
    root, _ = second
    register = openpyxl.load_workbook(root / "reports" / "register.xlsx")
    assert "Six Standards" in register.sheetnames  # [report] sheets keeps the sheet's name
    returns = _table(root / "reports" / "register.xlsx", "Returns", "Returns")
    assert {r["Form"] for r in returns} == {"audit", NEW_FORM}


# --- the pack's [report] is checked against its forms ------------------------------------


# A table: what a council writes in pack.toml, the code pack check answers, and the word it
# names. Each would otherwise break the reports silently (a scale word no rating can take
# counts nothing as met; a label or self-rating field that names nothing shows nothing).
PACK_TOML_FAULTS = [
    # old                                      new                                   code                         named
    ('form = "six-standards"\ngroup',           'form = "nope"\ngroup',                Code.PACK_META_NO_FORM,      "no form 'nope'"),
    ('field = "rating"              #',         'field = "score"  #',                 Code.PACK_META_NOT_A_FIELD,  "standards.feedback.score"),
    ('table = "you_said_we_did"',               'table = "said"',                     Code.PACK_META_NOT_A_TABLE,  "'said' is not a table"),
    ('organisation = "organisation", date',     'organisation = "org", date',         Code.PACK_META_NOT_A_FIELD,  "signatories.org"),
    ("by {due}",                                "by {deadline}",                      Code.PACK_META_PLACEHOLDER,  "{deadline}"),
    ('met = ["Met"]',                           'met = ["Fully met"]',                Code.PACK_META_RATING_WORD,  "'Fully met'"),
    ('partly_met = ["Partially met"]',          'partly_met = ["Partly"]',            Code.PACK_META_RATING_WORD,  "partly_met holds 'Partly'"),
    ('labels = { feedback',                     'labels = { nope = "X", feedback',    Code.PACK_META_LABEL_ROW,    "'nope'"),
    ('groups = ["promises", "rights"]\nfield = "rating"', 'groups = ["promises", "rights"]\nfield = "ratingz"', Code.PACK_META_NOT_A_FIELD, ".ratingz"),
    ("[report.ratings]\nform",                 "[report.ratings]\nshape = 1\nform",   Code.PACK_META_SHAPE,        "report.ratings"),
    ("[report.ratings]\nform",                 "[report.ratings\nform",               Code.PACK_META_TOML,         "TOML"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "code", "named"), PACK_TOML_FAULTS)
def test_pack_check_names_a_report_or_instructions_part_that_points_at_nothing(
    pack_copy, old, new, code, named
):
    meta = pack_copy / "workbook_templates" / "pack.toml"
    text = meta.read_text(encoding="utf-8")
    assert old in text
    meta.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(PackError) as raised:
        load_pack(pack_copy)
    assert raised.value.code == code
    result = CliRunner().invoke(main, ["pack", "check", str(pack_copy)])
    assert result.exit_code == 2, result.output
    assert "pack.toml" in result.output and named in result.output
    assert "Fix pack.toml" in result.output and "Fix the layout" not in result.output


def test_a_pack_without_a_report_section_still_gets_reports(tmp_path, pack_copy):
    meta = pack_copy / "workbook_templates" / "pack.toml"
    text = meta.read_text(encoding="utf-8")
    meta.write_text(text[: text.index("[report]")], encoding="utf-8")
    root = _workspace(tmp_path, pack_copy, ROSTER[:2])
    run("-w", str(root), "generate")
    _fill(root, {})
    documents = _cycle(root, pack_copy)
    assert len(documents) == 3
    register = openpyxl.load_workbook(root / "reports" / "register.xlsx")
    assert {"Overview", "Returns", "Issues"} <= set(register.sheetnames)
    assert "Participation audit" in register.sheetnames  # each form's answers, by its name
    assert "Signatories" not in register.sheetnames  # not declared: not shown
    compliance = openpyxl.load_workbook(root / "reports" / "compliance.xlsx")
    assert {"Dashboard", "Matrix", "Exceptions"} <= set(compliance.sheetnames)


# --- (b) the example pack: a Lundy model self-assessment ------------------------------------


LUNDY_ROSTER = [
    ("YF1", "Youth Forum", "Participation", "internal", "", "Sam Patel", "sam@example.org"),
    ("CC1", "Children in Care Council", "Social Work", "internal", "", "Jo Smith", "jo@x.org"),
    ("ADV", "Advocacy", "Advocacy", "commissioned", "Voice Ltd", "Eve Ward", "eve@example.org"),
]


@pytest.fixture(scope="module")
def lundy(tmp_path_factory) -> tuple[Path, list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("lundy")
    root = _workspace(tmp, LUNDY, LUNDY_ROSTER)
    run("-w", str(root), "generate")
    pack = load_pack(LUNDY)
    ratings = pack.report.ratings
    assert ratings is not None

    def not_yet_without_action(answers: dict[str, Any]) -> None:
        answers[ratings.group]["voice"] = {ratings.rating: ratings.not_met[0]}

    _fill(root, {("ADV", ratings.form): not_yet_without_action})
    return root, _cycle(root, LUNDY)


def test_the_example_pack_runs_a_whole_cycle(lundy):
    root, documents = lundy
    pack = load_pack(LUNDY)
    assert pack.report.ratings is not None
    form = pack.report.ratings.form
    assert {d["form"] for d in documents} == {form}
    assert len(documents) == 2  # ADV's return is invalid
    compliance = root / "reports" / "compliance.xlsx"
    assert _texts(compliance, "Dashboard").startswith(pack.report.ratings.framework)
    overall = _table(compliance, "Dashboard", _overall_table(compliance))
    scale = pack.forms[form].input_of(f"{pack.report.ratings.group}.space.rating").field.choices
    for row in overall:
        key = {pack.report.ratings.label(k): k for k in documents[0]["lundy"]}[row[_first(row)]]
        recount = Counter(d["lundy"][key]["rating"] for d in documents)
        assert [row[w] for w in scale] == [recount[w] for w in scale]
    exceptions = _table(compliance, "Exceptions", "Exceptions")
    assert any(r["Team ID"] == "ADV" and r["Exception"] == "No action plan" for r in exceptions)


def test_the_example_pack_has_its_own_instructions_and_log(lundy):
    root, _ = lundy
    ws = load_workspace(root)
    pack = ws.pack
    team = read_roster(ws.roster_path)[0]
    form_id = ws.forms_for(team.kind)[0]
    wb = openpyxl.load_workbook(outbox_path(ws, team, form_id))
    text = " ".join(str(c.value) for row in wb["Instructions"].iter_rows() for c in row if c.value)
    for section in pack.instructions:
        assert section.heading in text
    assert "Fill in the cells marked ✎" not in text  # not the built-in pack's how-to
    register = openpyxl.load_workbook(root / "reports" / "register.xlsx")
    for log in pack.report.logs:
        assert log.sheet in register.sheetnames


def _overall_table(path: Path) -> str:
    names = openpyxl.load_workbook(path)["Dashboard"].tables.keys()
    return next(n for n in names if n.endswith("Overall"))


def _first(row: dict[str, Any]) -> str:
    return next(iter(row))


def test_the_readme_says_how_a_council_adds_a_form():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "examples/lundy" in readme
    assert re.search(r"pack check", readme)
