"""Cross-year queries: declared in a form's layout ([[cross_year]]), checked when the pack
loads, and raised against the same team's current return of the latest earlier cycle in
the register. The end-to-end run through collect is tests/test_two_cycles.py."""

# The table of cases reads across, one case a line.
# ruff: noqa: E501

from __future__ import annotations

import pytest
from click.testing import CliRunner
from test_report import _doc, _submit

from participation_xl import load_pack
from participation_xl.crossyear import Previous
from participation_xl.errors import PackError
from participation_xl.messages import CATALOGUE, Code, Severity
from participation_xl.register import Register
from participation_xl.workspace import register_path


def _standards(ws, team: str = "ADV1", cycle: str | None = None, **ratings: str) -> dict:
    doc = _doc(ws, team, "six-standards", seed=2)
    for key, row in doc["standards"].items():
        row["rating"] = ratings.get(key, "Met")
        row["action"], row["owner"] = "Keep it up", "Manager"
    return doc | {"cycle": cycle or ws.cycle}


def _raised(ws, doc: dict, form: str = "six-standards", team: str = "ADV1") -> list:
    identity = {"team_id": team, "form": form, "cycle": ws.cycle}
    with Register(register_path(ws)) as reg:
        return Previous(reg, ws.pack).issues(identity, doc, [], "now.xlsx")


def test_the_built_in_pack_declares_its_cross_year_queries(pack):
    (fell,) = pack.forms["six-standards"].cross_year
    assert (fell.code, fell.kind, len(fell.paths)) == ("year.fell", "fell", 6)
    (emptied,) = pack.forms["audit"].cross_year
    assert (emptied.code, emptied.kind, emptied.table) == ("year.emptied", "emptied",
                                                           "you_said_we_did")  # fmt: skip
    for code in (Code.YEAR_FELL, Code.YEAR_EMPTIED):
        assert CATALOGUE[code].severity is Severity.QUERY and code in pack.explanations


def test_a_standard_rated_lower_than_last_cycle_is_a_query_at_its_cell(workspace):
    ws = workspace
    _submit(ws, "ADV1", "six-standards", _standards(ws, cycle="2025-26", delivery="Partially met"),
            cycle="2025-26", name="old.xlsx")  # fmt: skip
    now = _standards(ws, budget="Not met", delivery="Met", equality="surely")
    (query,) = _raised(ws, now)  # delivery rose; a word off the scale is never a rating
    budget = ws.pack.forms["six-standards"].input_of("standards.budget.rating")
    assert (query.code, query.path, query.sheet) == ("year.fell", "standards.budget.rating",
                                                     budget.sheet)  # fmt: skip
    assert (query.place.row, query.place.col) == (budget.row, budget.col)
    assert dict(query.values) == {"value": "Not met", "before": "Met", "cycle": "2025-26"}
    assert "2025-26" in query.message and query.severity is Severity.QUERY


def test_the_comparison_is_with_the_latest_earlier_cycle_present(workspace):
    ws = workspace
    _submit(ws, "ADV1", "six-standards", _standards(ws, cycle="2023-24"),
            cycle="2023-24", name="a.xlsx")  # fmt: skip
    _submit(ws, "ADV1", "six-standards", _standards(ws, cycle="2024-25", budget="Not met"),
            cycle="2024-25", name="b.xlsx")  # fmt: skip
    assert _raised(ws, _standards(ws, budget="Not met")) == []  # as it was in 2024-25
    assert [q.code for q in _raised(ws, _standards(ws, feedback="Partially met"))] == ["year.fell"]


def test_no_query_without_that_teams_return_last_cycle(workspace):
    ws = workspace
    assert _raised(ws, _standards(ws, budget="Not met")) == []  # no earlier cycle at all
    _submit(ws, "SW02", "six-standards", _standards(ws, "SW02", cycle="2025-26"),
            cycle="2025-26", name="other.xlsx")  # fmt: skip
    assert _raised(ws, _standards(ws, budget="Not met")) == []  # another team's return


def test_a_log_emptied_after_a_full_one_is_a_query(workspace):
    ws = workspace
    _submit(ws, "EH01", "audit", _doc(ws, "EH01", "audit", rows=3) | {"cycle": "2025-26"},
            cycle="2025-26", name="old.xlsx")  # fmt: skip
    full = _doc(ws, "EH01", "audit", rows=1)
    assert _raised(ws, full, "audit", "EH01") == []
    (query,) = _raised(ws, full | {"you_said_we_did": []}, "audit", "EH01")
    table = next(t for t in ws.pack.forms["audit"].tables if t.path == "you_said_we_did")
    assert (query.code, query.sheet, query.place.row) == ("year.emptied", table.sheet,
                                                          table.first_row)  # fmt: skip
    assert dict(query.values) == {"count": 3, "cycle": "2025-26"}


