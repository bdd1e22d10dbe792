"""The register of Participation Promise signatories: across teams and cycles, one row per
person, valid returns only, plus the coordinator's signatories.csv."""

from __future__ import annotations

import datetime as dt

import pytest
from test_report import ON_TIME, _doc, _rows, _submit

from participation_xl.examine import issue
from participation_xl.report import write_reports

SIGNED = [
    {
        "signatory": "Ann Lee",
        "role": "Manager",
        "organisation": "Early Help",
        "date_signed": "2026-05-01",
    },
    {
        "signatory": "Bob Khan",
        "role": "Worker",
        "organisation": "Early Help",
        "date_signed": "2026-05-02",
    },
]
ERROR = issue("answer.required", "x.xlsx", "About", "C5", "Your name")


def _audit(ws, team, people, seed=1, cycle=None):
    doc = _doc(ws, team, "audit", seed=seed) | {"signatories": people}
    if cycle:
        doc["cycle"] = cycle
    return doc


def _register(ws):
    return {r["Name"]: r for r in _rows(ws.reports_dir / "register.xlsx", "Signatories")}


def test_one_row_per_person_across_teams_and_cycles(workspace):
    ws = workspace
    _submit(ws, "EH01", "audit", _audit(ws, "EH01", SIGNED))
    again = [SIGNED[0] | {"signatory": "  ann  LEE ", "organisation": "early help",
                          "role": "Head of service", "date_signed": "2026-06-01"}]  # fmt: skip
    _submit(ws, "SW02", "audit", _audit(ws, "SW02", again, seed=2), name="sw.xlsx")
    old = [SIGNED[1] | {"date_signed": "2025-05-02"}]
    _submit(ws, "EH01", "audit", _audit(ws, "EH01", old, cycle="2025-26"), cycle="2025-26",
            name="old.xlsx")  # fmt: skip
    write_reports(ws)
    rows = _register(ws)
    assert len(rows) == 2  # Ann Lee once, although two teams list her
    ann = rows["ann LEE"]  # the newest spelling, spaces tidied
    assert (ann["Role"], ann["Times listed"]) == ("Head of service", 2)
    assert ann["Date signed"] == dt.datetime(2026, 6, 1)
    bob = rows["Bob Khan"]
    assert (bob["Latest cycle seen"], bob["Times listed"]) == (ws.cycle, 2)
    assert bob["Signed up in the return of"] == "Early Help North"


def test_invalid_returns_add_no_one(workspace):
    ws = workspace
    _submit(ws, "EH01", "audit", _audit(ws, "EH01", SIGNED), [ERROR])
    write_reports(ws)
    assert list(_register(ws)) == ["None yet"]


def test_signatories_csv_is_merged_and_its_bad_rows_reported(workspace):
    ws = workspace
    _submit(ws, "EH01", "audit", _audit(ws, "EH01", SIGNED[:1]))
    (ws.root / "signatories.csv").write_text(
        "Name,Role,Organisation,Date signed\n"
        "Cat Jones,Councillor,Example Council,31/01/2027\n"
        "ANN LEE,Manager,Early  Help,\n"
        ",Nobody,Example Council,\n"
        "Dan Roe,Chair,Youth Forum,31/02/2027\n",
        encoding="utf-8",
    )
    write_reports(ws)
    rows = _register(ws)
    assert set(rows) == {"Cat Jones", "Ann Lee"}
    assert rows["Cat Jones"]["Date signed"] == dt.datetime(2027, 1, 31)
    assert rows["Cat Jones"]["Signed up in the return of"].endswith("(signatories.csv)")
    assert rows["Ann Lee"]["Times listed"] == 2
    issues = [r for r in _rows(ws.reports_dir / "register.xlsx", "Issues") if r["File"]]
    got = [(r["File"], r["Cell"], r["Code"]) for r in issues if r["File"] == "signatories.csv"]
    assert got == [
        ("signatories.csv", "A4", "signatories.blank"),
        ("signatories.csv", "D5", "signatories.not_a_date"),
    ]


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"who,when\nAnn,today\n", "signatories.missing_column"),
     (b"name,organisation\n\xff\xfeAnn,X\n", "signatories.unreadable")],
)  # fmt: skip
def test_an_unusable_signatories_csv_is_reported_not_fatal(workspace, content, code):
    ws = workspace
    _submit(ws, "EH01", "audit", _audit(ws, "EH01", SIGNED[:1]), received=ON_TIME)
    (ws.root / "signatories.csv").write_bytes(content)
    write_reports(ws)
    assert set(_register(ws)) == {"Ann Lee"}
    codes = [r["Code"] for r in _rows(ws.reports_dir / "register.xlsx", "Issues")]
    assert code in codes


def test_require_approval_governs_the_signatories_and_the_trend_too(workspace):
    """With [review] require_approval on, a valid return not yet approved adds no one and
    counts as no valid return in the Trend, as on the Dashboard; approving it counts it."""
    from click.testing import CliRunner

    from participation_xl.cli import main
    from participation_xl.workspace import load_workspace

    config = workspace.root / "participation.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("require_approval = false", "require_approval = true"))
    ws = load_workspace(workspace.root)
    _submit(ws, "EH01", "audit", _audit(ws, "EH01", SIGNED))
    old = _audit(ws, "EH01", [], cycle="2025-26")
    _submit(ws, "EH01", "audit", old, cycle="2025-26", name="old.xlsx")
    write_reports(ws)
    assert list(_register(ws)) == ["None yet"]
    trend = {r["Measure"]: r for r in _rows(ws.reports_dir / "compliance.xlsx", "Trend")}
    valid = next(r for m, r in trend.items() if m.endswith(": valid returns"))
    assert valid[f"{ws.cycle} so far"] == 0  # received, but not yet approved
    done = CliRunner().invoke(main, ["-w", str(ws.root), "review", "approve", "EH01", "audit"])
    assert done.exit_code == 0, done.output
    write_reports(ws)
    assert sorted(_register(ws)) == ["Ann Lee", "Bob Khan"]


def test_the_register_spans_cycles_after_the_workspace_moves_on(workspace):
    """In the second year, last year's signatories stay on the register beside this
    year's, each with the latest cycle that listed them."""
    from participation_xl.workspace import load_workspace

    _submit(workspace, "EH01", "audit", _audit(workspace, "EH01", SIGNED))
    config = workspace.root / "participation.toml"
    text = config.read_text(encoding="utf-8").replace('"2026-27"', '"2027-28"')
    config.write_text(text.replace('due = "2027-03-31"', 'due = "2028-03-31"'))
    ws = load_workspace(workspace.root)  # the second cycle (new-cycle does the same)
    assert ws.cycle == "2027-28"
    joined = [SIGNED[0] | {"date_signed": "2027-05-01"},
              {**SIGNED[1], "signatory": "Cara Dee", "date_signed": "2027-05-03"}]  # fmt: skip
    _submit(ws, "EH01", "audit", _audit(ws, "EH01", joined), name="new.xlsx")
    write_reports(ws)
    rows = _register(ws)
    assert sorted(rows) == ["Ann Lee", "Bob Khan", "Cara Dee"]
    seen = {n: (r["Latest cycle seen"], r["Times listed"]) for n, r in rows.items()}
    assert seen == {"Ann Lee": ("2027-28", 2), "Bob Khan": ("2026-27", 1),
                    "Cara Dee": ("2027-28", 1)}  # fmt: skip
