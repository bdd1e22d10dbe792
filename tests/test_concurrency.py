"""Two collects and a report at the same time: each finishes or says one is running."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys

from participation_xl.generate import generate, issued_form
from participation_xl.sample import fill_workbook, sample_answers
from participation_xl.workspace import register_path


def test_two_collects_and_a_report_at_once(workspace):
    ws = workspace
    issued = generate(ws)
    for n, path in enumerate(issued):
        form = ws.pack.forms[issued_form(ws, path)[1]]
        fill_workbook(
            path,
            ws.returns_dir / f"{n} {path.stem}.xlsx",
            sample_answers(form, random.Random(n)),
            form,
        )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "participation_xl", "-w", str(ws.root), job],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for job in ("collect", "collect", "report")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 or "Another collect or report is running" in err, err[-2000:]
    db = sqlite3.connect(register_path(ws))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = db.execute("SELECT team_id, form, COUNT(*) FROM submissions GROUP BY team_id, form")
    assert sorted(rows) == sorted((*issued_form(ws, p), 1) for p in issued)
    db.close()
