"""Kill collect at random points: the register stays sound and no return is ever lost."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile

import pytest

from participation_xl.generate import generate, issued_form
from participation_xl.pipeline import collect_and_report
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.workspace import register_path

RUNS = int(os.environ.get("PXL_KILL_RUNS", "50"))
COLLECT = (
    "import sys; from participation_xl import load_workspace; "
    "from participation_xl.pipeline import collect_and_report; "
    "collect_and_report(load_workspace(sys.argv[1]))"
)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _reports_whole(ws) -> None:
    for path in ws.reports_dir.rglob("*.xlsx"):
        if path.name.startswith("."):
            continue  # a temporary file that a killed run left: never read as a report
        with zipfile.ZipFile(path) as z:
            assert z.testzip() is None, path


@pytest.mark.slow
def test_killing_collect_at_random_points_loses_nothing(workspace):
    ws = workspace
    issued = {issued_form(ws, p): p for p in generate(ws)}
    keys = sorted(issued)
    rng = random.Random(2026)
    good: dict[str, str] = {}  # sha -> file name
    start = time.perf_counter()
    collect_and_report(ws)  # the time of a whole (empty) run, to spread the kills over
    budget = max(0.5, (time.perf_counter() - start) * 4)
    kills = integrity_failures = 0
    for run in range(RUNS):
        for n in range(2):  # two new returns per run, as they trickle in
            team, form = keys[(run * 2 + n) % len(keys)]
            answers = sample_answers(ws.pack.forms[form], random.Random(run * 10 + n))
            path = fill_workbook(
                issued[(team, form)],
                ws.returns_dir / f"{run:02d}-{n} {team} {form}.xlsx",
                answers,
                ws.pack.forms[form],
            )
            good[_sha(path)] = path.name
        before = {p.name: _sha(p) for p in ws.returns_dir.iterdir()}
        proc = subprocess.Popen(
            [sys.executable, "-c", COLLECT, str(ws.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0, budget))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        if register_path(ws).exists():
            db = sqlite3.connect(register_path(ws))
            if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                integrity_failures += 1
            db.close()
        _reports_whole(ws)
        assert {p.name: _sha(p) for p in ws.returns_dir.iterdir()} == before  # untouched
    collect_and_report(ws)  # the next run completes the job
    db = sqlite3.connect(register_path(ws))
    accepted = {r[0] for r in db.execute("SELECT sha256 FROM files WHERE outcome = 'accepted'")}
    submitted = {r[0] for r in db.execute("SELECT sha256 FROM submissions")}
    db.close()
    archived = {p.name.split(".")[0] for p in (ws.state_dir / "archive").rglob("*.xlsx")}
    lost = [
        name
        for sha, name in good.items()
        if not (sha in accepted and sha in submitted and sha in archived)
    ]
    figures = {
        "runs": RUNS,
        "kills": kills,
        "integrity_failures": integrity_failures,
        "lost": len(lost),
    }
    print("\nfault injection:", json.dumps(figures))
    assert integrity_failures == 0
    assert lost == []
    assert kills >= RUNS // 3, figures  # most runs really were interrupted
    _reports_whole(ws)
    assert not list((ws.state_dir / "archive").glob(".incoming.*"))  # swept by the last run
    assert not list(ws.reports_dir.rglob(".*.tmp"))