def test_the_previous_cycle_is_read_once_per_run(workspace):
    ws = workspace
    _submit(ws, "ADV1", "six-standards", _standards(ws, cycle="2025-26"),
            cycle="2025-26", name="old.xlsx")  # fmt: skip
    statements: list[str] = []
    identity = {"team_id": "ADV1", "form": "six-standards", "cycle": ws.cycle}
    with Register(register_path(ws)) as reg:
        reg.db.set_trace_callback(statements.append)
        previous = Previous(reg, ws.pack)
        for _ in range(5):
            assert len(previous.issues(identity, _standards(ws, budget="Not met"), [], "f")) == 1
        previous.issues({**identity, "form": "no-such-form"}, {}, [], "f")
    assert len([s for s in statements if "document" in s]) == 1


# --- the declaration, checked when the pack loads (and by `pack check`) ---------------------


def _declare(pack_dir, form: str, entry: str) -> None:
    path = pack_dir / "workbook_templates" / f"{form}.toml"
    path.write_text(path.read_text(encoding="utf-8") + f"\n[[cross_year]]\n{entry}\n")


BAD = [
    ("a rating off the scale",   "audit",         'code = "year.fell"\nkind = "fell"\nfield = "about.role"'),
    ("no such table",            "audit",         'code = "year.emptied"\nkind = "emptied"\ntable = "nothing"'),
    ("a code of another kind",   "audit",         'code = "year.fell"\nkind = "emptied"\ntable = "you_said_we_did"'),
    ("a pattern matching none",  "six-standards", 'code = "year.fell"\nkind = "fell"\nfield = "standards.*"'),
    ("a field for an emptied",   "audit",         'code = "year.emptied"\nkind = "emptied"\nfield = "about.role"'),
]  # fmt: skip


@pytest.mark.parametrize("why,form,entry", BAD, ids=[b[0] for b in BAD])
def test_a_cross_year_query_the_form_cannot_have_is_refused(pack_copy, why, form, entry):
    _declare(pack_copy, form, entry)
    with pytest.raises(PackError) as caught:
        load_pack(pack_copy)
    assert caught.value.code == "pack.cross_year"
    assert f"{form}.toml" in str(caught.value)
    result = CliRunner().invoke(__import__("participation_xl.cli").cli.main,
                                ["pack", "check", str(pack_copy)])  # fmt: skip
    assert result.exit_code == 2 and "Traceback" not in result.output


@pytest.mark.parametrize(
    "entry",
    [
        'code = "year.grew"\nkind = "grew"\ntable = "you_said_we_did"',
        'code = "year.fell"\nkind = "fell"\nfield = "standards.*.rating"\ntable = "x"',
        'code = "year.fell"\nkind = "fell"\nfields = "standards.*.rating"',
    ],
    ids=["an unknown kind", "both a field and a table", "a misspelt key"],
)
def test_a_cross_year_entry_of_the_wrong_shape_is_named_by_the_layout_check(pack_copy, entry):
    _declare(pack_copy, "six-standards", entry)
    with pytest.raises(PackError) as caught:
        load_pack(pack_copy)
    assert caught.value.code == "pack.layout" and "cross_year[1]" in str(caught.value)


def test_without_a_ratings_scale_a_fall_raises_nothing(pack_copy, workspace):
    path = pack_copy / "workbook_templates" / "pack.toml"
    text = path.read_text(encoding="utf-8")
    start, end = text.index("[report.ratings]"), text.index("[report.self_ratings]")
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    pack = load_pack(pack_copy)  # still loads: the reports leave the framework out
    (fell,) = pack.forms["six-standards"].cross_year
    assert len(fell.paths) == 6
    ws = workspace
    _submit(ws, "ADV1", "six-standards", _standards(ws, cycle="2025-26"),
            cycle="2025-26", name="old.xlsx")  # fmt: skip
    identity = {"team_id": "ADV1", "form": "six-standards", "cycle": ws.cycle}
    with Register(register_path(ws)) as reg:
        assert Previous(reg, pack).issues(identity, _standards(ws, budget="Not met"), [], "f") == []
