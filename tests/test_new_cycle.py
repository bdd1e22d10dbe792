"""`new-cycle`: the next cycle starts in the same workspace and register.

The roster, pack, key and settings carry over (only participation.toml's cycle and due
change); the finished cycle's register rows stay; its outbox/ and reports/ move whole to
cycles/<old cycle>/, so no old feedback sits in the live reports/feedback and no file is
lost; a cycle not after the current one, a due date outside the cycle, or a cycle already
started is refused with its catalogue code (exit 2 on the command line), changing nothing.
"""

from __future__ import annotations

import datetime as dt
import random
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from participation_xl import Workspace
from participation_xl.cli import main
from participation_xl.cycle import kept_folder
from participation_xl.errors import ConfigError
from participation_xl.generate import generate
from participation_xl.messages import CATALOGUE
from participation_xl.pipeline import collect_and_report
from participation_xl.register import Register
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.workspace import CONFIG_NAME, register_path

NEXT, NEXT_DUE = "2027-28", dt.date(2028, 3, 31)


@pytest.fixture
def year_one(workspace):
    """A cycle with EH01's audit issued, returned with an error (so it has feedback) and
    collected, and its reports written."""
    (issued,) = generate(workspace, team_ids=["EH01"])
    form = workspace.pack.forms["audit"]
    answers = sample_answers(form, random.Random(3))
    answers["about"]["completed_by"] = None  # a required answer left blank: feedback
    fill_workbook(issued, workspace.returns_dir / "EH01 audit.xlsx", answers, form)
    done = collect_and_report(workspace)
    assert not done.report_error
    return workspace


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the workspace but the register (which a read may touch)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".participation" not in p.parts
    }


def test_new_cycle_carries_everything_over_and_keeps_the_old_cycle_apart(year_one):
    root = year_one.root
    config_before = tomllib.loads((root / CONFIG_NAME).read_text(encoding="utf-8"))
    key = (root / ".participation" / "secret.key").read_bytes()
    roster = year_one.roster_path.read_bytes()
    outbox, reports = _files(year_one.outbox), _files(year_one.reports_dir)
    assert any(f.startswith("feedback") for f in reports)  # there is old feedback to move

    done = Workspace.open(root).new_cycle(NEXT, NEXT_DUE)

    assert (done.previous, done.cycle, done.due) == ("2026-27", NEXT, NEXT_DUE)
    after = tomllib.loads((root / CONFIG_NAME).read_text(encoding="utf-8"))
    assert after == {**config_before, "cycle": NEXT, "due": NEXT_DUE.isoformat()}
    assert (root / ".participation" / "secret.key").read_bytes() == key
    assert year_one.roster_path.read_bytes() == roster
    # Nothing lost: the old outbox and reports, file for file, under cycles/2026-27/.
    kept = kept_folder(root, "2026-27")
    assert done.kept_in == kept
    assert _files(kept / "outbox") == outbox
    assert _files(kept / "reports") == reports
    # The live folders start empty: no old workbook or feedback beside the new cycle's.
    assert _files(root / "outbox") == set()
    assert _files(root / "reports") == set()
    # The earlier cycle stays in the register.
    with Register.read_only(register_path(year_one)) as reg:
        assert reg.cycles() == ["2026-27"]
        assert [s.team_id for s in reg.submissions(cycle="2026-27")] == ["EH01"]
    ws = Workspace.open(root)
    assert (ws.cycle, ws.due) == (NEXT, NEXT_DUE)
    assert ws.status().teams  # the new cycle's status reads the same register


def test_new_cycle_on_the_command_line(year_one):
    result = CliRunner().invoke(
        main, ["-w", str(year_one.root), "new-cycle", NEXT, "--due", "31/03/2028"]
    )
    assert result.exit_code == 0, result.output
    assert NEXT in result.output and str(kept_folder(year_one.root, "2026-27")) in result.output
    assert Workspace.open(year_one.root).cycle == NEXT


@pytest.mark.parametrize(
    ("cycle", "due", "code"),
    [
        ("2026-27", dt.date(2027, 3, 31), "cycle.not_after"),  # the current cycle
        ("2025-26", dt.date(2026, 3, 31), "cycle.not_after"),  # an earlier one
        (NEXT, dt.date(2027, 3, 31), "cycle.due_outside"),  # before the cycle starts
        (NEXT, dt.date(2028, 4, 1), "cycle.due_outside"),  # after it ends
        ("2027-29", NEXT_DUE, "config.cycle"),  # not a cycle at all
    ],
)
def test_a_cycle_that_cannot_start_is_refused_with_its_code(workspace, cycle, due, code):
    before = _snapshot(workspace.root)
    with pytest.raises(ConfigError) as caught:
        Workspace.open(workspace.root).new_cycle(cycle, due)
    assert caught.value.code == code and code in CATALOGUE
    assert _snapshot(workspace.root) == before  # nothing changed


def test_a_cycle_already_started_is_refused(year_one):
    root = year_one.root
    Workspace.open(root).new_cycle(NEXT, NEXT_DUE)
    # The coordinator puts the old cycle back by hand, then asks for the next one again.
    config = root / CONFIG_NAME
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace(f'cycle = "{NEXT}"', 'cycle = "2026-27"').replace(
            'due = "2028-03-31"', 'due = "2027-03-31"'
        ),
        encoding="utf-8",
    )
    before = _snapshot(root)
    with pytest.raises(ConfigError) as caught:
        Workspace.open(root).new_cycle(NEXT, NEXT_DUE)
    assert caught.value.code == "cycle.started"
    assert _snapshot(root) == before


def test_a_refusal_on_the_command_line_is_exit_2_with_the_message(workspace):
    result = CliRunner().invoke(
        main, ["-w", str(workspace.root), "new-cycle", "2026-27", "--due", "31/03/2027"]
    )
    assert result.exit_code == 2
    assert "is not after the current cycle 2026-27" in result.output
    assert "Traceback" not in result.output
